"""Holds: a seat kept until it expires, is released or becomes a booking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from models.platform.entities import AuditEntry, Hold
from tests.bookings.helpers import book_body, stored_slot
from tests.factories import BASE, BOOKS, SLOTS, future
from tests.scheduling.helpers import HOLDS, NOT_AVAILABLE, hold_body

HOLD_KEYS = [
    "id",
    "available_slot_id",
    "patient_id",
    "status",
    "expires_at",
    "created_at",
    "updated_at",
    "resource_id",
]


async def _expire(session, hold_id: int) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(Hold).where(Hold.id == hold_id).values(expires_at=past))
    await session.commit()


async def test_a_hold_takes_the_seat_until_released(client, auth, factory, session, db_count):
    slot = await factory.slot()
    patient = (await factory.patient()).id
    other = (await factory.patient("Sam", "Okafor")).id
    created = await client.post(HOLDS, json=hold_body(slot.id, patient), headers=auth)
    assert created.status_code == 201, created.text
    hold = created.json()
    assert list(hold) == HOLD_KEYS
    assert (hold["status"], hold["patient_id"], hold["available_slot_id"]) == (
        "held",
        patient,
        slot.id,
    )
    expires = datetime.fromisoformat(hold["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=300)

    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()["available"] is False
    taken = await client.post(BOOKS, json=book_body(slot.id, other), headers=auth)
    assert taken.status_code == 409 and taken.json() == NOT_AVAILABLE
    second = await client.post(HOLDS, json=hold_body(slot.id), headers=auth)
    assert second.status_code == 409 and second.json() == NOT_AVAILABLE
    deleting = await client.delete(f"{SLOTS}/{slot.id}", headers=auth)
    assert deleting.status_code == 409
    assert deleting.json() == {"errors": "Slot has an active hold"}

    released = await client.delete(f"{HOLDS}/{hold['id']}", headers=auth)
    assert released.status_code == 204
    again = await client.delete(f"{HOLDS}/{hold['id']}", headers=auth)
    assert again.status_code == 204
    shown = (await client.get(f"{HOLDS}/{hold['id']}", headers=auth)).json()
    assert shown["status"] == "released"
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()["available"] is True
    assert (
        await client.post(BOOKS, json=book_body(slot.id, other), headers=auth)
    ).status_code == 201
    assert await db_count("holds") == 1


async def test_a_hold_becomes_the_booking(client, auth, factory, session, db_count):
    slot = await factory.slot()
    patient = (await factory.patient()).id
    hold = (await client.post(HOLDS, json=hold_body(slot.id, patient), headers=auth)).json()
    booked = await client.post(
        BOOKS, json=book_body(slot.id, patient, hold_id=hold["id"]), headers=auth
    )
    assert booked.status_code == 201, booked.text
    assert (await client.get(f"{HOLDS}/{hold['id']}", headers=auth)).json()["status"] == "booked"
    stored = await stored_slot(session, slot.id)
    assert (stored.booked_count, stored.available) == (1, False)
    used = await client.post(
        BOOKS, json=book_body(slot.id, patient, hold_id=hold["id"]), headers=auth
    )
    assert used.status_code == 409 and used.json() == {"errors": "Hold is no longer active"}
    release = await client.delete(f"{HOLDS}/{hold['id']}", headers=auth)
    assert release.status_code == 409
    assert await db_count("bookings") == 1
    hold_row = await session.get(Hold, hold["id"], populate_existing=True)
    assert hold_row is not None and hold_row.booking_id == booked.json()["id"]


async def test_hold_refusals(client, auth, factory, session, db_count):
    slot = await factory.slot(capacity=2)
    elsewhere = await factory.slot(start=slot.start_time + timedelta(hours=3))
    patient = (await factory.patient()).id
    other = (await factory.patient("Sam", "Okafor")).id
    hold = (await client.post(HOLDS, json=hold_body(slot.id, patient), headers=auth)).json()

    unknown = await client.post(
        BOOKS, json=book_body(slot.id, patient, hold_id=999999), headers=auth
    )
    assert unknown.status_code == 422
    assert unknown.json() == {"errors": {"hold_id": ["must exist"]}}
    wrong_slot = await client.post(
        BOOKS, json=book_body(elsewhere.id, patient, hold_id=hold["id"]), headers=auth
    )
    assert wrong_slot.json() == {"errors": {"hold_id": ["does not match"]}}
    wrong_patient = await client.post(
        BOOKS, json=book_body(slot.id, other, hold_id=hold["id"]), headers=auth
    )
    assert wrong_patient.status_code == 422
    assert wrong_patient.json() == {"errors": {"hold_id": ["does not match"]}}

    for seconds, message in (
        (29, "must be greater than or equal to 30"),
        (3601, "must be less than or equal to 3600"),
    ):
        response = await client.post(
            HOLDS, json=hold_body(slot.id, duration_seconds=seconds), headers=auth
        )
        assert response.status_code == 422
        assert response.json() == {"errors": {"duration_seconds": [message]}}
    missing = await client.post(HOLDS, json=hold_body(999999), headers=auth)
    assert missing.json() == {"errors": {"available_slot_id": ["must exist"]}}
    assert await db_count("holds") == 1
    assert await db_count("bookings") == 0


async def test_an_expired_hold_stops_counting_with_no_job(client, auth, factory, session):
    slot = await factory.slot()
    patient = (await factory.patient()).id
    hold = (
        await client.post(
            HOLDS, json=hold_body(slot.id, patient, duration_seconds=30), headers=auth
        )
    ).json()
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()["available"] is False
    await _expire(session, hold["id"])

    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()["available"] is True
    listed = await client.get(SLOTS, params={"available": "true"}, headers=auth)
    assert [item["id"] for item in listed.json()] == [slot.id]
    shown = (await client.get(f"{HOLDS}/{hold['id']}", headers=auth)).json()
    assert shown["status"] == "expired"
    expired = await client.get(HOLDS, params={"status": "expired"}, headers=auth)
    assert [item["id"] for item in expired.json()] == [hold["id"]]
    assert expired.headers["X-Total-Count"] == "1"
    held = await client.get(HOLDS, params={"status": "held"}, headers=auth)
    assert held.json() == [] and held.headers["X-Total-Count"] == "0"
    late = await client.post(
        BOOKS, json=book_body(slot.id, patient, hold_id=hold["id"]), headers=auth
    )
    assert late.status_code == 409 and late.json() == {"errors": "Hold is no longer active"}
    assert (await client.delete(f"{HOLDS}/{hold['id']}", headers=auth)).status_code == 204
    # The slot can be deleted once its hold no longer counts; the spent hold goes with it.
    assert (await client.delete(f"{SLOTS}/{slot.id}", headers=auth)).status_code == 204


async def test_list_filters_pagination_and_audit(client, auth, factory, session):
    slot = await factory.slot(capacity=5)
    patient = (await factory.patient()).id
    ids = []
    for _ in range(3):
        response = await client.post(HOLDS, json=hold_body(slot.id, patient), headers=auth)
        ids.append(response.json()["id"])
    await client.post(HOLDS, json=hold_body(slot.id), headers=auth)
    page = await client.get(HOLDS, params={"patient_id": patient, "page_size": 2}, headers=auth)
    assert [item["id"] for item in page.json()] == [ids[2], ids[1]]
    assert page.headers["X-Total-Count"] == "3" and 'rel="next"' in page.headers["Link"]
    bad = await client.get(HOLDS, params={"status": "waiting"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json() == {"errors": {"status": ["is not included in the list"]}}
    await session.rollback()
    actions = (
        (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.entity == "hold").order_by(AuditEntry.id)
            )
        )
        .scalars()
        .all()
    )
    assert actions == ["create"] * 4


async def test_batch_and_series_deletes_keep_held_slots(client, auth, factory, db_count):
    provider = await factory.provider()
    provider_id = provider.id
    held = (await factory.slot(provider)).id
    free = (await factory.slot(provider, start=future(60))).id
    assert (await client.post(HOLDS, json=hold_body(held), headers=auth)).status_code == 201
    response = await client.request(
        "DELETE",
        f"{BASE}/providers/available_slots/destroy_in_batch",
        json={"provider_id": provider_id, "slot_ids": [held, free]},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["deleted_slots"], body["slot_ids"]) == (1, [free])
    assert body["errors"] == [{"id": held, "errors": "Slot has an active hold"}]
    assert await db_count("available_slots") == 1
