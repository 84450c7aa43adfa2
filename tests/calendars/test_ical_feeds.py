"""iCalendar feeds in other tools' conventions (Google, Outlook/Exchange, Apple), served by
the suite's own loopback server: busy time closes the slots it overlaps, and lifts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from models.platform.calendar_tables import ExternalCalendar
from models.platform.event_tables import AvailabilityEvent
from tests.calendars.helpers import (
    calendars_url,
    connect,
    day,
    local,
    next_us_dst_start,
    open_ids,
    stamp,
    sync,
    vcalendar,
)
from tests.calendars.servers import Feeds, feed_server
from tests.factories import BOOKS, SLOTS, future

SUMMARY = "SUMMARY-7f3a-private-meeting-title"

LA_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/Los_Angeles
X-LIC-LOCATION:America/Los_Angeles
BEGIN:DAYLIGHT
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
TZNAME:PDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
TZNAME:PST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""

# Outlook / Exchange: a Windows zone name, defined by the VTIMEZONE block it sends.
OUTLOOK_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""

# Apple Calendar's export: X-APPLE properties, the full VTIMEZONE history block.
NY_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/New_York
X-LIC-LOCATION:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
DTSTART:20070311T020000
TZNAME:EDT
TZOFFSETTO:-0400
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
DTSTART:20071104T020000
TZNAME:EST
TZOFFSETTO:-0500
END:STANDARD
END:VTIMEZONE"""


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with feed_server() as server:
        yield server


def _at(day_: date, hour: int, minute: int, zone: tzinfo) -> datetime:
    return datetime.combine(day_, time(hour, minute), tzinfo=zone).astimezone(UTC)


def _event(uid: str, *lines: str) -> str:
    return "\n".join(
        [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"SUMMARY:{SUMMARY}",
            *lines,
            "END:VEVENT",
        ]
    )


def google_feed(first: date) -> bytes:
    zone = "TZID=America/Los_Angeles"

    def at(offset: int, hour: int) -> str:
        return local(datetime.combine(first + timedelta(days=offset), time(hour)))

    return vcalendar(
        LA_VTIMEZONE,
        _event(
            "series@google.com",
            f"DTSTART;{zone}:{at(0, 9)}",
            f"DTEND;{zone}:{at(0, 10)}",
            "RRULE:FREQ=DAILY;COUNT=4",
            f"EXDATE;{zone}:{at(1, 9)}",
            "ATTENDEE;CN=Dr Who;PARTSTAT=ACCEPTED:mailto:who@example.org",
            "DESCRIPTION:private notes",
        ),
        _event(
            "series@google.com",
            f"RECURRENCE-ID;{zone}:{at(2, 9)}",
            f"DTSTART;{zone}:{at(2, 13)}",
            f"DTEND;{zone}:{at(2, 14)}",
        ),
        _event(
            "cancelled@google.com",
            f"DTSTART;{zone}:{at(0, 11)}",
            f"DTEND;{zone}:{at(0, 12)}",
            "STATUS:CANCELLED",
        ),
        _event(
            "free@google.com",
            f"DTSTART;{zone}:{at(0, 12)}",
            f"DTEND;{zone}:{at(0, 13)}",
            "TRANSP:TRANSPARENT",
        ),
        _event(
            "allday@google.com",
            f"DTSTART;VALUE=DATE:{day(first + timedelta(days=5))}",
            f"DTEND;VALUE=DATE:{day(first + timedelta(days=6))}",
        ),
        head="X-WR-CALNAME:Work\nX-WR-TIMEZONE:America/Los_Angeles\nCALSCALE:GREGORIAN\n"
        "METHOD:PUBLISH",
    )


