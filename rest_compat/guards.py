"""The REST face's one layer of request checks, in front of its routes only."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings
from rest_compat.errors import authentication_refusal, domain_error_response
from rest_compat.idempotency import IdempotencyMiddleware
from rest_compat.limits import invalid_field_body, invalid_text_of, send_json


class RestGuards:
    """Text no field accepts (NUL, a lone surrogate) is a 422; then ``Idempotency-Key``.

    Other paths pass straight through. The body cap, request id, log, metrics and the
    last-resort error reply are the application's request pipeline, outside this layer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        path_prefix: str,
        max_body_bytes: int,
        token_cache_seconds: float,
    ) -> None:
        self.app = app
        self.path_prefix = path_prefix
        self.idempotency = IdempotencyMiddleware(
            app,
            sessionmaker=sessionmaker,
            path_prefix=path_prefix,
            max_body_bytes=max_body_bytes,
            token_cache_seconds=token_cache_seconds,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        field, receive = await invalid_text_of(scope, receive)
        if field is not None:
            # After the token check, as every 422.
            refusal = await authentication_refusal(Request(scope, receive))
            if refusal is not None:
                await domain_error_response(refusal)(scope, receive, send)
            else:
                await send_json(send, 422, invalid_field_body(field), [])
            return
        await self.idempotency(scope, receive, send)


def install_request_guards(app: FastAPI, settings: Settings, path_prefix: str) -> None:
    app.add_middleware(
        RestGuards,
        sessionmaker=app.state.sessionmaker,
        path_prefix=path_prefix,
        max_body_bytes=settings.max_body_bytes,
        token_cache_seconds=settings.token_cache_seconds,
    )
