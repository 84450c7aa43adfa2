"""POST /books: the documented response, every validation row, and the 409s."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from models.booking import bookings as booking_ops
from models.platform.entities import AvailableSlot
from models.scheduling.people import update_patient
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import BOOK_KEYS, book_body, move_slot_to_past, stored_slot
from tests.factories import BOOKS


async def test_create_returns_documented_book_and_takes_the_slot(client, auth, factory, db_count):
    slot = await factory.slot(appointment_type="therapy")
    patient = await factory.patient()
    body = book_body(slot.id, patient.id, appointment_type="consultation", notes=CANARY)

    response = await client.post(BOOKS, json=body, headers=auth)

    assert response.status_code == 201, response.text
    book = response.json()
    assert list(book) == BOOK_KEYS
    assert book["available_slot_id"] == slot.id
    assert book["patient_id"] == patient.id
    assert book["appointment_type"] == "consultation"
    assert book["notes"] == CANARY
    assert book["status"] == "confirmed"
    assert book["created_at"].endswith("Z") and book["created_at"] == book["updated_at"]
    assert await db_count("bookings") == 1
    assert (await stored_slot(factory.session, slot.id)).available is False


async def test_appointment_type_defaults_to_the_slots(client, auth, factory):
    slot = await factory.slot(appointment_type="follow_up")
    patient = await factory.patient()
    response = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["appointment_type"] == "follow_up"
    assert response.json()["notes"] is None


async def test_server_owned_fields_are_ignored(client, auth, factory):
    slot = await factory.slot()
    patient = await factory.patient()
    body = book_body(slot.id, patient.id, id=999, status="completed", created_at="2001-01-01")
    response = await client.post(BOOKS, json=body, headers=auth)
    assert response.status_code == 201
    assert response.json()["status"] == "confirmed"
    assert response.json()["id"] != 999


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"available_slot_id": ["can't be blank"], "patient_id": ["can't be blank"]}),
        (
            {"available_slot_id": None, "patient_id": None},
            {"available_slot_id": ["can't be blank"], "patient_id": ["can't be blank"]},
        ),
        ({"available_slot_id": "abc"}, {"available_slot_id": ["is invalid"]}),
        ({"available_slot_id": 10**6}, {"available_slot_id": ["must exist"]}),
        ({"patient_id": 10**6}, {"patient_id": ["must exist"]}),
        ({"appointment_type": "surgery"}, {"appointment_type": ["is not included in the list"]}),
        ({"notes": "x" * 2001}, {"notes": ["is too long (maximum is 2000 characters)"]}),
        ({"notes": 42}, {"notes": ["is invalid"]}),
    ],
)
async def test_validation_rows(client, auth, factory, db_count, fields, expected):
    slot = await factory.slot()
    patient = await factory.patient()
    body = {"book": {"available_slot_id": slot.id, "patient_id": patient.id, **fields}}
    if not fields:
        body = {"book": {}}

    response = await client.post(BOOKS, json=body, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json() == {"errors": expected}
    assert await db_count("bookings") == 0
    assert (await stored_slot(factory.session, slot.id)).available is True


async def test_notes_of_exactly_the_limit_are_accepted(client, auth, factory):
    slot = await factory.slot()
    patient = await factory.patient()
    body = book_body(slot.id, patient.id, notes=CANARY + "x" * (2000 - len(CANARY)))
    response = await client.post(BOOKS, json=body, headers=auth)
    assert response.status_code == 201
    assert len(response.json()["notes"]) == 2000


async def test_errors_are_reported_together(client, auth, db_count):
    body = book_body(10**6, 10**6, appointment_type="nope", notes="y" * 2001)
    response = await client.post(BOOKS, json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "available_slot_id": ["must exist"],
            "patient_id": ["must exist"],
            "appointment_type": ["is not included in the list"],
            "notes": ["is too long (maximum is 2000 characters)"],
        }
    }
    assert await db_count("bookings") == 0


async def test_a_slot_that_has_started_cannot_be_booked(client, auth, factory, db_count):
    slot = await factory.slot()
    patient = await factory.patient()
    await move_slot_to_past(factory.session, slot.id)
    response = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"available_slot_id": ["has already started"]}}
    assert await db_count("bookings") == 0


async def test_an_inactive_patient_cannot_be_booked(client, auth, factory, db_count):
    slot = await factory.slot()
    patient = await factory.patient()
    await update_patient(factory.session, patient.id, active=False)
    response = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"patient_id": ["is inactive"]}}
    assert await db_count("bookings") == 0


async def test_booked_slot_is_409(client, auth, factory, db_count):
    slot = await factory.slot()
    await factory.booking(slot, notes=CANARY)
    other = await factory.patient("Sam", "Okafor")
    response = await client.post(BOOKS, json=book_body(slot.id, other.id), headers=auth)
    assert response.status_code == 409
    assert response.json() == {"errors": "Slot is not available"}
    assert await db_count("bookings") == 1


async def test_slot_blocked_by_an_admin_is_409(client, auth, factory, db_count):
    slot = await factory.slot(available=False)
    patient = await factory.patient()
    response = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert response.status_code == 409
    assert response.json() == {"errors": "Slot is not available"}
    assert await db_count("bookings") == 0


async def test_database_index_refusal_is_422_not_500(
    client, auth, factory, session, db_count, monkeypatch
):
    """A seat counter out of step with the bookings and the patient check skipped: the
    unique index on (slot, patient) decides."""
    slot = await factory.slot(capacity=2)
    patient = await factory.patient()
    await factory.booking(slot, patient)
    await session.execute(
        update(AvailableSlot).where(AvailableSlot.id == slot.id).values(booked_count=0)
    )
    await session.commit()
    monkeypatch.setattr(booking_ops, "_patient_booked", _never_booked)
    body = book_body(slot.id, patient.id, notes=CANARY)
    response = await client.post(BOOKS, json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"patient_id": ["has already been taken"]}}
    assert await db_count("bookings") == 1
    # The seat taken by the refused booking was rolled back with the insert.
    assert (await stored_slot(session, slot.id)).booked_count == 0


async def _never_booked(*_args: object) -> bool:
    return False


async def test_auth_is_required(client, factory, db_count):
    slot = await factory.slot()
    patient = await factory.patient()
    body = book_body(slot.id, patient.id)
    assert (await client.post(BOOKS, json=body)).json() == {"errors": "Authentication required"}
    token = await factory.token(role="patient")
    response = await client.post(BOOKS, json=body, headers={"X-User-Token": token})
    assert response.status_code == 403
    assert response.json() == {"errors": "Admin access required"}
    assert await db_count("bookings") == 0
