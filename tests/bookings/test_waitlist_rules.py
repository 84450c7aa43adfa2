"""Waitlist offers go only where the seat could be booked: the provider's notice, window,
buffers (the type's where it sets them) and caps, a provider who offers the type, and a
free resource (which the offer's hold then keeps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from models.platform.entities import Provider
from models.scheduling import appointment_types
from tests.bookings.helpers import book_body
from tests.factories import BASE, BOOKS, SLOTS, future, iso

WAITLIST = f"{BASE}/waitlist_entries"
HOLDS = f"{BASE}/holds"


async def _rules(session: Any, provider_id: int, **rules: Any) -> None:
    await session.execute(update(Provider).where(Provider.id == provider_id).values(**rules))
    await session.commit()


async def _wait(client: Any, auth: Any, patient_id: int, **fields: Any) -> int:
    today = future(0).date()
    body = {
        "waitlist_entry": {
            "patient_id": patient_id,
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=20)).isoformat(),
            **fields,
        }
    }
    response = await client.post(WAITLIST, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _book(client: Any, auth: Any, factory: Any, slot_id: int, **fields: Any) -> int:
    patient = await factory.patient("Booked", "Patient")
    response = await client.post(BOOKS, json=book_body(slot_id, patient.id, **fields), headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _cancel(client: Any, auth: Any, booking_id: int) -> None:
    response = await client.put(
        f"{BOOKS}/{booking_id}",
        json={"book": {"status": "cancelled", "override_rules": True}},
        headers=auth,
    )
    assert response.status_code == 200, response.text


async def _entry(client: Any, auth: Any, entry_id: int) -> dict[str, Any]:
    response = await client.get(f"{WAITLIST}/{entry_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_no_offer_inside_the_minimum_notice_or_past_the_window(
    client, auth, factory, session
):
    provider = await factory.provider()
    soon = await factory.slot(provider, start=future(3))
    far = await factory.slot(provider, start=future(24 * 15))
    fine = await factory.slot(provider, start=future(48))
    bookings = [await _book(client, auth, factory, slot.id) for slot in (soon, far, fine)]
    await _rules(session, provider.id, minimum_notice_minutes=24 * 60, booking_window_days=10)
    patient = await factory.patient("W", "W")
    entry_id = await _wait(client, auth, patient.id)

    await _cancel(client, auth, bookings[0])  # inside the notice
    await _cancel(client, auth, bookings[1])  # beyond the window
    assert (await _entry(client, auth, entry_id))["status"] == "waiting"

    await _cancel(client, auth, bookings[2])
    offered = await _entry(client, auth, entry_id)
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", fine.id)
    # And the offer is one the patient can take.
    taken = await client.post(
        BOOKS, json=book_body(fine.id, patient.id, hold_id=offered["hold_id"]), headers=auth
    )
    assert taken.status_code == 201, taken.text


async def test_a_types_buffers_and_the_providers_caps_keep_offers_back(
    client, auth, factory, session
):
    await appointment_types.create_type(
        session,
        {"key": "intake", "name": "Intake", "duration_minutes": 50, "buffer_after_minutes": 30},
    )
    provider = await factory.provider()
    start = future(48)
    kept = await factory.slot(provider, start=start, appointment_type="intake")
    close = await factory.slot(
        provider, start=start + timedelta(minutes=70), appointment_type="intake"
    )
    before = await factory.slot(
        provider, start=start - timedelta(minutes=70), appointment_type="therapy"
    )
    await _book(client, auth, factory, kept.id)
    close_booking = await _book(client, auth, factory, close.id, override_rules=True)
    before_booking = await _book(client, auth, factory, before.id)
    entry_id = await _wait(client, auth, (await factory.patient("W", "W")).id)

    # The intake's 30 minutes after an appointment: the booked one ends 10 minutes before.
    await _cancel(client, auth, close_booking)
    assert (await _entry(client, auth, entry_id))["status"] == "waiting"
    # A therapy (no buffers of its own, nor the provider's) 10 minutes before it: offered.
    await _cancel(client, auth, before_booking)
    offered = await _entry(client, auth, entry_id)
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", before.id)

    # Caps: the provider's day is full with one booking.
    capped = await factory.provider("Cap", "Ped")
    day = future(72).replace(hour=9)  # both slots on one day, at any hour of the run
    first = await factory.slot(capped, start=day)
    second = await factory.slot(capped, start=day + timedelta(hours=2))
    await _book(client, auth, factory, first.id)
    second_booking = await _book(client, auth, factory, second.id)
    await _rules(session, capped.id, max_bookings_per_day=1)
    waiting_id = await _wait(
        client, auth, (await factory.patient("X", "X")).id, provider_id=capped.id
    )
    await _cancel(client, auth, second_booking)
    assert (await _entry(client, auth, waiting_id))["status"] == "waiting"
    await _rules(session, capped.id, max_bookings_per_day=2)
    # Raising the cap frees no seat: the next seat that opens is offered.
    await client.put(f"{SLOTS}/{second.id}", json={"available_slot": {"capacity": 2}}, headers=auth)
    assert (await _entry(client, auth, waiting_id))["offered_slot_id"] == second.id


async def test_no_offer_of_a_type_the_provider_does_not_offer_and_rooms_are_kept(
    client, auth, factory, session
):
    provider = await factory.provider()
    await _rules(session, provider.id, appointment_type_keys=["therapy"])
    other_type = await factory.slot(provider, start=future(40), appointment_type="consultation")
    booking = await _book(client, auth, factory, other_type.id)
    entry_id = await _wait(client, auth, (await factory.patient("W", "W")).id)
    await _cancel(client, auth, booking)
    assert (await _entry(client, auth, entry_id))["status"] == "waiting"

    room = await client.post(
        f"{BASE}/resources", json={"resource": {"name": "Room 1", "kind": "room"}}, headers=auth
    )
    start = future(50)
    created = await client.post(
        SLOTS,
        json={
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
                "appointment_type": "therapy",
                "resource_kind": "room",
            }
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    roomed = created.json()["id"]
    # A new slot is a seat that opens: offered at once, the hold keeping the room.
    offered = await _entry(client, auth, entry_id)
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", roomed)
    hold = (await client.get(f"{HOLDS}/{offered['hold_id']}", headers=auth)).json()
    assert hold["resource_id"] == room.json()["id"]
