"""A provider's calendar on a real CalDAV server (Radicale, started by the tests on a free
loopback port): events created, moved, recurring with exceptions and deleted there close
and reopen the slots here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import caldav
import pytest

from tests.calendars.helpers import calendars_url, connect, local, open_ids, stamp, sync
from tests.calendars.servers import CALDAV_PASSWORD, CALDAV_USER, Radicale, radicale
from tests.factories import future

pytestmark = pytest.mark.xdist_group("radicale")

SUMMARY = "SUMMARY-c2d9-consultation-with-a-named-patient"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with radicale(tmp_path_factory.mktemp("radicale")) as running:
        yield running


def _calendar(server: Radicale, name: str) -> Any:
    client = caldav.DAVClient(  # type: ignore[operator]
        url=server.base + "/", username=CALDAV_USER, password=CALDAV_PASSWORD
    )
    return client.principal().make_calendar(name=name, cal_id=name)


def _vevent(uid: str, start: datetime, end: datetime, *extra: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Test//Radicale//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{stamp(start)}",
            f"DTEND:{stamp(end)}",
            f"SUMMARY:{SUMMARY}",
            *extra,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def _recurring_with_exceptions(uid: str, first: date) -> str:
    """Daily at 15:00 UTC three times; the second removed, the third moved to 17:00."""

    def at(offset: int, hour: int) -> datetime:
        return datetime.combine(first + timedelta(days=offset), time(hour), tzinfo=UTC)

    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Test//Radicale//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{stamp(at(0, 15))}",
            f"DTEND:{stamp(at(0, 16))}",
            "RRULE:FREQ=DAILY;COUNT=3",
            f"EXDATE:{stamp(at(1, 15))}",
            f"SUMMARY:{SUMMARY}",
            "END:VEVENT",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"RECURRENCE-ID:{stamp(at(2, 15))}",
            f"DTSTART:{stamp(at(2, 17))}",
            f"DTEND:{stamp(at(2, 18))}",
            f"SUMMARY:{SUMMARY}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


async def test_caldav_events_close_and_reopen_slots(client, auth, factory, server):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(48)
    first = (start + timedelta(days=1)).date()

    async def slot(moment: datetime) -> int:
        return (await factory.slot(provider, start=moment)).id

    here = await slot(start)
    there = await slot(start + timedelta(hours=3))
    daily = [
        await slot(datetime.combine(first + timedelta(days=offset), time(hour), tzinfo=UTC))
        for offset, hour in ((0, 15), (1, 15), (2, 15), (2, 17))
    ]
    every = [here, there, *daily]
    remote = _calendar(server, f"work-{uuid.uuid4().hex[:12]}")

    calendar = await connect(
        client,
        auth,
        provider_id,
        kind="caldav",
        url=str(remote.url),
        username=CALDAV_USER,
        password=CALDAV_PASSWORD,
        name="Hospital",
    )
    assert calendar["url"] == str(remote.url) and "password" not in calendar
    empty = await sync(client, auth, provider_id, calendar["id"])
    assert (empty["status"], empty["blocked_slot_ids"]) == ("ok", [])

    # Created there: its slot closes here.
    meeting = remote.save_event(_vevent("meeting-1", start, start + timedelta(hours=1)))
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == [here]

    # Moved there: the old slot reopens, the new one closes.
    later = start + timedelta(hours=3)
    meeting.data = _vevent("meeting-1", later, later + timedelta(hours=1), "SEQUENCE:1")
    meeting.save()
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == [there]
    assert here in await open_ids(client, auth, [here])

    # A recurring event with an excluded and a moved occurrence, expanded here.
    series = remote.save_event(_recurring_with_exceptions("daily-1", first))
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == [there, daily[0], daily[3]]
    assert await open_ids(client, auth, every) == [here, daily[1], daily[2]]

    # Nothing changed there: the collection's ctag says so, the busy time stays.
    again = await sync(client, auth, provider_id, calendar["id"])
    assert again["blocked_slot_ids"] == synced["blocked_slot_ids"]

    # Deleted there: every slot reopens.
    meeting.delete()
    series.delete()
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == [] and synced["last_error"] is None
    assert await open_ids(client, auth, every) == every


async def test_caldav_wrong_password_is_reported_not_shown(client, auth, factory, server):
    provider_id = (await factory.provider()).id
    remote = _calendar(server, f"denied-{uuid.uuid4().hex[:12]}")
    wrong = "not-the-app-token-9d2e"
    calendar = await connect(
        client,
        auth,
        provider_id,
        kind="caldav",
        url=str(remote.url),
        username=CALDAV_USER,
        password=wrong,
    )
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["status"] == "failing"
    assert synced["last_error"] == "CalDAV: authorization failed"
    listed = await client.get(calendars_url(provider_id), headers=auth)
    assert wrong not in listed.text and listed.headers["x-total-count"] == "1"


def test_floating_times_read_in_the_providers_zone():
    """A floating time (no zone) is the provider's wall clock (used for all-day events too)."""
    from zoneinfo import ZoneInfo

    from models.integrations.calendar_busy import busy_intervals

    moment = datetime(2030, 7, 1, 9, 0)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:f\r\n"
        f"DTSTAMP:20260101T000000Z\r\nDTSTART:{local(moment)}\r\n"
        f"DTEND:{local(moment + timedelta(hours=1))}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    found = busy_intervals(
        [text],
        datetime(2030, 6, 30, tzinfo=UTC),
        datetime(2030, 7, 3, tzinfo=UTC),
        ZoneInfo("America/Chicago"),
    )
    assert found == [(datetime(2030, 7, 1, 14, tzinfo=UTC), datetime(2030, 7, 1, 15, tzinfo=UTC))]


