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
