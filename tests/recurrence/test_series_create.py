"""Creating recurring series over REST: every occurrence is a bookable slot, all or none."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.factories import SLOTS, Factory, future, iso
from tests.recurrence.conftest import (
    fresh_slot,
    next_october_friday,
    recurring_body,
    series_slots,
    stored_series,
)

NEW_YORK = ZoneInfo("America/New_York")
CONFLICT = "Time slot conflicts with existing availability"
DOCUMENTED_KEYS = {
    "id",
    "provider_id",
    "start_time",
    "end_time",
    "appointment_type",
    "available",
    "recurring",
    "recurrence_pattern",
    "created_at",
    "updated_at",
    "capacity",
    "booked_count",
    "resource_kind",
    "resource_id",
    "provider",
}


async def test_weekly_new_york_series_keeps_nine_oclock_across_dst(
    client, auth, factory: Factory, session
):
    provider = await factory.provider("Dr. Jane", "Smith", time_zone="America/New_York")
    friday = next_october_friday()
    start = datetime.combine(friday, datetime.min.time()).replace(hour=9, tzinfo=NEW_YORK)
    body = recurring_body(
        provider.id,
        start,
        recurrence_pattern="weekly",
        recurrence_end_date=date(friday.year, 12, 31).isoformat(),
    )

    response = await client.post(SLOTS, json=body, headers=auth)

    assert response.status_code == 201, response.text
    first = response.json()
    assert set(first) == DOCUMENTED_KEYS
    assert first["start_time"] == iso(start)
    assert first["start_time"].endswith("T13:00:00.000Z")
    assert first["recurring"] is True and first["recurrence_pattern"] == "weekly"

    row = await fresh_slot(session, first["id"])
    assert row is not None and row.series_id is not None
    slots = await series_slots(session, row.series_id)
    fridays = (date(friday.year, 12, 31) - friday).days // 7 + 1
    assert len(slots) == fridays  # every Friday from early October to the end of December
    november_change = datetime(friday.year, 11, 1, tzinfo=UTC) + timedelta(
        days=(6 - date(friday.year, 11, 1).weekday()) % 7, hours=6
    )
    for slot in slots:
        local = slot.start_time.astimezone(NEW_YORK)
        assert (local.hour, local.minute, local.weekday()) == (9, 0, 4)
        expected_utc_hour = 13 if slot.start_time < november_change else 14
        assert slot.start_time.hour == expected_utc_hour
        assert slot.end_time - slot.start_time == timedelta(hours=1)
        assert slot.duration_minutes == 60
        assert slot.recurring and slot.recurrence_pattern == "weekly"
        assert slot.available and slot.appointment_type == "therapy"
    assert {slot.start_time.hour for slot in slots} == {13, 14}

    # Each occurrence is a slot of its own, readable like any other.
    last = await client.get(f"{SLOTS}/{slots[-1].id}", headers=auth)
    assert last.status_code == 200 and last.json()["start_time"].endswith("T14:00:00.000Z")

    series = await stored_series(session, row.series_id)
    assert series.time_zone == "America/New_York"
    assert series.dtstart_local == start.replace(tzinfo=None)
    assert series.occurrences_created == fridays and series.exhausted


async def test_series_with_a_clash_creates_nothing_and_lists_the_clashes(
    client, auth, factory: Factory, db_count
):
    provider = await factory.provider()
    start = future(24 * 3)
    blocker = await factory.slot(provider, start=start + timedelta(days=14, minutes=30))
    other = await factory.slot(provider, start=start + timedelta(days=28))

    response = await client.post(
        SLOTS,
        json=recurring_body(
            provider.id,
            start,
            recurrence_pattern="weekly",
            recurrence_end_date=(start + timedelta(days=60)).date().isoformat(),
        ),
        headers=auth,
    )

    assert response.status_code == 409, response.text
    assert response.json() == {
        "errors": CONFLICT,
        "conflicts": [
            {"id": s.id, "start_time": iso(s.start_time), "end_time": iso(s.end_time)}
            for s in (blocker, other)
        ],
    }
    assert await db_count("available_slots") == 2
    assert await db_count("slot_series") == 0


async def test_dry_run_reports_without_writing(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(24 * 3)
    blocker = await factory.slot(provider, start=start + timedelta(days=7))
    provider_id = provider.id
    body = recurring_body(
        provider.id,
        start,
        recurrence_pattern="weekly",
        recurrence_end_date=(start + timedelta(days=21)).date().isoformat(),
    )

    response = await client.post(f"{SLOTS}?dry_run=true", json=body, headers=auth)

    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["dry_run"] is True
    assert [item["start_time"] for item in preview["would_create"]] == [
        iso(start),
        iso(start + timedelta(days=14)),
        iso(start + timedelta(days=21)),
    ]
    assert [item["start_time"] for item in preview["would_clash"]] == [
        iso(start + timedelta(days=7))
    ]
    assert preview["would_clash"][0]["conflicts"][0]["id"] == blocker.id
    assert preview["conflicts"] == [
        {"id": blocker.id, "start_time": iso(blocker.start_time), "end_time": iso(blocker.end_time)}
    ]
    assert await db_count("available_slots") == 1
    assert await db_count("slot_series") == 0

    single = await client.post(
        f"{SLOTS}?dry_run=true",
        json={
            "available_slot": {
                "provider_id": provider_id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
            }
        },
        headers=auth,
    )
    assert single.status_code == 200
    assert len(single.json()["would_create"]) == 1 and single.json()["conflicts"] == []
    bad = await client.post(
        f"{SLOTS}?dry_run=true", json={"available_slot": {"provider_id": provider_id}}, headers=auth
    )
    assert bad.status_code == 422
    assert await db_count("available_slots") == 1


async def test_patterns_and_custom_rules(client, auth, factory: Factory, session):
    provider = await factory.provider(time_zone="Europe/London")
    base = future(24 * 5).replace(hour=10)
    cases = [
        ({"recurrence_pattern": "daily"}, 5, timedelta(days=1)),
        ({"recurrence_pattern": "biweekly"}, 3, timedelta(days=14)),
        ({"recurrence_pattern": "custom", "recurrence_rule": "FREQ=DAILY;INTERVAL=3"}, 4, None),
    ]
    for index, (fields, count, step) in enumerate(cases):
        start = base + timedelta(days=200 * index)
        end_date = None
        if step is not None:
            end_date = (start.astimezone(ZoneInfo("Europe/London")) + step * (count - 1)).date()
        extra: dict[str, Any] = dict(fields)
        if end_date is not None:
            extra["recurrence_end_date"] = end_date.isoformat()
        else:
            extra["recurrence_rule"] = f"{extra['recurrence_rule']};COUNT={count}"
        response = await client.post(
            SLOTS, json=recurring_body(provider.id, start, **extra), headers=auth
        )
        assert response.status_code == 201, response.text
        row = await fresh_slot(session, response.json()["id"])
        assert row is not None and row.series_id is not None
        slots = await series_slots(session, row.series_id)
        assert len(slots) == count, fields
        assert slots[0].start_time == start


async def test_monthly_on_the_31st_skips_short_months(client, auth, factory: Factory, session):
    provider = await factory.provider()
    today = datetime.now(UTC).date()
    start = datetime(today.year + 1, 1, 31, 15, 0, tzinfo=UTC)
    response = await client.post(
        SLOTS,
        json=recurring_body(
            provider.id,
            start,
            recurrence_pattern="monthly",
            recurrence_end_date=date(today.year + 1, 7, 31).isoformat(),
        ),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    row = await fresh_slot(session, response.json()["id"])
    assert row is not None
    months = [slot.start_time.month for slot in await series_slots(session, row.series_id or 0)]
    assert months == [1, 3, 5, 7]


async def test_bad_recurrences_are_422_and_write_nothing(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(24 * 2)
    cases = [
        (
            {"recurrence_pattern": "custom", "recurrence_rule": "FREQ=HOURLY"},
            {"recurrence_rule": ["must repeat daily or less often"]},
        ),
        (
            {"recurrence_pattern": "custom", "recurrence_rule": "FREQ=SOMETIMES"},
            {"recurrence_rule": ["is invalid"]},
        ),
        ({"recurrence_pattern": "custom"}, {"recurrence_rule": ["can't be blank"]}),
        (
            {"recurrence_pattern": "weekly", "recurrence_end_date": "2001-01-01"},
            {"recurrence_end_date": ["must be on or after the start date"]},
        ),
        (
            # Daily for 800 days (the horizon here) is more than 500 occurrences.
            {"recurrence_pattern": "daily"},
            {"recurrence_end_date": ["must be less than or equal to 500 occurrences ahead"]},
        ),
        (
            {"recurrence_pattern": "daily"},
            {"end_time": ["must be before the next occurrence starts"]},
        ),
    ]
    for index, (fields, errors) in enumerate(cases):
        minutes = 25 * 60 if "end_time" in errors else 60
        body = recurring_body(provider.id, start, minutes=minutes, **fields)
        if index == len(cases) - 1:
            body["available_slot"]["recurrence_end_date"] = (
                (start + timedelta(days=5)).date().isoformat()
            )
        response = await client.post(SLOTS, json=body, headers=auth)
        assert response.status_code == 422, (fields, response.text)
        assert response.json() == {"errors": errors}
    assert await db_count("available_slots") == 0
    assert await db_count("slot_series") == 0


async def test_an_unbounded_rule_stops_at_the_horizon(client, auth, factory: Factory, session):
    provider = await factory.provider()
    start = future(24)
    response = await client.post(
        SLOTS,
        json=recurring_body(
            provider.id, start, recurrence_pattern="custom", recurrence_rule="FREQ=MONTHLY"
        ),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    row = await fresh_slot(session, response.json()["id"])
    assert row is not None and row.series_id is not None
    slots = await series_slots(session, row.series_id)
    horizon = datetime.now(UTC) + timedelta(days=800)
    assert 25 <= len(slots) <= 27
    assert all(slot.start_time < horizon for slot in slots)
    series = await stored_series(session, row.series_id)
    assert not series.exhausted
    assert abs(series.generated_until - horizon) < timedelta(minutes=5)