def test_rdate_adds_occurrences_and_exdate_removes_them():
    from zoneinfo import ZoneInfo

    from models.integrations.calendar_busy import busy_intervals

    text = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:r\r\n"
        b"DTSTAMP:20260101T000000Z\r\nDTSTART:20300701T090000Z\r\nDTEND:20300701T100000Z\r\n"
        b"RRULE:FREQ=DAILY;COUNT=2\r\nRDATE:20300705T090000Z,20300706T090000Z\r\n"
        b"EXDATE:20300706T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    found = busy_intervals(
        [text],
        datetime(2030, 6, 30, tzinfo=UTC),
        datetime(2030, 7, 10, tzinfo=UTC),
        ZoneInfo("UTC"),
    )
    assert [start.day for start, _ in found] == [1, 2, 5]


class _Counted:
    """Every request the CalDAV reads send: (method, report kind, objects named), but for
    the Basic auth challenge (a 401) each read's first request meets once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []
        self.statuses: list[int] = []

    def take(self) -> list[tuple[str, str, int]]:
        answered = list(zip(self.sent, self.statuses, strict=True))
        self.sent, self.statuses = [], []
        assert [status for _, status in answered].count(401) <= 1
        return [request for request, status in answered if status != 401]

    def wrap(self, session: Any) -> Any:
        original = session.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("data") or b""
            text = body.decode() if isinstance(body, bytes) else str(body)
            kind = next(
                (
                    k
                    for k in ("sync-collection", "calendar-multiget", "calendar-query")
                    if k in text
                ),
                "",
            )
            self.sent.append((method.upper(), kind, text.count(".ics<")))
            response = original(method, url, *args, **kwargs)
            self.statuses.append(response.status_code)
            return response

        session.request = request
        return session


async def test_caldav_reads_only_what_changed_since_the_sync_token(
    client, auth, factory, session, server, monkeypatch
):
    from sqlalchemy import update

    from models.integrations import calendar_reads
    from models.platform.calendar_tables import ExternalCalendar

    counted = _Counted()
    pinned = calendar_reads._pinned_session
    monkeypatch.setattr(
        calendar_reads, "_pinned_session", lambda checked: counted.wrap(pinned(checked))
    )
    provider = await factory.provider()
    provider_id = provider.id
    start = future(48)
    hours = (0, 3, 6, 9)
    slots = [(await factory.slot(provider, start=start + timedelta(hours=h))).id for h in hours]
    remote = _calendar(server, f"sync-{uuid.uuid4().hex[:12]}")
    events = [
        remote.save_event(
            _vevent(
                f"meeting-{n}",
                start + timedelta(hours=h),
                start + timedelta(hours=h, minutes=30),
            )
        )
        for n, h in enumerate(hours[:3])
    ]
    calendar = await connect(
        client,
        auth,
        provider_id,
        kind="caldav",
        url=str(remote.url),
        username=CALDAV_USER,
        password=CALDAV_PASSWORD,
    )
    first = await sync(client, auth, provider_id, calendar["id"])
    assert first["blocked_slot_ids"] == slots[:3]
    # A full read: the collection's getctag and sync-token, then the time range's events.
    assert [(m, k) for m, k, _ in counted.take()] == [
        ("PROPFIND", ""),
        ("REPORT", "calendar-query"),
    ]

    # Unchanged: one sync-collection REPORT that lists nothing.
    unchanged = await sync(client, auth, provider_id, calendar["id"])
    assert unchanged["blocked_slot_ids"] == slots[:3] and unchanged["last_error"] is None
    assert counted.take() == [("REPORT", "sync-collection", 0)]

    # One of three moved: the sync-collection REPORT, then that one object only.
    moved = events[1]
    later = start + timedelta(hours=9)
    moved.data = _vevent("meeting-1", later, later + timedelta(minutes=30), "SEQUENCE:1")
    moved.save()
    changed = await sync(client, auth, provider_id, calendar["id"])
    assert changed["blocked_slot_ids"] == [slots[0], slots[2], slots[3]]
    assert counted.take() == [("REPORT", "sync-collection", 0), ("REPORT", "calendar-multiget", 1)]

    # One deleted: listed as removed, nothing more to fetch; its slot reopens.
    events[0].delete()
    removed = await sync(client, auth, provider_id, calendar["id"])
    assert removed["blocked_slot_ids"] == [slots[2], slots[3]]
    assert counted.take() == [("REPORT", "sync-collection", 0)]
    assert await open_ids(client, auth, slots) == [slots[0], slots[1]]

    # A token the server no longer knows: a full read, and the same answer.
    await session.execute(
        update(ExternalCalendar)
        .where(ExternalCalendar.id == calendar["id"])
        .values(sync_token="http://radicale.org/ns/sync/" + "0" * 64)
    )
    await session.commit()
    again = await sync(client, auth, provider_id, calendar["id"])
    assert again["blocked_slot_ids"] == [slots[2], slots[3]] and again["last_error"] is None
    assert [(m, k) for m, k, _ in counted.take()] == [
        ("REPORT", "sync-collection"),
        ("PROPFIND", ""),
        ("REPORT", "calendar-query"),
    ]
