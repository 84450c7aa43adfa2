"""Input hygiene of the REST face, applied before any route reads the body.

The body has already been read (and capped) by the application's request pipeline.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from common import json_nesting
from common.asgi import buffered_receive
from common.text_checks import invalid_text_field, is_invalid_text


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


# JSON escapes of a NUL or of a surrogate: only a body holding one needs a closer look.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def invalid_text_in(scope: Scope, body: bytes | None) -> str | None:
    """The field of a query parameter or JSON body value holding text no field accepts."""
    query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
    field = next((name for name, value in query if is_invalid_text(name + value)), None)
    if field is None and body and _SUSPECT_ESCAPE.search(body):
        try:
            # The stdlib decoder, as the routes use: orjson refuses lone surrogates.
            field = invalid_text_field(json_nesting.loads(body))
        except ValueError:
            field = None  # not JSON (or nested too deep): the route refuses it
    return field


async def invalid_text_of(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The field holding text no field accepts (NUL, a lone surrogate), and a ``receive``."""
    body = None
    if _has_body(scope):
        body = await read_body(receive, 2**62) or b""
        receive = buffered_receive(body, receive)
    return invalid_text_in(scope, body), receive


def invalid_field_body(field: str) -> bytes:
    return orjson.dumps({"errors": {field: ["is invalid"]}})
