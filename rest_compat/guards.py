"""The request guards around every route, installed in order."""

from __future__ import annotations

from fastapi import FastAPI

from common.settings import Settings
from rest_compat.idempotency import IdempotencyMiddleware
from rest_compat.limits import NulCharacterGuard


def install_request_guards(app: FastAPI, settings: Settings, path_prefix: str) -> None:
    """The NUL-character guard, then idempotency keys, inwards (REST paths only).

    The body cap, request id, log, metrics and last-resort error reply are the
    application's request pipeline, outside these.
    """
    app.add_middleware(
        IdempotencyMiddleware,
        sessionmaker=app.state.sessionmaker,
        path_prefix=path_prefix,
        max_body_bytes=settings.max_body_bytes,
        token_cache_seconds=settings.token_cache_seconds,
    )
    app.add_middleware(NulCharacterGuard, path_prefix=path_prefix)
