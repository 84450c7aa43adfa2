"""Booking rules per provider: notice, window, buffers, bookings per day (DST days too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.platform.entities import AuditEntry
from models.scheduling import people
from tests.bookings.helpers import book_body, stored_slot
from tests.factories import BOOKS, SLOTS
from tests.graphql.test_statement_count import counted_statements

NEW_YORK = ZoneInfo("America/New_York")


def _soon(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)


async def _rules(session, provider_id: int, **rules: Any) -> None:
    await people.update_provider(session, provider_id, booking_rules=rules)


async def _search(client, auth, **params: Any) -> list[int]:
    response = await client.get(f"{SLOTS}/search", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def _book(client, auth, slot_id: int, patient_id: int, **fields: Any) -> Any:
    return await client.post(BOOKS, json=book_body(slot_id, patient_id, **fields), headers=auth)


async def test_minimum_notice_and_booking_window(client, auth, factory, session):
    provider = await factory.provider()
    provider_id = provider.id
    soon = (await factory.slot(provider, start=_soon(1))).id
    later = (await factory.slot(provider, start=_soon(3))).id
    far = (await factory.slot(provider, start=_soon(24 * 10))).id
    patient = (await factory.patient()).id
    await _rules(session, provider_id, minimum_notice_minutes=120, booking_window_days=7)

    assert await _search(client, auth, provider_id=provider_id) == [later]
    response = await _book(client, auth, soon, patient)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {"available_slot_id": ["is within the minimum notice of 120 minutes"]}
    }
    response = await _book(client, auth, far, patient)
    assert response.json() == {
        "errors": {"available_slot_id": ["is beyond the booking window of 7 days"]}
    }
    assert (await stored_slot(session, far)).booked_count == 0
    assert (await _book(client, auth, later, patient)).status_code == 201


async def test_buffers_around_booked_appointments(client, auth, factory, session):
    provider = await factory.provider()
    provider_id = provider.id
    base = _soon(48)
    booked = await factory.slot(provider, start=base)
    await factory.booking(booked)
    right_after = (await factory.slot(provider, start=base + timedelta(minutes=75))).id
    clear_after = (await factory.slot(provider, start=base + timedelta(hours=3))).id
    right_before = (await factory.slot(provider, start=base - timedelta(minutes=80))).id
    clear_before = (await factory.slot(provider, start=base - timedelta(hours=3))).id
    patient = (await factory.patient("Sam", "Okafor")).id
    # Another provider without rules: back-to-back stays bookable there.
    relaxed = await factory.provider("Omar", "Haddad")
    relaxed_booked = await factory.slot(relaxed, start=base)
    await factory.booking(relaxed_booked)
    adjacent = (await factory.slot(relaxed, start=base + timedelta(hours=1))).id
    await _rules(session, provider_id, buffer_before_minutes=30, buffer_after_minutes=30)

    assert await _search(client, auth, provider_id=provider_id) == [clear_before, clear_after]
    assert adjacent in await _search(client, auth)
    for slot_id in (right_after, right_before):
        response = await _book(client, auth, slot_id, patient)
        assert response.status_code == 422
        assert response.json() == {
            "errors": {"available_slot_id": ["is within the buffer of another appointment"]}
        }
    assert (await _book(client, auth, clear_after, patient)).status_code == 201


async def test_bookings_per_day_count_seats_on_the_providers_dst_day(
    client, auth, factory, session
):
    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    # 14 March 2027: clocks go forward in New York, the day has 23 hours.
    morning = datetime(2027, 3, 14, 1, 0, tzinfo=NEW_YORK)
    late = datetime(2027, 3, 14, 23, 0, tzinfo=NEW_YORK)  # already 15 March in UTC
    next_day = datetime(2027, 3, 15, 0, 30, tzinfo=NEW_YORK)
    group = (await factory.slot(provider, start=morning.astimezone(UTC), capacity=2)).id
    late_id = (await factory.slot(provider, start=late.astimezone(UTC), minutes=30)).id
    next_id = (await factory.slot(provider, start=next_day.astimezone(UTC), minutes=30)).id
    patients = [(await factory.patient(f"P{i}", "Day")).id for i in range(4)]
    await _rules(session, provider_id, max_bookings_per_day=2)

    assert (await _book(client, auth, group, patients[0])).status_code == 201
    assert (await _book(client, auth, group, patients[1])).status_code == 201
    day = "2027-03-14"
    assert await _search(client, auth, provider_id=provider_id, date=day) == []
    assert await _search(client, auth, provider_id=provider_id) == [next_id]
    response = await _book(client, auth, late_id, patients[2])
    assert response.status_code == 422
    assert response.json() == {
        "errors": {"available_slot_id": ["exceeds the limit of 2 bookings per day"]}
    }
    assert (await _book(client, auth, next_id, patients[2])).status_code == 201


async def test_an_admin_may_override_the_rules_on_the_record(client, auth, factory, session):
    provider = await factory.provider()
    provider_id = provider.id
    soon = (await factory.slot(provider, start=_soon(1))).id
    patient = (await factory.patient()).id
    await _rules(session, provider_id, minimum_notice_minutes=240)
    response = await _book(client, auth, soon, patient, override_rules=True)
    assert response.status_code == 201, response.text
    await session.rollback()
    actions = (
        (
            await session.execute(
                select(AuditEntry.action).where(
                    AuditEntry.entity == "booking", AuditEntry.entity_id == response.json()["id"]
                )
            )
        )
        .scalars()
        .all()
    )
    assert sorted(actions) == ["create", "override_rules"]
    bad = await _book(client, auth, soon, patient, override_rules="maybe")
    assert bad.status_code == 422


async def test_search_with_rules_costs_constant_statements(app, client, auth, factory, session):
    providers = [await factory.provider(f"P{i}", "Rules", "Europe/Berlin") for i in range(4)]
    ids = [provider.id for provider in providers]
    base = _soon(30)
    for index in range(40):
        slot = await factory.slot(providers[index % 4], start=base + timedelta(hours=2 * index))
        if index % 7 == 0:
            await factory.booking(slot, await factory.patient(f"Q{index}", "Rules"))
    for provider_id in ids:
        await _rules(
            session,
            provider_id,
            minimum_notice_minutes=60,
            booking_window_days=30,
            buffer_before_minutes=15,
            buffer_after_minutes=15,
            max_bookings_per_day=3,
        )
    await _search(client, auth, page_size=1)  # the token's first use is recorded once
    counts = {}
    for size in (2, 25):
        with counted_statements(app) as statements:
            found = await _search(client, auth, page_size=size)
        assert len(found) == size
        counts[size] = len(statements)
    print("statements per search with rules:", counts)
    assert counts[2] == counts[25]
    # Authentication and the page, rules included (plus BEGIN on SQLite).
    assert counts[2] <= 3, counts


async def test_minimum_notice_counts_real_minutes_across_a_dst_change(factory, session):
    """At 01:30 on 14 March 2027 in New York, 03:30 is one real hour away, not two."""
    from models.booking.bookings import BookingInput, create_booking
    from models.platform.errors import ValidationFailed

    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    now = datetime(2027, 3, 14, 1, 30, tzinfo=NEW_YORK).astimezone(UTC)
    three_thirty = datetime(2027, 3, 14, 3, 30, tzinfo=NEW_YORK).astimezone(UTC)
    assert three_thirty - now == timedelta(hours=1)
    slot = (await factory.slot(provider, start=three_thirty)).id
    patient = (await factory.patient()).id
    await _rules(session, provider_id, minimum_notice_minutes=90)
    try:
        await create_booking(
            session, BookingInput(available_slot_id=slot, patient_id=patient), now=now
        )
    except ValidationFailed as refused:
        assert refused.fields == {
            "available_slot_id": ["is within the minimum notice of 90 minutes"]
        }
    else:
        raise AssertionError("a booking inside the notice was accepted")
    await _rules(session, provider_id, minimum_notice_minutes=45)
    booking = await create_booking(
        session, BookingInput(available_slot_id=slot, patient_id=patient), now=now
    )
    assert booking.available_slot_id == slot
