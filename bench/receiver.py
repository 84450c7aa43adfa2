"""A webhook receiver on loopback that answers every delivery 500 (``--failing-webhook``).

It runs in a process of its own: answering a thousand deliveries in the bench's event
loop would delay the load generator's own clock, and so the latencies it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from bench.load import Request, request_once

HOST = "127.0.0.1"
_REFUSAL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
START_TIMEOUT = 30.0


class FailingReceiver:
    """The receiving process, seen from the bench: how many deliveries it refused."""

    def __init__(self, counter: Synchronized[int]) -> None:
        self._counter = counter

    @property
    def deliveries(self) -> int:
        return int(self._counter.value)


async def _answer(
    counter: Synchronized[int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
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
        with counter.get_lock():
            counter.value += 1
        writer.write(_REFUSAL)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _serve(counter: Synchronized[int], ports: Any) -> None:
    async def main() -> None:
        server = await asyncio.start_server(
            lambda reader, writer: _answer(counter, reader, writer), HOST, 0
        )
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@asynccontextmanager
async def failing_receiver() -> AsyncIterator[tuple[FailingReceiver, str]]:
    context = multiprocessing.get_context("spawn")
    counter: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
    ports = context.Queue()
    process = context.Process(target=_serve, args=(counter, ports), daemon=True)
    process.start()
    try:
        port = await asyncio.to_thread(ports.get, True, START_TIMEOUT)
        yield FailingReceiver(counter), f"http://{HOST}:{port}/hook"
    finally:
        process.terminate()
        await asyncio.to_thread(process.join, 10)


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
