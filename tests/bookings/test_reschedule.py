"""Reschedule and cutoffs: a booking moves in one step, or nothing changes; how late a
booking may be cancelled or moved, per provider, with an audited override."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from models.booking.bookings import RescheduleInput, reschedule_booking
from models.platform.entities import Booking, Provider
from models.platform.errors import ValidationFailed
from models.platform.event_tables import AvailabilityEvent
from tests.bookings.helpers import book_body, stored_booking, stored_slot
from tests.factories import BOOKS, future

GQL_RESCHEDULE = """
mutation($id: Int!, $slot: Int!, $override: Boolean! = false) {
  rescheduleBook(id: $id, input: {availableSlotId: $slot, overrideRules: $override}) {
    id availableSlotId rescheduledFromSlotId rescheduleCount status
  }
}"""
GQL_CANCEL = """
mutation($id: Int!, $override: Boolean! = false) {
  cancelBook(id: $id, overrideRules: $override) { id status }
}"""


def reschedule(booking_id: int) -> str:
    return f"{BOOKS}/{booking_id}/reschedule"


async def _rules(session: Any, provider_id: int, **rules: Any) -> None:
    await session.execute(update(Provider).where(Provider.id == provider_id).values(**rules))
    await session.commit()


async def _book(client: Any, auth: Any, slot_id: int, patient_id: int) -> dict[str, Any]:
    response = await client.post(BOOKS, json=book_body(slot_id, patient_id), headers=auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _events(session: Any, after: int = 0) -> list[AvailabilityEvent]:
    await session.rollback()
    rows = await session.execute(
        select(AvailabilityEvent).where(AvailabilityEvent.id > after).order_by(AvailabilityEvent.id)
    )
    return list(rows.scalars())


async def _last_event_id(session: Any) -> int:
    events = await _events(session)
    return events[-1].id if events else 0


async def test_a_booking_moves_to_another_providers_slot(client, auth, factory, session):
    first = await factory.slot(start=future(30))
    second = await factory.slot(await factory.provider("Ann", "Lee"), start=future(50))
    patient = await factory.patient()
    booked = await _book(client, auth, first.id, patient.id)
    mark = await _last_event_id(session)

    response = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": second.id}}, headers=auth
    )
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["id"] == booked["id"] and moved["available_slot_id"] == second.id
    assert (moved["rescheduled_from_slot_id"], moved["reschedule_count"]) == (first.id, 1)
    assert moved["status"] == "confirmed" and moved["created_at"] == booked["created_at"]

    old = await stored_slot(session, first.id)
    assert (old.booked_count, old.available) == (0, True)
    new = await stored_slot(session, second.id)
    assert (new.booked_count, new.available) == (1, False)
    stored = await stored_booking(session, booked["id"])
    assert (stored.available_slot_id, stored.reschedule_count) == (second.id, 1)

    events = await _events(session, mark)
    assert [event.type for event in events] == ["booking.rescheduled"]
    [event] = events
    assert (event.slot_id, event.previous_slot_id, event.booking_id) == (
        second.id,
        first.id,
        booked["id"],
    )
    assert event.provider_id == second.provider_id

    again = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": first.id}}, headers=auth
    )
    assert again.status_code == 200
    assert (again.json()["rescheduled_from_slot_id"], again.json()["reschedule_count"]) == (
        second.id,
        2,
    )


async def test_refusals_change_nothing(client, auth, factory, session, db_count):
    provider = await factory.provider()
    start = future(30)
    home = await factory.slot(provider, start=start)
    full = await factory.slot(provider, start=start + timedelta(hours=2))
    patient, other = await factory.patient(), await factory.patient("Bo", "Ng")
    booked = await _book(client, auth, home.id, patient.id)
    await _book(client, auth, full.id, other.id)
    cancelled_slot = await factory.slot(provider, start=start + timedelta(hours=4))
    cancelled = await _book(client, auth, cancelled_slot.id, other.id)
    gone = await client.put(
        f"{BOOKS}/{cancelled['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert gone.status_code == 200
    mark = await _last_event_id(session)
    audit_rows = await db_count("audit_log")

    cases = [
        (booked["id"], {"available_slot_id": full.id}, 409, {"errors": "Slot is not available"}),
        (
            booked["id"],
            {"available_slot_id": 999_999},
            422,
            {"errors": {"available_slot_id": ["must exist"]}},
        ),
        (
            booked["id"],
            {"available_slot_id": home.id},
            422,
            {"errors": {"available_slot_id": ["is the booking's current slot"]}},
        ),
        (
            booked["id"],
            {},
            422,
            {"errors": {"available_slot_id": ["can't be blank"]}},
        ),
        (
            cancelled["id"],
            {"available_slot_id": full.id},
            422,
            {"errors": {"status": ["can't be rescheduled when cancelled"]}},
        ),
        (999_999, {"available_slot_id": full.id}, 404, {"errors": "Not found"}),
    ]
    for booking_id, fields, status, body in cases:
        response = await client.post(reschedule(booking_id), json={"book": fields}, headers=auth)
        assert (response.status_code, response.json()) == (status, body), fields

    stored = await stored_booking(session, booked["id"])
    assert (stored.available_slot_id, stored.reschedule_count) == (home.id, 0)
    assert (await stored_slot(session, home.id)).booked_count == 1
    assert (await stored_slot(session, full.id)).booked_count == 1
    assert await _events(session, mark) == []
    assert await db_count("audit_log") == audit_rows


async def test_the_moving_booking_never_counts_against_its_own_rules(
    client, auth, factory, session
):
    provider = await factory.provider()
    start = future(30)
    here = await factory.slot(provider, start=start)
    # Inside the buffer of the booking being moved, and on the same day.
    next_door = await factory.slot(provider, start=start + timedelta(minutes=70))
    await _rules(
        session,
        provider.id,
        buffer_after_minutes=30,
        buffer_before_minutes=30,
        max_bookings_per_day=1,
    )
    patient = await factory.patient()
    booked = await _book(client, auth, here.id, patient.id)
    moved = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": next_door.id}}, headers=auth
    )
    assert moved.status_code == 200, moved.text

    # And on again, inside the buffer of where it now is: still only its own appointment.
    third = await factory.slot(provider, start=start + timedelta(minutes=140))
    again = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": third.id}}, headers=auth
    )
    assert again.status_code == 200, again.text
    assert (await stored_slot(session, next_door.id)).booked_count == 0
    assert (await stored_slot(session, third.id)).booked_count == 1


async def test_buffer_of_another_booking_refuses_the_move(client, auth, factory, session):
    provider = await factory.provider()
    start = future(30)
    mine = await factory.slot(provider, start=start)
    theirs = await factory.slot(provider, start=start + timedelta(hours=3))
    close = await factory.slot(provider, start=start + timedelta(hours=4, minutes=10))
    await _rules(session, provider.id, buffer_after_minutes=30)
    booked = await _book(client, auth, mine.id, (await factory.patient()).id)
    await _book(client, auth, theirs.id, (await factory.patient("Di", "Fox")).id)
    refused = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": close.id}}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json() == {
        "errors": {"available_slot_id": ["is within the buffer of another appointment"]}
    }
    assert (await stored_slot(session, mine.id)).booked_count == 1
    assert (await stored_slot(session, close.id)).booked_count == 0
    overridden = await client.post(
        reschedule(booked["id"]),
        json={"book": {"available_slot_id": close.id, "override_rules": True}},
        headers=auth,
    )
    assert overridden.status_code == 200


async def test_reschedule_cutoff_refuses_late_moves_unless_overridden(
    client, auth, factory, session, db_count
):
    provider = await factory.provider()
    soon = await factory.slot(provider, start=future(1, minute=30))
    later = await factory.slot(provider, start=future(48))
    booked = await _book(client, auth, soon.id, (await factory.patient()).id)
    await _rules(session, provider.id, reschedule_cutoff_minutes=180)

    refused = await client.post(
        reschedule(booked["id"]), json={"book": {"available_slot_id": later.id}}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json() == {
        "errors": {"available_slot_id": ["is within the reschedule cutoff of 180 minutes"]}
    }
    overrides = await db_count("audit_log", "action = 'override_rules'")
    graphql = await client.post(
        "/graphql",
        json={
            "query": GQL_RESCHEDULE,
            "variables": {"id": booked["id"], "slot": later.id, "override": True},
        },
        headers=auth,
    )
    moved = graphql.json()["data"]["rescheduleBook"]
    assert moved["status"].lower() == "confirmed"
    assert moved == {
        "id": booked["id"],
        "availableSlotId": later.id,
        "rescheduledFromSlotId": soon.id,
        "rescheduleCount": 1,
        "status": moved["status"],
    }
    assert await db_count("audit_log", "action = 'override_rules'") == overrides + 1


async def test_cancellation_cutoff_on_both_faces(client, auth, factory, session):
    provider = await factory.provider()
    await _rules(session, provider.id, cancellation_cutoff_minutes=240)
    soon = [await factory.slot(provider, start=future(2 + i)) for i in range(2)]
    far = await factory.slot(provider, start=future(30))
    books = [await _book(client, auth, s.id, (await factory.patient()).id) for s in soon]
    far_book = await _book(client, auth, far.id, (await factory.patient()).id)

    rest = await client.put(
        f"{BOOKS}/{books[0]['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert rest.status_code == 422
    assert rest.json() == {
        "errors": {"status": ["is within the cancellation cutoff of 240 minutes"]}
    }
    graphql = await client.post(
        "/graphql", json={"query": GQL_CANCEL, "variables": {"id": books[1]["id"]}}, headers=auth
    )
    assert graphql.json()["errors"][0]["extensions"]["errors"] == {
        "status": ["is within the cancellation cutoff of 240 minutes"]
    }
    for book in books:
        assert (await stored_booking(session, book["id"])).status.value == "confirmed"

    fine = await client.put(
        f"{BOOKS}/{far_book['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert fine.status_code == 200
    forced = await client.put(
        f"{BOOKS}/{books[0]['id']}",
        json={"book": {"status": "cancelled", "override_rules": True}},
        headers=auth,
    )
    assert forced.status_code == 200 and forced.json()["status"] == "cancelled"
    forced_gql = await client.post(
        "/graphql",
        json={"query": GQL_CANCEL, "variables": {"id": books[1]["id"], "override": True}},
        headers=auth,
    )
    assert forced_gql.json()["data"]["cancelBook"]["id"] == books[1]["id"]
    assert (await stored_slot(session, soon[1].id)).booked_count == 0


async def test_cutoffs_count_real_minutes_across_a_dst_change(factory, session):
    """2027-03-14, New York springs forward at 02:00: from 01:30 EST to a 05:00 EDT
    appointment is 150 real minutes, though the wall clock says 210."""
    provider = await factory.provider(time_zone="America/New_York")
    start = datetime(2027, 3, 14, 9, 0, tzinfo=UTC)  # 05:00 EDT
    target_id = (await factory.slot(provider, start=start + timedelta(days=1))).id
    slot = await factory.slot(provider, start=start)
    booking_id = (await factory.booking(slot)).id
    await _rules(session, provider.id, reschedule_cutoff_minutes=200)
    half_past_one_est = datetime(2027, 3, 14, 6, 30, tzinfo=UTC)
    midnight_est = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 240 real minutes before
    with pytest.raises(ValidationFailed) as refused:
        await reschedule_booking(
            session,
            booking_id,
            RescheduleInput(available_slot_id=target_id),
            now=half_past_one_est,
        )
    assert refused.value.errors == {
        "available_slot_id": ["is within the reschedule cutoff of 200 minutes"]
    }
    moved = await reschedule_booking(
        session, booking_id, RescheduleInput(available_slot_id=target_id), now=midnight_est
    )
    assert moved.available_slot_id == target_id


async def test_a_reschedule_and_a_booking_race_for_the_last_seat(http, auth, factory, session):
    rounds = 10
    outcomes: Counter[tuple[int, int]] = Counter()
    for i in range(rounds):
        provider = await factory.provider(f"Round{i}")
        start = future(30 + 3 * i)
        home = await factory.slot(provider, start=start)
        last = await factory.slot(provider, start=start + timedelta(hours=1), capacity=2)
        mover, rival, filler = (
            await factory.patient(f"M{i}", "X"),
            await factory.patient(f"R{i}", "Y"),
            await factory.patient(f"F{i}", "Z"),
        )
        booked = await _book(http, auth, home.id, mover.id)
        await _book(http, auth, last.id, filler.id)
        moved, taken = await asyncio.gather(
            http.post(
                reschedule(booked["id"]),
                json={"book": {"available_slot_id": last.id}},
                headers=auth,
            ),
            http.post(BOOKS, json=book_body(last.id, rival.id), headers=auth),
        )
        outcomes[(moved.status_code, taken.status_code)] += 1
        stored = await stored_slot(session, last.id)
        assert stored.booked_count == 2
        home_now = await stored_slot(session, home.id)
        assert home_now.booked_count == (0 if moved.status_code == 200 else 1)
        await session.rollback()
        active = (
            await session.execute(
                select(Booking.id).where(
                    Booking.available_slot_id == last.id, Booking.status == "confirmed"
                )
            )
        ).all()
        assert len(active) == 2
    assert set(outcomes) <= {(200, 409), (409, 201)}, outcomes
    assert sum(outcomes.values()) == rounds
