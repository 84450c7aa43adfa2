"""``clinic-availability sync-calendars``: two processes at once over one database sync each
due calendar once (a lease each), and a failing calendar's slots stay closed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.calendars import secret_box
from models.integrations.external_calendars import (
    ExternalCalendarInput,
    create_external_calendar,
)
from models.platform.calendar_tables import ExternalCalendar
from tests.calendars.conftest import SECRET_KEYS
from tests.calendars.helpers import open_ids, stamp, vcalendar
from tests.calendars.servers import Feeds, feed_server
from tests.factories import future

pytestmark = pytest.mark.xdist_group("calendar-sync-process")

STARTED = b"calendar syncs started"
PASSWORD = "PASSWORD-sync-process-77aa"


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with feed_server() as server:
        yield server


def _start(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "DEBUG",
        "CALENDAR_SECRET_KEYS": SECRET_KEYS,
        "CALENDAR_ALLOW_PRIVATE_TARGETS": "true",
        "CALENDAR_SYNC_TIMEOUT_SECONDS": "5",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clinic_availability.cli",
                "sync-calendars",
                "--poll-seconds",
                "0.2",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_two_sync_processes_read_each_calendar_once(
    database_url: str, settings, client, auth, factory, session, feeds, tmp_path: Path
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slots = [(await factory.slot(provider, start=start + timedelta(hours=n))).id for n in range(3)]
    for n in range(3):
        feeds.bodies[f"/p{n}.ics"] = vcalendar(
            "\n".join(
                [
                    "BEGIN:VEVENT",
                    f"UID:e{n}",
                    "DTSTAMP:20260101T000000Z",
                    f"DTSTART:{stamp(start + timedelta(hours=n))}",
                    f"DTEND:{stamp(start + timedelta(hours=n, minutes=30))}",
                    "END:VEVENT",
                ]
            )
        )
    ids = []
    for n in range(3):
        created = await create_external_calendar(
            session,
            provider_id,
            ExternalCalendarInput(
                kind="ical", url=feeds.url(f"/p{n}.ics"), username="u", password=PASSWORD
            ),
            box=secret_box(settings),
            allow_private=True,
        )
        ids.append(created.id)

    logs = [tmp_path / "sync-a.log", tmp_path / "sync-b.log"]
    processes = [_start(database_url, log) for log in logs]
    try:
        deadline = time.monotonic() + 60  # a hang guard only
        while True:
            await session.rollback()
            synced = (
                await session.execute(
                    select(ExternalCalendar.id).where(ExternalCalendar.last_synced_at.is_not(None))
                )
            ).scalars()
            if sorted(synced) == ids:
                break
            for process, log in zip(processes, logs, strict=True):
                assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
            await asyncio.sleep(0.2)
        # Each calendar was read once (300 s interval), though both processes ran rounds.
        await asyncio.sleep(1.0)
        read = sorted(path for path, _ in feeds.requests)
        assert read == ["/p0.ics", "/p1.ics", "/p2.ics"], [log.read_text()[-2000:] for log in logs]
        assert await open_ids(client, auth, slots) == []
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for log in logs:
        written: Any = log.read_text()
        assert STARTED.decode() in written
        assert PASSWORD not in written and "/p0.ics" not in written
