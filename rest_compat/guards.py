"""The request guards around every route, installed in order."""

from __future__ import annotations

from fastapi import FastAPI

from common.settings import Settings
from rest_compat.errors import UnexpectedErrorMiddleware
from rest_compat.idempotency import IdempotencyMiddleware
from rest_compat.limits import BodySizeLimitMiddleware, InvalidTextGuard


def install_request_guards(app: FastAPI, settings: Settings, path_prefix: str) -> None:
    """Body cap, idempotency keys and the last-resort error reply, in that order inwards.

    Added before the request log middleware so that one stays outermost.
    """
    app.add_middleware(
        IdempotencyMiddleware,
        sessionmaker=app.state.sessionmaker,
        path_prefix=path_prefix,
        max_body_bytes=settings.max_body_bytes,
        token_cache_seconds=settings.token_cache_seconds,
    )
    app.add_middleware(InvalidTextGuard, path_prefix=path_prefix)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrorMiddleware)
