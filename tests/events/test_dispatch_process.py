"""``clinic-availability dispatch-webhooks``: real processes deliver what the API commits.

The API here runs without a dispatcher (as servers with WEBHOOK_DISPATCHER=false do);
dispatcher processes are started, stopped (or killed) and started again, two at once at
the end, over one SQLite file or one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.settings import Settings
from models.platform.event_tables import WebhookDelivery
from tests.events.receiver import Receiver, running, signature_valid, wait_for
from tests.events.test_webhooks import HOOKS, _create_slots

STARTED = b"webhook dispatcher started"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        webhook_allow_private_targets=True,
        webhook_dispatcher=False,
        recurrence_extend_interval_seconds=0,
    )


class Dispatcher:
    def __init__(self, database_url: str, log: Path) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_TIMEOUT_SECONDS": "2",
            "WEBHOOK_BACKOFF_SECONDS": "0.5",
        }
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clinic_availability.cli", "dispatch-webhooks"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def started(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while STARTED not in self.log.read_bytes():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the dispatcher did not start"
            await asyncio.sleep(0.1)

    async def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(how)
        return await asyncio.to_thread(self.process.wait, 30)

    def kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def _until_all_delivered(session: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        await session.rollback()
        states = set((await session.execute(select(WebhookDelivery.status).distinct())).scalars())
        if states == {"delivered"}:
            return
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_every_event_arrives_across_a_dispatcher_restart(
    database_url: str,
    client: Any,
    auth: Any,
    factory: Any,
    session: Any,
    tmp_path: Path,
    stop: signal.Signals,
):
    provider = await factory.provider()
    sent: dict[int, float] = {}
    dispatchers: list[Dispatcher] = []

    def start(name: str) -> Dispatcher:
        dispatcher = Dispatcher(database_url, tmp_path / f"dispatcher-{name}.log")
        dispatchers.append(dispatcher)
        return dispatcher

    # Answers take a moment, so the first process has sends in flight when it stops.
    async with running(Receiver(delay=0.2)) as receiver:
        reply = await client.post(
            HOOKS, json={"webhook": {"url": receiver.url, "events": ["*"]}}, headers=auth
        )
        assert reply.status_code == 201, reply.text
        secret = reply.json()["secret"]
        try:
            first = start("first")
            await first.started()
            await _create_slots(client, auth, provider.id, 0, 40, sent)
            await wait_for(lambda: len(receiver.unique_ids()) >= 8, within=30)
            code = await first.stop(stop)
            assert code == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
            # Committed while no dispatcher runs: delivered by the next ones.
            await _create_slots(client, auth, provider.id, 40, 20, sent)
            second, third = start("second"), start("third")
            await second.started()
            await third.started()
            await _create_slots(client, auth, provider.id, 60, 20, sent)
            await wait_for(lambda: len(receiver.unique_ids()) >= 80, within=60)
            # A killed process's claims wait out their lease (9 s), then go out again.
            await _until_all_delivered(session, within=60)
            for dispatcher in (second, third):
                assert await dispatcher.stop() == 0
        finally:
            for dispatcher in dispatchers:
                dispatcher.kill_if_running()
    await session.rollback()
    rows = list(
        (await session.execute(select(WebhookDelivery).execution_options(populate_existing=True)))
        .scalars()
        .all()
    )
    received = receiver.unique_ids()
    assert {item.json["data"]["slot_id"] for item in receiver.got} == set(sent)
    assert received == {str(row.event_id) for row in rows} and len(received) == 80
    assert all(signature_valid(secret, item) for item in receiver.got)
    # Every answered send was stored before its process stopped; two processes at once
    # never sent one attempt twice. Only a killed process's sends in flight went out again.
    assert {row.status for row in rows} == {"delivered"}
    if stop == signal.SIGTERM:
        assert len(receiver.got) == 80
        assert all(row.attempts == 1 for row in rows)
    for dispatcher in dispatchers:
        log = dispatcher.log.read_bytes()
        # Started and stopped lines only: no delivery's URL, no failure.
        assert STARTED in log and receiver.url.encode() not in log
        assert b"Traceback" not in log and b"WARNING" not in log
