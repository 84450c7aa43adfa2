"""GET and PUT /books/{id}: cancel frees the slot, rebooking, status rules, slot rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.bookings.conftest import CANARY
from tests.bookings.helpers import (
    BOOK_KEYS,
    book_body,
    move_slot_to_past,
    stored_booking,
    stored_slot,
)
from tests.factories import BOOKS, SLOTS, iso


async def test_get_returns_the_book_with_notes(client, auth, factory):
    booking = await factory.booking(notes=CANARY)
    response = await client.get(f"{BOOKS}/{booking.id}", headers=auth)
    assert response.status_code == 200
    assert list(response.json()) == BOOK_KEYS
    assert response.json()["notes"] == CANARY


@pytest.mark.parametrize("path", ["999999", "abc", "0"])
async def test_unknown_or_bad_id_is_404(client, auth, path):
    for method in ("get", "put"):
        kwargs = {"json": {"book": {"status": "cancelled"}}} if method == "put" else {}
        response = await getattr(client, method)(f"{BOOKS}/{path}", headers=auth, **kwargs)
        assert response.status_code == 404
        assert response.json() == {"errors": "Not found"}


async def test_cancel_frees_the_slot_and_rebooking_works(client, auth, factory, db_count):
    slot = await factory.slot()
    first = await factory.patient()
    second = await factory.patient("Sam", "Okafor")
    slot_id, first_id, second_id = slot.id, first.id, second.id
    created = await client.post(
        BOOKS, json=book_body(slot_id, first_id, notes=CANARY), headers=auth
    )
    book_id = created.json()["id"]

    cancel = {"book": {"status": "cancelled", "cancellation_reason": "Patient request"}}
    response = await client.put(f"{BOOKS}/{book_id}", json=cancel, headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert list(response.json()) == BOOK_KEYS
    stored = await stored_booking(factory.session, book_id)
    assert stored.cancellation_reason == "Patient request"
    assert stored.cancelled_at is not None
    assert (await stored_slot(factory.session, slot_id)).available is True

    rebooked = await client.post(BOOKS, json=book_body(slot_id, second_id), headers=auth)
    assert rebooked.status_code == 201, rebooked.text
    assert (await stored_slot(factory.session, slot_id)).available is False
    assert await db_count("bookings", "status = 'confirmed'") == 1
    assert await db_count("bookings", "status = 'cancelled'") == 1

    # The cancelled booking keeps no hold: cancelling it again changes nothing.
    again = await client.put(
        f"{BOOKS}/{book_id}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert again.status_code == 200
    assert (await stored_slot(factory.session, slot_id)).available is False


async def test_many_cancellations_never_block(client, auth, factory, db_count):
    slot = await factory.slot()
    patient = await factory.patient()
    for _ in range(3):
        created = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
        assert created.status_code == 201
        cancelled = await client.put(
            f"{BOOKS}/{created.json()['id']}", json={"book": {"status": "cancelled"}}, headers=auth
        )
        assert cancelled.status_code == 200
    assert await db_count("bookings", "status = 'cancelled'") == 3
    final = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert final.status_code == 201


@pytest.mark.parametrize("status", ["no_show", "completed"])
async def test_no_show_and_completed_only_once_started(client, auth, factory, status):
    slot = await factory.slot()
    booking = await factory.booking(slot)
    body = {"book": {"status": status}}

    early = await client.put(f"{BOOKS}/{booking.id}", json=body, headers=auth)
    assert early.status_code == 422
    assert early.json() == {
        "errors": {"status": [f"can't be {status} before the appointment starts"]}
    }
    assert (await stored_booking(factory.session, booking.id)).status.value == "confirmed"

    await move_slot_to_past(factory.session, slot.id)
    done = await client.put(f"{BOOKS}/{booking.id}", json=body, headers=auth)
    assert done.status_code == 200
    assert done.json()["status"] == status
    # The slot stays taken: the appointment happened (or was missed), it was not freed.
    assert (await stored_slot(factory.session, slot.id)).available is False


@pytest.mark.parametrize(
    ("start", "target", "message"),
    [
        ("cancelled", "confirmed", "can't change from cancelled to confirmed"),
        ("cancelled", "completed", "can't change from cancelled to completed"),
        ("completed", "cancelled", "can't change from completed to cancelled"),
        ("no_show", "completed", "can't change from no_show to completed"),
    ],
)
async def test_other_transitions_are_422(client, auth, factory, start, target, message):
    slot = await factory.slot()
    booking = await factory.booking(slot)
    if start == "cancelled":
        await client.put(f"{BOOKS}/{booking.id}", json={"book": {"status": start}}, headers=auth)
    else:
        await move_slot_to_past(factory.session, slot.id)
        await client.put(f"{BOOKS}/{booking.id}", json={"book": {"status": start}}, headers=auth)
    response = await client.put(
        f"{BOOKS}/{booking.id}", json={"book": {"status": target}}, headers=auth
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"status": [message]}}
    assert (await stored_booking(factory.session, booking.id)).status.value == start


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "lost"}, {"status": ["is not included in the list"]}),
        ({"status": None}, {"status": ["can't be blank"]}),
        (
            {"cancellation_reason": "why"},
            {"cancellation_reason": ["is only allowed when cancelling"]},
        ),
        (
            {"status": "cancelled", "cancellation_reason": "r" * 501},
            {"cancellation_reason": ["is too long (maximum is 500 characters)"]},
        ),
        ({"notes": "n" * 2001}, {"notes": ["is too long (maximum is 2000 characters)"]}),
    ],
)
async def test_update_validation_rows(client, auth, factory, fields, expected):
    slot = await factory.slot()
    booking = await factory.booking(slot, notes=CANARY)
    response = await client.put(f"{BOOKS}/{booking.id}", json={"book": fields}, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}
    stored = await stored_booking(factory.session, booking.id)
    assert stored.status.value == "confirmed" and stored.notes == CANARY
    assert (await stored_slot(factory.session, slot.id)).available is False


async def test_notes_can_be_edited(client, auth, factory):
    booking = await factory.booking(notes="first")
    response = await client.put(
        f"{BOOKS}/{booking.id}", json={"book": {"notes": CANARY}}, headers=auth
    )
    assert response.status_code == 200
    assert response.json()["notes"] == CANARY
    assert response.json()["status"] == "confirmed"


async def test_slot_with_active_booking_cannot_be_deleted_or_moved(client, auth, factory, db_count):
    slot = await factory.slot()
    booking = await factory.booking(slot)
    conflict = {"errors": "Slot has an active booking"}

    deleted = await client.delete(f"{SLOTS}/{slot.id}", headers=auth)
    assert deleted.status_code == 409 and deleted.json() == conflict
    new_start = slot.start_time + timedelta(days=1)
    move = {
        "available_slot": {
            "start_time": iso(new_start),
            "end_time": iso(new_start + timedelta(hours=1)),
        }
    }
    moved = await client.put(f"{SLOTS}/{slot.id}", json=move, headers=auth)
    assert moved.status_code == 409 and moved.json() == conflict
    reopened = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"available": True}}, headers=auth
    )
    # Reopening lifts an admin's close only: the booked seat keeps the slot unavailable.
    assert reopened.status_code == 200 and reopened.json()["available"] is False
    assert await db_count("available_slots") == 1

    await client.put(f"{BOOKS}/{booking.id}", json={"book": {"status": "cancelled"}}, headers=auth)
    assert (await client.put(f"{SLOTS}/{slot.id}", json=move, headers=auth)).status_code == 200
    assert (await client.delete(f"{SLOTS}/{slot.id}", headers=auth)).status_code == 204
    assert await db_count("available_slots") == 0
    assert await db_count("bookings") == 0
