"""A webhook receiver on loopback that answers every delivery 500 (``--failing-webhook``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench.load import Request, request_once

HOST = "127.0.0.1"
_REFUSAL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class FailingReceiver:
    def __init__(self) -> None:
        self.deliveries = 0

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            self.deliveries += 1
            writer.write(_REFUSAL)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def failing_receiver() -> AsyncIterator[tuple[FailingReceiver, str]]:
    receiver = FailingReceiver()
    server = await asyncio.start_server(receiver._answer, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield receiver, f"http://{HOST}:{port}/hook"
    finally:
        server.close()
        await server.wait_closed()


async def register(port: int, token: str, url: str) -> None:
    """A webhook for every event, pointing at ``url``, through the API itself."""
    body = b'{"webhook": {"url": "%s", "events": ["*"]}}' % url.encode()
    status, reply = await request_once(
        HOST,
        port,
        Request("POST", "/v1/admin/clinic/availability/webhooks", body),
        {"X-User-Token": token},
    )
    if status != 201:
        raise RuntimeError(f"registering the webhook answered {status}: {reply[:200]!r}")
