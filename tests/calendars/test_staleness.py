"""The staleness bound of external busy time holds whatever goes wrong with a read: a
server that trickles its answer, a process that dies mid-read, a slow calendar beside
others. Each failure shows in ``last_error`` / ``consecutive_failures`` and, three in a
row, as the ``external_calendar.failing`` event; busy time stays as last read."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from clinic_availability.calendar_syncs import calendar_syncs
from common.calendars import secret_box
from models.integrations import calendar_sync
from models.integrations.external_calendars import (
    ExternalCalendarInput,
    create_external_calendar,
)
from models.platform.calendar_tables import ExternalCalendar
from models.platform.event_tables import AvailabilityEvent
from models.platform.timeutil import now_utc
from tests.calendars.helpers import open_ids, stamp, vcalendar
from tests.calendars.servers import Feeds, feed_server
from tests.factories import future


@dataclass
class Trickle:
    """Answers 200 with a large Content-Length, then one byte every half second (each
    well inside a request's timeout) until stopped or 20 s have passed."""

    base: str = ""
    started: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    state = Trickle()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.started += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(40):
                if state.stop.wait(0.5):
                    return
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with feed_server() as server:
        yield server


def _busy(start: Any) -> bytes:
    return vcalendar(
        "\n".join(
            [
                "BEGIN:VEVENT",
                "UID:busy",
                "DTSTAMP:20260101T000000Z",
                f"DTSTART:{stamp(start)}",
                f"DTEND:{stamp(start + timedelta(hours=1))}",
                "END:VEVENT",
            ]
        )
    )


async def _calendar(session, settings, provider_id: int, url: str) -> int:
    created = await create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(kind="ical", url=url),
        box=secret_box(settings),
        allow_private=True,
    )
    return int(created.id)


async def _stored(session, calendar_id: int) -> Any:
    await session.rollback()
    return await session.get(ExternalCalendar, calendar_id, populate_existing=True)


async def _failing_events(session) -> list[int | None]:
    await session.rollback()
    rows = await session.execute(
        select(AvailabilityEvent.external_calendar_id).where(
            AvailabilityEvent.type == "external_calendar.failing"
        )
    )
    return list(rows.scalars())


async def test_a_trickling_answer_is_a_timeout_within_the_lease(
    settings, factory, session, trickle
):
    provider_id = (await factory.provider()).id
    calendar_id = await _calendar(session, settings, provider_id, trickle.url("/slow.ics"))
    options = calendar_sync.SyncOptions(allow_private=True, timeout_seconds=1.0)
    assert await calendar_sync.sync_calendar(
        session, calendar_id, box=secret_box(settings), options=options, owner="t"
    )
    stored = await _stored(session, calendar_id)
    assert trickle.started == 1
    assert (stored.last_error, stored.consecutive_failures) == ("timeout", 1)
    assert stored.lease_owner is None and stored.last_synced_at is None


async def test_reads_that_never_finish_count_as_failures_and_are_announced(
    settings, client, auth, factory, session, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slot = (await factory.slot(provider, start=start)).id
    feeds.bodies["/cal.ics"] = _busy(start)
    calendar_id = await _calendar(session, settings, provider_id, feeds.url("/cal.ics"))
    box, options = secret_box(settings), calendar_sync.SyncOptions(allow_private=True)
    moment = now_utc()
    assert await calendar_sync.sync_calendar(
        session, calendar_id, box=box, options=options, owner="first", now=moment
    )
    assert await open_ids(client, auth, [slot]) == []
    good = await _stored(session, calendar_id)
    last_good = good.last_synced_at

    # Three processes in a row take the calendar and die before storing anything.
    step = timedelta(seconds=options.lease_seconds + 1)
    for n in range(1, 4):
        taken = await calendar_sync.claim(
            session,
            calendar_id,
            owner=f"dies-{n}",
            options=options,
            due_only=False,
            now=moment + step * n,
        )
        assert taken is not None
    # The fourth finds the third's lease run out: three reads that never finished.
    fourth = await calendar_sync.claim(
        session, calendar_id, owner="fourth", options=options, due_only=False, now=moment + step * 4
    )
    assert fourth is not None
    stored = await _stored(session, calendar_id)
    assert stored.consecutive_failures == 3
    assert stored.last_error == calendar_sync.ABANDONED
    assert stored.last_synced_at == last_good
    assert await _failing_events(session) == [calendar_id]
    assert await open_ids(client, auth, [slot]) == []  # busy time as last read

    # The fourth one dies too: counted, announced no second time. Then a read works.
    assert await calendar_sync.sync_calendar(
        session, calendar_id, box=box, options=options, owner="fifth", now=moment + step * 5
    )
    healed = await _stored(session, calendar_id)
    assert (healed.last_error, healed.consecutive_failures) == (None, 0)
    assert await _failing_events(session) == [calendar_id]


async def test_the_next_read_is_due_an_interval_after_the_last_one_started(
    settings, factory, session, feeds
):
    provider_id = (await factory.provider()).id
    feeds.bodies["/cal.ics"] = _busy(future(30))
    calendar_id = await _calendar(session, settings, provider_id, feeds.url("/cal.ics"))
    options = calendar_sync.SyncOptions(allow_private=True)
    began = now_utc() - timedelta(seconds=100)
    assert await calendar_sync.sync_calendar(
        session, calendar_id, box=secret_box(settings), options=options, owner="t", now=began
    )
    stored = await _stored(session, calendar_id)
    due = stored.next_sync_at.replace(tzinfo=None)
    expected = (began + timedelta(seconds=stored.sync_interval_seconds)).replace(tzinfo=None)
    assert abs(due - expected) < timedelta(seconds=1)


async def test_a_slow_calendar_does_not_hold_back_the_others(
    app, settings, factory, session, feeds, trickle
):
    provider_id = (await factory.provider()).id
    slow = await _calendar(session, settings, provider_id, trickle.url("/slow.ics"))
    running = settings.model_copy(
        update={
            "calendar_sync": True,
            "calendar_sync_timeout_seconds": 5.0,
            "calendar_sync_concurrency": 2,
        }
    )
    async with calendar_syncs(app.state.sessionmaker, running, poll=0.05):
        deadline = asyncio.get_running_loop().time() + 30  # a hang guard only
        while trickle.started == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        # Connected while the slow read is under way: read on the next poll, not after it.
        feeds.bodies["/quick.ics"] = _busy(future(30))
        quick = await _calendar(session, settings, provider_id, feeds.url("/quick.ics"))
        while (await _stored(session, quick)).last_synced_at is None:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        held = await _stored(session, slow)
        assert held.lease_owner is not None and held.last_attempt_at is None
    # Shutdown cut the slow read short and gave its lease back: no failure counted.
    released = await _stored(session, slow)
    assert released.lease_owner is None and released.consecutive_failures == 0