async def test_google_feed_closes_exactly_the_busy_slots_and_lifts_them(
    client, auth, factory, session, feeds
):
    zone = ZoneInfo("America/Los_Angeles")
    provider = await factory.provider(time_zone="America/Los_Angeles")
    provider_id = provider.id
    first = (datetime.now(zone) + timedelta(days=3)).date()
    feeds.bodies["/basic.ics"] = google_feed(first)

    async def slot(offset: int, hour: int, minute: int = 0) -> int:
        start = _at(first + timedelta(days=offset), hour, minute, zone)
        return (await factory.slot(provider, start=start)).id

    first_meeting = await slot(0, 9)
    excluded = await slot(1, 9)
    moved_from = await slot(2, 9)
    moved_to = await slot(2, 13)
    last_meeting = await slot(3, 9)
    after_count = await slot(4, 9)
    cancelled = await slot(0, 11)
    transparent = await slot(0, 12)
    all_day = await slot(5, 15)
    next_day = await slot(6, 0, 30)
    await factory.booking(await _slot_view(factory, last_meeting))
    every = [
        first_meeting, excluded, moved_from, moved_to, last_meeting, after_count,
        cancelled, transparent, all_day, next_day,
    ]  # fmt: skip

    calendar = await connect(
        client,
        auth,
        provider_id,
        kind="ical",
        url=feeds.url("/basic.ics"),
        name="Google",
    )
    assert calendar["status"] == "pending" and calendar["blocked_slot_ids"] == []
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["status"] == "ok" and synced["last_error"] is None
    assert synced["last_synced_at"] is not None
    assert synced["blocked_slot_ids"] == [first_meeting, moved_to, all_day]
    assert synced["booked_slot_ids"] == [last_meeting]
    assert await open_ids(client, auth, every) == [
        excluded, moved_from, after_count, cancelled, transparent, next_day,
    ]  # fmt: skip

    # Only intervals are stored: nothing of the titles, attendees or notes.
    await session.rollback()
    dumped = " ".join(
        str(row) for row in (await session.execute(text("SELECT * FROM external_busy"))).all()
    )
    assert SUMMARY not in dumped and "who@example.org" not in dumped
    assert (
        await session.execute(text("SELECT count(*) FROM external_busy"))
    ).scalar_one() == 4  # three occurrences (one moved) and the all-day event

    # The series goes away there: its slots reopen; the all-day event still closes its own.
    feeds.bodies["/basic.ics"] = vcalendar(
        _event(
            "allday@google.com",
            f"DTSTART;VALUE=DATE:{day(first + timedelta(days=5))}",
            f"DTEND;VALUE=DATE:{day(first + timedelta(days=6))}",
        )
    )
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == [all_day]
    assert await open_ids(client, auth, [first_meeting, moved_to, all_day]) == [
        first_meeting,
        moved_to,
    ]
    types = await _event_types(session)
    assert types.count("external_calendar.busy_changed") == 2

    deleted = await client.delete(f"{calendars_url(provider_id)}/{calendar['id']}", headers=auth)
    assert deleted.status_code == 204
    assert await open_ids(client, auth, [all_day]) == [all_day]
    await session.rollback()
    assert (await session.execute(text("SELECT count(*) FROM external_busy"))).scalar_one() == 0


async def _slot_view(factory, slot_id: int):
    from models.scheduling.slots import get_slot

    return await get_slot(factory.session, slot_id)


async def _event_types(session) -> list[str]:
    await session.rollback()
    rows = await session.execute(select(AvailabilityEvent.type).order_by(AvailabilityEvent.id))
    return list(rows.scalars())


