"""Simultaneous writes through a real server: the database, not luck, keeps slots apart."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from clinic_availability.app import create_app
from common.settings import Settings
from tests.factories import SLOTS, Factory, future, iso

CLIENTS = 50
# PostgreSQL to themselves: a burst of connections, not a queue behind other tests.
pytestmark = [pytest.mark.slow, pytest.mark.alone]


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, in a thread with its own event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, backlog=CLIENTS * 2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


async def fire(
    requests: list[tuple[str, str, dict[str, Any]]], token: str, url: str
) -> list[httpx.Response]:
    """Sends all requests at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        gate = asyncio.Event()

        async def one(method: str, path: str, payload: dict[str, Any]) -> httpx.Response:
            await gate.wait()
            return await http.request(method, path, json=payload, headers={"X-User-Token": token})

        tasks = [asyncio.create_task(one(*request)) for request in requests]
        await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(*tasks))


async def test_simultaneous_overlapping_creates_leave_one_slot(
    server_url: str, factory: Factory, db_count
):
    provider_id = (await factory.provider()).id
    token = await factory.token()
    start = future(72)
    requests = [
        (
            "POST",
            SLOTS,
            {
                "available_slot": {
                    "provider_id": provider_id,
                    "start_time": iso(start + timedelta(minutes=index)),
                    "end_time": iso(start + timedelta(minutes=index + 60)),
                }
            },
        )
        for index in range(CLIENTS)
    ]

    began = time.monotonic()
    responses = await fire(requests, token, server_url)
    elapsed = time.monotonic() - began

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: CLIENTS - 1}, statuses
    winner = next(r.json() for r in responses if r.status_code == 201)
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert refused["errors"] == "Time slot conflicts with existing availability"
        assert winner["id"] in [clash["id"] for clash in refused["conflicts"]]
    assert await db_count("available_slots") == 1
    assert elapsed < 30, elapsed


async def test_simultaneous_moves_onto_one_time_leave_one_there(
    server_url: str, factory: Factory, db_count
):
    provider = await factory.provider()
    provider_id = provider.id
    token = await factory.token()
    start = future(72)
    slot_ids = [
        (await factory.slot(provider, start=start + timedelta(hours=2 * index))).id
        for index in range(1, 21)
    ]
    target = {"start_time": iso(start), "end_time": iso(start + timedelta(hours=1))}
    requests = [("PUT", f"{SLOTS}/{slot_id}", {"available_slot": target}) for slot_id in slot_ids]

    responses = await fire(requests, token, server_url)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: len(slot_ids) - 1}, statuses
    where = f"provider_id = {provider_id} AND start_time < '{iso(start + timedelta(hours=1))}'"
    assert await db_count("available_slots") == len(slot_ids)
    assert await db_count("available_slots", where.replace("T", " ").replace(".000Z", "")) == 1
