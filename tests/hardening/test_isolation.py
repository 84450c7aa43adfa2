"""Nothing one test leaves behind can hold up the next one.

The PostgreSQL tests share one database per run (per worker), emptied by a TRUNCATE
before each test. A transaction left open by an earlier test (a background write, a
server it left running) would make that TRUNCATE wait for a lock until the statement
timeout, and the event loop that could finish the transaction is blocked meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import models.platform.users as users
from models.platform.db import create_engine
from models.platform.users import flush_last_use
from tests.conftest import reset_postgres
from tests.factories import SLOTS, Factory
from tests.hardening.test_read_path import last_used


def test_a_connection_left_holding_a_lock_does_not_hold_up_the_next_test(
    postgres_url: str,
) -> None:
    loop = asyncio.new_event_loop()
    engine = create_engine(postgres_url)

    async def hold() -> Any:
        connection = await engine.connect()
        await connection.begin()
        await connection.execute(text("LOCK TABLE providers IN ROW EXCLUSIVE MODE"))
        return connection

    held = loop.run_until_complete(hold())
    try:
        # As between two tests: the loop of the lock's holder is not running.
        started = time.monotonic()
        leftovers = asyncio.run(reset_postgres(postgres_url))
        assert time.monotonic() - started < 5
        assert any("LOCK TABLE providers" in leftover for leftover in leftovers), leftovers
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(held.close())
        with contextlib.suppress(Exception):
            loop.run_until_complete(engine.dispose())
        loop.close()


async def test_shutdown_waits_for_a_last_use_write_under_way(
    client: httpx.AsyncClient,
    factory: Factory,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's shutdown (and a test's teardown) flushes last uses before the engine
    goes: a write the timer already began ends first, so no transaction outlives it."""
    await flush_last_use()  # nothing noted earlier in this event loop is pending
    token = await factory.token()
    steps: list[str] = []
    write = users._write_uses

    async def slow_write(engine: Any, rows: list[dict[str, object]]) -> None:
        steps.append("began")
        await asyncio.sleep(0.3)
        await write(engine, rows)
        steps.append("ended")

    monkeypatch.setattr(users, "_write_uses", slow_write)
    monkeypatch.setattr(users, "LAST_USE_FLUSH_SECONDS", 0.0)
    assert (await client.get(SLOTS, headers={"X-User-Token": token})).status_code == 200
    for _ in range(200):
        if steps:
            break
        await asyncio.sleep(0.01)
    assert steps == ["began"]
    await flush_last_use()
    assert steps == ["began", "ended"]
    assert await last_used(session, token) is not None