async def test_outlook_windows_zone_names_read_through_their_vtimezone(
    client, auth, factory, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    berlin = ZoneInfo("Europe/Berlin")
    first = (datetime.now(berlin) + timedelta(days=4)).date()
    name = 'TZID="W. Europe Standard Time"'
    start_local = datetime.combine(first, time(10))
    feeds.bodies["/outlook.ics"] = vcalendar(
        OUTLOOK_VTIMEZONE,
        _event(
            "040000008200E00074C5B7101A82E008000000001@outlook",
            f"DTSTART;{name}:{local(start_local)}",
            f"DTEND;{name}:{local(start_local + timedelta(hours=1))}",
            "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
            "TRANSP:OPAQUE",
        ),
        _event(
            "040000008200E00074C5B7101A82E008000000002@outlook",
            f"DTSTART;{name}:{local(start_local + timedelta(hours=3))}",
            f"DTEND;{name}:{local(start_local + timedelta(hours=4))}",
            "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
            "TRANSP:TRANSPARENT",
        ),
        head="METHOD:PUBLISH\nX-WR-CALNAME:Calendar",
    )
    busy_start = _at(first, 10, 0, berlin)
    busy = (await factory.slot(provider, start=busy_start)).id
    before = (await factory.slot(provider, start=busy_start - timedelta(hours=1))).id
    free = (await factory.slot(provider, start=busy_start + timedelta(hours=3))).id

    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/outlook.ics"))
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["last_error"] is None
    assert synced["blocked_slot_ids"] == [busy]
    assert await open_ids(client, auth, [before, busy, free]) == [before, free]


async def test_apple_export_across_a_daylight_saving_change(client, auth, factory, feeds):
    zone = ZoneInfo("America/New_York")
    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    change = next_us_dst_start(datetime.now(zone).date())  # a Sunday
    monday_before = change - timedelta(days=6)
    tz = "TZID=America/New_York"
    weekly_start = datetime.combine(monday_before, time(9))
    night = datetime.combine(change, time(1, 30))
    feeds.bodies["/apple.ics"] = vcalendar(
        NY_VTIMEZONE,
        _event(
            "A1B2C3D4-apple-weekly",
            f"DTSTART;{tz}:{local(weekly_start)}",
            f"DTEND;{tz}:{local(weekly_start + timedelta(hours=1))}",
            "RRULE:FREQ=WEEKLY;COUNT=2",
            "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
            "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Clinic:geo:40.7,-74.0",
            "SEQUENCE:0",
        ),
        # 01:30 EST to 03:30 EDT: two hours on the clock, one in time.
        _event(
            "E5F6-apple-dst-night",
            f"DTSTART;{tz}:{local(night)}",
            f"DTEND;{tz}:{local(night + timedelta(hours=2))}",
            "X-APPLE-DEFAULT-ALARM:TRUE",
        ),
        head="CALSCALE:GREGORIAN\nX-WR-CALNAME:Home\nX-APPLE-CALENDAR-COLOR:#1BADF8",
    )
    monday_after = change + timedelta(days=1)

    async def slot(moment: datetime) -> int:
        return (await factory.slot(provider, start=moment)).id

    before_busy = await slot(datetime.combine(monday_before, time(14), tzinfo=UTC))
    before_free = await slot(datetime.combine(monday_before, time(13), tzinfo=UTC))
    after_busy = await slot(datetime.combine(monday_after, time(13), tzinfo=UTC))
    after_free = await slot(datetime.combine(monday_after, time(14), tzinfo=UTC))
    night_busy = await slot(datetime.combine(change, time(6, 30), tzinfo=UTC))
    night_free = await slot(datetime.combine(change, time(7, 30), tzinfo=UTC))
    assert _at(monday_after, 9, 0, zone).hour == 13  # the zone's own view agrees

    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/apple.ics"))
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["last_error"] is None
    assert synced["blocked_slot_ids"] == [before_busy, night_busy, after_busy]
    every = [before_busy, before_free, after_busy, after_free, night_busy, night_free]
    assert await open_ids(client, auth, every) == [before_free, after_free, night_free]


async def test_unchanged_feed_answers_304_and_keeps_its_busy_time(
    client, auth, factory, session, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slot = (await factory.slot(provider, start=start)).id
    feeds.bodies["/etag.ics"] = vcalendar(
        _event("one", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + timedelta(hours=1))}")
    )
    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/etag.ics"))
    first = await sync(client, auth, provider_id, calendar["id"])
    second = await sync(client, auth, provider_id, calendar["id"])
    assert feeds.requests[0][1] is None
    assert feeds.requests[1][1] is not None and feeds.not_modified == 1
    assert first["blocked_slot_ids"] == second["blocked_slot_ids"] == [slot]
    assert second["last_synced_at"] >= first["last_synced_at"] and second["status"] == "ok"
    patient_id = (await factory.patient()).id
    refused = await client.post(
        BOOKS, json={"book": {"available_slot_id": slot, "patient_id": patient_id}}, headers=auth
    )
    assert refused.status_code == 409 and refused.json() == {"errors": "Slot is not available"}
    listed = await client.get(
        SLOTS, params={"provider_id": provider_id, "available": "true"}, headers=auth
    )
    assert slot not in [item["id"] for item in listed.json()]
    assert (await _event_types(session)).count("external_calendar.busy_changed") == 1

    later = start + timedelta(hours=2)
    moved = (await factory.slot(provider, start=later)).id
    feeds.bodies["/etag.ics"] = vcalendar(
        _event("one", f"DTSTART:{stamp(later)}", f"DTEND:{stamp(later + timedelta(hours=1))}")
    )
    third = await sync(client, auth, provider_id, calendar["id"])
    assert feeds.not_modified == 1 and third["blocked_slot_ids"] == [moved]
    assert await open_ids(client, auth, [slot, moved]) == [slot]


async def test_a_failing_calendar_keeps_its_busy_time_and_is_announced_once(
    client, auth, factory, session, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slot = (await factory.slot(provider, start=start)).id
    feeds.bodies["/flaky.ics"] = vcalendar(
        _event("one", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + timedelta(hours=1))}")
    )
    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/flaky.ics"))
    good = await sync(client, auth, provider_id, calendar["id"])
    assert good["blocked_slot_ids"] == [slot]

    feeds.statuses["/flaky.ics"] = 500
    replies = [await sync(client, auth, provider_id, calendar["id"]) for _ in range(4)]
    assert [reply["consecutive_failures"] for reply in replies] == [1, 2, 3, 4]
    assert {reply["last_error"] for reply in replies} == {"HTTP 500"}
    assert {reply["status"] for reply in replies} == {"failing"}
    assert replies[-1]["last_synced_at"] == good["last_synced_at"]
    assert replies[-1]["blocked_slot_ids"] == [slot]  # as last read
    assert await open_ids(client, auth, [slot]) == []
    await session.rollback()
    failing = (
        (
            await session.execute(
                select(AvailabilityEvent).where(
                    AvailabilityEvent.type == "external_calendar.failing"
                )
            )
        )
        .scalars()
        .all()
    )
    assert [(row.provider_id, row.external_calendar_id) for row in failing] == [
        (provider_id, calendar["id"])
    ]

    del feeds.statuses["/flaky.ics"]
    healed = await sync(client, auth, provider_id, calendar["id"])
    assert (healed["status"], healed["last_error"], healed["consecutive_failures"]) == (
        "ok",
        None,
        0,
    )

    # A feed that is no calendar fails with its kind named, nothing of its content.
    feeds.bodies["/flaky.ics"] = b"<html>" + SUMMARY.encode() + b"</html>"
    broken = await sync(client, auth, provider_id, calendar["id"])
    assert broken["last_error"].startswith("not a readable iCalendar file")
    assert SUMMARY not in broken["last_error"]
    await session.rollback()
    stored = await session.get(ExternalCalendar, calendar["id"], populate_existing=True)
    assert stored is not None and stored.last_error == broken["last_error"]


async def test_a_long_absence_closes_every_slot_inside_it(client, auth, factory, session, feeds):
    """A two-week all-day event is stored in pieces of a day at most, back to back."""
    provider = await factory.provider()
    provider_id = provider.id
    first = (datetime.now(UTC) + timedelta(days=3)).date()
    feeds.bodies["/leave.ics"] = vcalendar(
        _event(
            "leave",
            f"DTSTART;VALUE=DATE:{day(first)}",
            f"DTEND;VALUE=DATE:{day(first + timedelta(days=14))}",
        )
    )
    inside = [
        (
            await factory.slot(
                provider, start=_at(first + timedelta(days=n), 23, 30, UTC), minutes=30
            )
        ).id
        for n in (0, 6, 13)
    ]
    after = (await factory.slot(provider, start=_at(first + timedelta(days=14), 0, 0, UTC))).id
    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/leave.ics"))
    synced = await sync(client, auth, provider_id, calendar["id"])
    assert synced["blocked_slot_ids"] == inside
    assert await open_ids(client, auth, [*inside, after]) == [after]
    await session.rollback()
    assert (await session.execute(text("SELECT count(*) FROM external_busy"))).scalar_one() == 14


async def test_redirects_are_followed_and_credentials_stay_with_their_origin(
    client, auth, factory, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slot = (await factory.slot(provider, start=start)).id
    body = vcalendar(
        _event("r", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(start + timedelta(hours=1))}")
    )
    with feed_server() as elsewhere:
        feeds.redirects["/moved.ics"] = "/here.ics"
        feeds.bodies["/here.ics"] = body
        feeds.redirects["/away.ics"] = elsewhere.url("/there.ics")
        elsewhere.bodies["/there.ics"] = body
        for path in ("/moved.ics", "/away.ics"):
            calendar = await connect(
                client,
                auth,
                provider_id,
                kind="ical",
                url=feeds.url(path),
                username="jsmith",
                password="feed-password",
            )
            synced = await sync(client, auth, provider_id, calendar["id"])
            assert synced["blocked_slot_ids"] == [slot], synced
        sent = dict(feeds.authorizations)
        assert sent["/moved.ics"] and sent["/here.ics"] == sent["/moved.ics"]
        assert sent["/away.ics"] == sent["/moved.ics"]
        assert elsewhere.authorizations == [("/there.ics", None)]
