"""Input hygiene of the REST face, applied before any route reads the body.

The body has already been read (and capped) by the application's request pipeline.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.text_checks import nul_field


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


def _has_body(scope: Scope) -> bool:
    for name, _value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return True
    return scope.get("method") not in ("GET", "HEAD", "OPTIONS")


def _invalid_field_body(field: str) -> bytes:
    return orjson.dumps({"errors": {field: ["is invalid"]}})


class NulCharacterGuard:
    """422 ``is invalid`` for a NUL character in a JSON body or a query parameter."""

    def __init__(self, app: ASGIApp, *, path_prefix: str) -> None:
        self.app = app
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
        field = next((name for name, value in query if "\x00" in name + value), None)
        if field is None and _has_body(scope):
            body = await read_body(receive, 2**62) or b""
            receive = buffered_receive(body, receive)
            if b"\\u0000" in body.lower():
                try:
                    field = nul_field(orjson.loads(body))
                except orjson.JSONDecodeError:
                    field = None
        if field is not None:
            await send_json(send, 422, _invalid_field_body(field), [])
            return
        await self.app(scope, receive, send)
