"""A body over the cap, sent to a real server on loopback: every client reads its 413.

Over ASGI in process there is no socket to reset; here 30 clients at once send bodies
over 1 MiB (declared and streamed), and each must get the reply, not a reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from common.settings import Settings
from tests.factories import SLOTS
from tests.ops.test_serve import free_port

CLIENTS = 30


@pytest.fixture
async def live_base(app: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
        assert not task.done(), "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_thirty_clients_read_their_413(
    live_base: str, auth: dict[str, str], settings: Settings
) -> None:
    big = b'{"available_slot": {"notes": "' + b"x" * (2 * settings.max_body_bytes) + b'"}}'

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 4):
            yield b" " * 65536

    async def one(index: int) -> tuple[int, Any]:
        path = "/graphql" if index % 3 == 0 else SLOTS
        body: Any = streamed() if index % 2 else big
        async with httpx.AsyncClient(base_url=live_base, timeout=30) as http:
            response = await http.post(
                path, content=body, headers={**auth, "content-type": "application/json"}
            )
            return response.status_code, response.json()

    results = await asyncio.gather(*(one(index) for index in range(CLIENTS)))
    assert results == [(413, {"errors": "Request body too large"})] * CLIENTS
    # The server still answers afterwards.
    async with httpx.AsyncClient(base_url=live_base) as http:
        assert (await http.get(SLOTS, headers=auth)).status_code == 200
