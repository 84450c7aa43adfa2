"""Booking requests: pending keeps its seat until confirmed, declined or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from models.booking.requests import expire_requests
from models.platform.entities import AuditEntry, AvailabilityEvent, Booking, Hold, Provider
from tests.bookings.helpers import BOOK_KEYS, book_body, stored_slot
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.graphql.helpers import gql

UTILIZATION = f"{BASE}/providers/utilization"
NOT_PENDING = {"errors": "Booking is no longer pending"}


async def _request(client: Any, auth: Any, slot_id: int, patient_id: int, **fields: Any) -> Any:
    body = book_body(slot_id, patient_id, status="pending", **fields)
    return await client.post(BOOKS, json=body, headers=auth)


async def _pass_expiry(session: Any, booking_id: int) -> None:
    """Time passing: the request's expiry (and its hold's) is behind us."""
    past = datetime.now(UTC) - timedelta(seconds=5)
    await session.execute(
        update(Booking).where(Booking.id == booking_id).values(pending_expires_at=past)
    )
    await session.execute(update(Hold).where(Hold.booking_id == booking_id).values(expires_at=past))
    await session.commit()


async def _event_types(session: Any, booking_id: int) -> list[str]:
    rows = await session.execute(
        select(AvailabilityEvent.type)
        .where(AvailabilityEvent.booking_id == booking_id)
        .order_by(AvailabilityEvent.id)
    )
    return list(rows.scalars())


async def test_pending_keeps_the_seat_until_confirmed(client, auth, factory, session):
    slot = await factory.slot()
    first, second = await factory.patient(), await factory.patient("Sam", "Lee")
    response = await _request(client, auth, slot.id, first.id)
    assert response.status_code == 201, response.text
    book = response.json()
    assert list(book) == BOOK_KEYS
    assert book["status"] == "pending"
    expires = datetime.fromisoformat(book["pending_expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    # The seat is taken: another booking is refused, the slot shows unavailable.
    other = await client.post(BOOKS, json=book_body(slot.id, second.id), headers=auth)
    assert (other.status_code, other.json()) == (409, {"errors": "Slot is not available"})
    shown = (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()
    assert (shown["available"], shown["booked_count"]) == (False, 0)

    confirmed = await client.post(f"{BOOKS}/{book['id']}/confirm", headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    stored = await stored_slot(session, slot.id)
    assert (stored.booked_count, stored.available) == (1, False)
    again = await client.post(f"{BOOKS}/{book['id']}/decline", headers=auth)
    assert (again.status_code, again.json()) == (409, {"errors": "Booking is no longer pending"})
    assert await _event_types(session, book["id"]) == ["booking.created", "booking.confirmed"]


async def test_decline_frees_the_seat(client, auth, factory, session):
    slot = await factory.slot()
    patient, other = await factory.patient(), await factory.patient("Sam", "Lee")
    book = (await _request(client, auth, slot.id, patient.id)).json()
    declined = await client.post(f"{BOOKS}/{book['id']}/decline", headers=auth)
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    stored = await stored_slot(session, slot.id)
    assert (stored.booked_count, stored.available) == (0, True)
    rebooked = await client.post(BOOKS, json=book_body(slot.id, other.id), headers=auth)
    assert rebooked.status_code == 201
    confirm = await client.post(f"{BOOKS}/{book['id']}/confirm", headers=auth)
    assert (confirm.status_code, confirm.json()) == (
        409,
        {"errors": "Booking is no longer pending"},
    )
    assert await _event_types(session, book["id"]) == ["booking.created", "booking.declined"]
    missing = await client.post(f"{BOOKS}/999999/confirm", headers=auth)
    assert missing.status_code == 404


async def test_expiry_is_seen_by_every_reader_without_a_job(client, auth, factory, session):
    provider = await factory.provider()
    day = future(48).replace(hour=9)
    slot = await factory.slot(provider, start=day)
    near = await factory.slot(provider, start=day + timedelta(hours=1))
    patient, other = await factory.patient(), await factory.patient("Sam", "Lee")
    book = (await _request(client, auth, slot.id, patient.id)).json()
    await session.execute(
        update(Provider)
        .where(Provider.id == provider.id)
        .values(max_bookings_per_day=1, buffer_after_minutes=30)
    )
    await session.commit()
    # While pending it counts against the daily cap (and the buffer) like a confirmed one.
    refused = await client.post(BOOKS, json=book_body(near.id, other.id), headers=auth)
    assert refused.status_code == 422
    assert (
        "exceeds the limit of 1 bookings per day" in refused.json()["errors"]["available_slot_id"]
    )
    params = {"start_date": day.date().isoformat(), "end_date": day.date().isoformat()}
    report = (await client.get(UTILIZATION, params=params, headers=auth)).json()
    assert report["totals"]["booked_slots"] == 1

    await _pass_expiry(session, book["id"])
    shown = (await client.get(f"{BOOKS}/{book['id']}", headers=auth)).json()
    assert shown["status"] == "expired"
    listed = await client.get(BOOKS, params={"status": "expired"}, headers=auth)
    assert [item["id"] for item in listed.json()] == [book["id"]]
    assert (await client.get(BOOKS, params={"status": "pending"}, headers=auth)).json() == []
    slot_now = (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()
    assert slot_now["available"] is True
    search = await client.get(
        f"{SLOTS}/search", params={"provider_id": provider.id, **params}, headers=auth
    )
    assert slot.id in [item["id"] for item in search.json()]
    report = (await client.get(UTILIZATION, params=params, headers=auth)).json()
    assert report["totals"]["booked_slots"] == 0
    # Neither the cap nor the buffer counts it any more.
    booked = await client.post(BOOKS, json=book_body(near.id, other.id), headers=auth)
    assert booked.status_code == 201, booked.text
    late = await client.post(f"{BOOKS}/{book['id']}/confirm", headers=auth)
    assert (late.status_code, late.json()) == (409, {"errors": "Booking is no longer pending"})
    # The sweeper writes it down once, for the event stream.
    assert await expire_requests(session) == 1
    assert await expire_requests(session) == 0
    assert await _event_types(session, book["id"]) == ["booking.created", "booking.expired"]
    # The patient may ask for the same slot again (the cap lifted: near took the day's one).
    await session.execute(
        update(Provider)
        .where(Provider.id == provider.id)
        .values(max_bookings_per_day=None, buffer_after_minutes=None)
    )
    await session.commit()
    again = await _request(client, auth, slot.id, patient.id)
    assert again.status_code == 201, again.text


async def test_request_fields_are_checked(client, auth, factory):
    slot = await factory.slot(start=future(30))
    patient = await factory.patient()
    cases = [
        ({"pending_expires_at": "soon"}, {"pending_expires_at": ["is invalid"]}),
        (
            {"pending_expires_at": iso(future(-1))},
            {"pending_expires_at": ["must be in the future"]},
        ),
        (
            {"pending_expires_at": iso(future(24 * 8))},
            {"pending_expires_at": ["must be at most 7 days from now"]},
        ),
        (
            {"pending_expires_at": iso(future(31))},
            {"pending_expires_at": ["must not be after the appointment starts"]},
        ),
    ]
    for fields, errors in cases:
        response = await _request(client, auth, slot.id, patient.id, **fields)
        assert (response.status_code, response.json()) == (422, {"errors": errors}), fields
    without = await client.post(
        BOOKS,
        json=book_body(slot.id, patient.id, pending_expires_at=iso(future(2))),
        headers=auth,
    )
    assert without.json() == {
        "errors": {"pending_expires_at": ["is only allowed with status pending"]}
    }
    # Not after the start: the default is the start when it comes sooner than 24 hours.
    soon = await factory.slot(start=future(3))
    book = (await _request(client, auth, soon.id, patient.id)).json()
    assert book["pending_expires_at"] == iso(soon.start_time)
    given = iso(future(2))
    other = await factory.slot(start=future(5))
    chosen = (await _request(client, auth, other.id, patient.id, pending_expires_at=given)).json()
    assert chosen["pending_expires_at"] == given


async def test_a_requests_own_hold_is_not_for_taking(client, auth, factory, session):
    slot = await factory.slot()
    patient = await factory.patient()
    book = (await _request(client, auth, slot.id, patient.id)).json()
    hold_id = (
        await session.execute(select(Hold.id).where(Hold.booking_id == book["id"]))
    ).scalar_one()
    released = await client.delete(f"{BASE}/holds/{hold_id}", headers=auth)
    assert released.status_code == 409
    stored = await client.get(f"{BOOKS}/{book['id']}", headers=auth)
    assert stored.json()["status"] == "pending"


CREATE = """
mutation($input: CreateBookInput!) {
  createBook(input: $input) { id status pendingExpiresAt }
}
"""
SETTLE = """
mutation($id: Int!) {
  confirmBook(id: $id) { id status }
}
"""
DECLINE = """
mutation($id: Int!) {
  declineBook(id: $id) { id status }
}
"""


async def test_graphql_matches_rest(client, auth, factory):
    """The same scenario through both faces: create pending, confirm, decline refused."""
    patient = await factory.patient()
    results: dict[str, Any] = {}
    for face in ("rest", "graphql"):
        slot = await factory.slot()
        if face == "rest":
            created = (await _request(client, auth, slot.id, patient.id)).json()
            book_id, status = created["id"], created["status"]
            confirm = await client.post(f"{BOOKS}/{book_id}/confirm", headers=auth)
            decline = await client.post(f"{BOOKS}/{book_id}/decline", headers=auth)
            results[face] = (
                status,
                confirm.json()["status"],
                decline.status_code,
                decline.json()["errors"],
            )
        else:
            variables = {
                "input": {"availableSlotId": slot.id, "patientId": patient.id, "status": "PENDING"}
            }
            created = (await gql(client, CREATE, variables, auth))["data"]["createBook"]
            assert created["pendingExpiresAt"] is not None
            confirm = await gql(client, SETTLE, {"id": created["id"]}, auth)
            decline = await gql(client, DECLINE, {"id": created["id"]}, auth)
            error = decline["errors"][0]
            results[face] = (
                created["status"].lower(),
                confirm["data"]["confirmBook"]["status"].lower(),
                error["extensions"]["status"] if "status" in error["extensions"] else 409,
                error["message"],
            )
            assert error["extensions"]["code"] == "CONFLICT"
    assert (
        results["rest"]
        == results["graphql"]
        == (
            "pending",
            "confirmed",
            409,
            "Booking is no longer pending",
        )
    )


async def test_new_posts_take_an_idempotency_key_and_write_audit(client, auth, factory, session):
    slot = await factory.slot()
    patient = await factory.patient()
    book = (await _request(client, auth, slot.id, patient.id)).json()
    headers = {**auth, "Idempotency-Key": "confirm-once"}
    first = await client.post(f"{BOOKS}/{book['id']}/confirm", headers=headers)
    retry = await client.post(f"{BOOKS}/{book['id']}/confirm", headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    entries = (
        await session.execute(
            select(AuditEntry.action, AuditEntry.changed_fields).where(
                AuditEntry.entity == "booking", AuditEntry.entity_id == book["id"]
            )
        )
    ).all()
    assert ("update", ["status"]) in [(action, fields) for action, fields in entries]
