"""``Idempotency-Key`` on every POST of the REST face.

A retry with the same key and body gets the first reply again (``Idempotent-Replayed:
true``) and writes nothing; the same key with another body is a 422; keys last 24 hours,
per user. See ``models.platform.idempotency`` for why a retry can never write twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.asgi import buffered_receive
from common.tokens import token_of
from models.platform import idempotency as keys
from models.platform.errors import DomainError
from models.platform.users import authenticate
from rest_compat.limits import read_body, send_json

logger = logging.getLogger("clinic_availability.idempotency")

HEADER = b"idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
# Reply headers a replay repeats; the rest (dates, request ids) belong to each reply.
KEPT_HEADERS = frozenset({"content-type", "location"})
# How long a retry waits for the first request with its key to finish.
WAIT_FOR_FIRST_SECONDS = 5.0
PURGE_EVERY_SECONDS = 600.0

MISMATCH_BODY = orjson.dumps({"errors": {"idempotency_key": [keys.MISMATCH_MESSAGE]}})
INVALID_KEY_BODY = orjson.dumps({"errors": {"idempotency_key": [keys.INVALID_KEY_MESSAGE]}})
IN_PROGRESS_BODY = orjson.dumps({"errors": keys.IN_PROGRESS_MESSAGE})
LOST_REPLY_BODY = orjson.dumps({"errors": keys.REPLY_LOST_MESSAGE})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class _CapturedReply:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))

    def kept_headers(self) -> dict[str, str]:
        return {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in self.headers
            if name.decode("latin-1").lower() in KEPT_HEADERS
        }

    def stored_body(self) -> bytes:
        """The body a replay repeats: a secret shown once (``no-store``) is left out."""
        shown_once = any(
            name.lower() == b"cache-control" and b"no-store" in value
            for name, value in self.headers
        )
        if not shown_once:
            return bytes(self.body)
        try:
            document = orjson.loads(bytes(self.body))
        except orjson.JSONDecodeError:
            return b""
        if isinstance(document, dict):
            document.pop("secret", None)
        return orjson.dumps(document)

    async def replay_to(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": bytes(self.body)})


class IdempotencyMiddleware:
    """Reserve the key, run the request once, store its reply; replay it for retries."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        path_prefix: str,
        max_body_bytes: int,
        token_cache_seconds: float = 0.0,
    ) -> None:
        self.app = app
        self.sessionmaker = sessionmaker
        self.path_prefix = path_prefix
        self.max_body_bytes = max_body_bytes
        self.token_cache_seconds = token_cache_seconds
        self._last_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" else None
        if (
            key is None
            or scope.get("method") != "POST"
            or not str(scope.get("path", "")).startswith(self.path_prefix)
        ):
            await self.app(scope, receive, send)
            return
        if not keys.valid_key(key):
            await send_json(send, 422, INVALID_KEY_BODY, [])
            return
        body = await read_body(receive, self.max_body_bytes) or b""
        replay_receive = buffered_receive(body, receive)
        user_id = await self._user_id(scope)
        if user_id is None:
            # Not an admin: the route answers the contract's 401/403 itself.
            await self.app(scope, replay_receive, send)
            return
        fingerprint = keys.request_fingerprint(
            "POST",
            str(scope.get("path", "")),
            bytes(scope.get("query_string", b"")).decode("latin-1"),
            body,
        )
        outcome = await self._reserve(user_id, key, str(scope["path"]), fingerprint)
        if isinstance(outcome, keys.Reserved):
            await self._run(outcome.id, scope, replay_receive, send)
        elif isinstance(outcome, keys.Replay):
            headers = [(k.encode(), v.encode()) for k, v in outcome.headers.items()]
            headers.append((REPLAYED_HEADER.encode(), b"true"))
            await send(
                {"type": "http.response.start", "status": outcome.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": outcome.body})
        elif isinstance(outcome, keys.Mismatch):
            await send_json(send, 422, MISMATCH_BODY, [])
        elif isinstance(outcome, keys.ReplyLost):
            await send_json(send, 409, LOST_REPLY_BODY, [])
        else:
            await send_json(send, 409, IN_PROGRESS_BODY, [(b"retry-after", b"1")])

    async def _user_id(self, scope: Scope) -> int | None:
        token = token_of(_header(scope, b"x-user-token"), _header(scope, b"authorization"))
        async with self.sessionmaker() as session:
            try:
                principal = await authenticate(
                    session, token, cache_seconds=self.token_cache_seconds
                )
            except DomainError:
                return None
        return principal.user_id

    async def _reserve(self, user_id: int, key: str, path: str, fingerprint: str) -> keys.Outcome:
        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        async with self.sessionmaker() as session:
            await self._purge_now_and_then(session)
            while True:
                outcome = await keys.reserve(
                    session,
                    user_id=user_id,
                    key=key,
                    method="POST",
                    path=path,
                    request_hash=fingerprint,
                )
                waiting = isinstance(outcome, keys.InProgress)
                if not waiting or time.monotonic() >= deadline:
                    return outcome
                await asyncio.sleep(0.05)

    async def _purge_now_and_then(self, session: AsyncSession) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        purged = await keys.purge_expired(session)
        if purged:
            logger.info("purged expired idempotency keys", extra={"fields": {"count": purged}})

    async def _run(self, reservation_id: int, scope: Scope, receive: Receive, send: Send) -> None:
        reply = _CapturedReply()
        token = keys.active_reservation.set(reservation_id)
        try:
            await self.app(scope, receive, reply.send)
        except BaseException:
            await self._settle(reservation_id, None)
            raise
        finally:
            keys.active_reservation.reset(token)
        await self._settle(reservation_id, reply)
        await reply.replay_to(send)

    async def _settle(self, reservation_id: int, reply: _CapturedReply | None) -> None:
        """Store the reply; after a failure that changed nothing, free the key instead."""
        try:
            async with self.sessionmaker() as session:
                if reply is not None and (
                    reply.status < 500 or await keys.was_changed(session, reservation_id)
                ):
                    await keys.complete(
                        session,
                        reservation_id,
                        status=reply.status,
                        body=reply.stored_body(),
                        headers=reply.kept_headers(),
                    )
                else:
                    await keys.release(session, reservation_id)
        except Exception as exc:  # the reply itself stands; a retry will learn the rest
            logger.warning(
                "could not settle an idempotency key",
                extra={"fields": {"reservation_id": reservation_id, "exc": type(exc).__name__}},
            )


def document_idempotency_header(app: FastAPI, path_prefix: str) -> None:
    """Declare the optional ``Idempotency-Key`` header on every POST in the OpenAPI document."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        for path, operations in schema.get("paths", {}).items():
            post = operations.get("post")
            if post is None or not path.startswith(path_prefix):
                continue
            parameters = post.setdefault("parameters", [])
            if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                parameters.append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": (
                            "Any unique string (at most 255 printable ASCII characters). A "
                            "retry with the same key and body replays the first reply "
                            "(header Idempotent-Replayed: true) and writes nothing; the same "
                            "key with another body is a 422. Keys expire after 24 hours."
                        ),
                        "schema": {"type": "string", "maxLength": keys.MAX_KEY_LENGTH},
                    }
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
