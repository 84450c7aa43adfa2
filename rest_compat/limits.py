"""Input hygiene of the REST face, applied before any route reads the body.

The body has already been read (and capped) by the application's request pipeline.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.types import Message, Receive, Scope, Send

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


async def nul_field_of(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The field holding a NUL character (query or JSON body), and a ``receive`` to go on."""
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
    return field, receive


def invalid_field_body(field: str) -> bytes:
    return orjson.dumps({"errors": {field: ["is invalid"]}})
