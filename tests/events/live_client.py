"""A graphql-transport-ws client and an in-loop server for the subscription tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets

SUBSCRIPTION = """
subscription Live($providerId: Int, $after: String, $startDate: Date, $endDate: Date) {
  availabilityChanged(providerId: $providerId, after: $after, startDate: $startDate,
                      endDate: $endDate) {
    eventId type occurredAt providerId slotId slot { id available }
  }
}
"""


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The application under uvicorn on a loopback port (lifespan included); its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def live_socket(host: str, payload: dict[str, Any] | None) -> AsyncIterator[Any]:
    async with websockets.connect(
        f"ws://{host}/graphql", subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        yield socket


async def acked(socket: Any) -> None:
    message = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert message == {"type": "connection_ack"}, message


async def subscribe(socket: Any, ident: str = "1", **variables: Any) -> None:
    message = {"query": SUBSCRIPTION, "variables": variables}
    await socket.send(json.dumps({"id": ident, "type": "subscribe", "payload": message}))


async def next_events(socket: Any, count: int, within: float = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while len(found) < count:
            message = json.loads(await socket.recv())
            assert message["type"] == "next", message
            found.append(message["payload"]["data"]["availabilityChanged"])
    return found
