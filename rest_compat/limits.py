"""Request body size cap and input hygiene, applied before any route reads the body."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.text_checks import invalid_text_field, is_invalid_text
from rest_compat.errors import _authentication_refusal

TOO_LARGE_BODY = orjson.dumps({"errors": "Request body too large"})


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def buffered_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodySizeLimitMiddleware:
    """413 for a body over ``max_bytes`` (declared or streamed); the route never sees it.

    The body is read here in full (it is small by then), so no route can be made to
    buffer an unbounded stream.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_json(send, 413, TOO_LARGE_BODY, [(b"connection", b"close")])
            return
        if declared == 0 or (declared is None and not _has_body(scope)):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.max_bytes)
        if body is None:
            await send_json(send, 413, TOO_LARGE_BODY, [(b"connection", b"close")])
            return
        await self.app(scope, buffered_receive(body, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_body(scope: Scope) -> bool:
    for name, _value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
    return scope.get("method") not in ("GET", "HEAD", "OPTIONS")


def _invalid_field_body(field: str) -> bytes:
    return orjson.dumps({"errors": {field: ["is invalid"]}})


# JSON escapes of a NUL or of a surrogate: only a body holding one needs a closer look.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def invalid_text_in(scope: Scope, body: bytes | None) -> str | None:
    """The field of a query parameter or JSON body value holding text no field accepts."""
    query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
    field = next((name for name, value in query if is_invalid_text(name + value)), None)
    if field is None and body and _SUSPECT_ESCAPE.search(body):
        try:
            # The stdlib decoder, as the routes use: orjson refuses lone surrogates.
            field = invalid_text_field(json.loads(body))
        except ValueError:
            field = None  # not JSON: the route refuses it
    return field


class InvalidTextGuard:
    """422 ``is invalid`` on its field for text no field accepts (NUL, a lone surrogate)
    in a JSON body or a query parameter; after the token check, as every 422."""

    def __init__(self, app: ASGIApp, *, path_prefix: str) -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        body = None
        if _has_body(scope):
            body = await read_body(receive, 2**62) or b""
            receive = buffered_receive(body, receive)
        field = invalid_text_in(scope, body)
        if field is None:
            await self.app(scope, receive, send)
            return
        refusal = await _authentication_refusal(Request(scope, receive))
        if refusal is not None:
            await send_json(send, refusal.status, orjson.dumps(refusal.body()), [])
            return
        await send_json(send, 422, _invalid_field_body(field), [])
