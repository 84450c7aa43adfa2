"""Waitlists: a seat that opens is offered to the earliest matching entry through a hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from models.booking.holds import expire_holds
from models.platform.entities import AuditEntry, AvailabilityEvent, Hold
from tests.bookings.helpers import book_body, stored_slot
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.graphql.helpers import extensions, gql

WAITLIST = f"{BASE}/waitlist_entries"
HOLDS = f"{BASE}/holds"
ENTRY_KEYS = [
    "id",
    "patient_id",
    "provider_id",
    "appointment_type",
    "start_date",
    "end_date",
    "offer_seconds",
    "status",
    "hold_id",
    "offered_slot_id",
    "offer_count",
    "created_at",
    "updated_at",
]


def _days(**fields: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=10)).isoformat(),
        **fields,
    }


async def _wait(client: Any, auth: Any, patient_id: int, **fields: Any) -> dict[str, Any]:
    body = {"waitlist_entry": {"patient_id": patient_id, **_days(**fields)}}
    response = await client.post(WAITLIST, json=body, headers=auth)
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


async def _entry(client: Any, auth: Any, entry_id: int) -> dict[str, Any]:
    response = await client.get(f"{WAITLIST}/{entry_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _booked(client: Any, auth: Any, factory: Any, slot: Any) -> int:
    patient = await factory.patient("Booked", "Patient")
    response = await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    assert response.status_code == 201, response.text
    booking_id: int = response.json()["id"]
    return booking_id


async def _cancel(client: Any, auth: Any, booking_id: int) -> None:
    response = await client.put(
        f"{BOOKS}/{booking_id}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert response.status_code == 200, response.text


async def test_fields_are_checked(client, auth, factory):
    patient = await factory.patient()
    cases = [
        ({}, {"patient_id": ["can't be blank"], "start_date": ["can't be blank"]}),
        (
            {"patient_id": patient.id, "start_date": "2030-01-05", "end_date": "2030-01-01"},
            {"end_date": ["must be on or after start date"]},
        ),
        (
            {"patient_id": 10**6, **_days(offer_seconds=5)},
            {
                "patient_id": ["must exist"],
                "offer_seconds": ["must be greater than or equal to 60"],
            },
        ),
        (
            {"patient_id": patient.id, **_days(provider_id=10**6, appointment_type="surgery")},
            {
                "provider_id": ["must exist"],
                "appointment_type": ["is not included in the list"],
            },
        ),
        (
            {"patient_id": patient.id, "start_date": "2020-01-01", "end_date": "2020-01-02"},
            {"end_date": ["must not be in the past"]},
        ),
    ]
    for fields, errors in cases:
        response = await client.post(WAITLIST, json={"waitlist_entry": fields}, headers=auth)
        assert response.status_code == 422, fields
        body = response.json()["errors"]
        for name, messages in errors.items():
            assert body[name] == messages, (fields, body)


async def test_a_cancelled_seat_goes_to_the_earliest_matching_entry(client, auth, factory, session):
    provider, elsewhere = await factory.provider(), await factory.provider("Omar", "Haddad")
    slot = await factory.slot(provider, appointment_type="therapy")
    booking_id = await _booked(client, auth, factory, slot)
    other_provider = await _wait(
        client, auth, (await factory.patient("A", "A")).id, provider_id=elsewhere.id
    )
    other_type = await _wait(
        client, auth, (await factory.patient("B", "B")).id, appointment_type="consultation"
    )
    first_patient = await factory.patient("C", "C")
    first = await _wait(client, auth, first_patient.id, provider_id=provider.id)
    second = await _wait(client, auth, (await factory.patient("D", "D")).id)
    assert list(first) == ENTRY_KEYS
    assert (first["status"], first["offer_seconds"], first["hold_id"]) == ("waiting", 900, None)

    await _cancel(client, auth, booking_id)

    offered = await _entry(client, auth, first["id"])
    assert (offered["status"], offered["offered_slot_id"], offered["offer_count"]) == (
        "offered",
        slot.id,
        1,
    )
    for entry in (other_provider, other_type, second):
        assert (await _entry(client, auth, entry["id"]))["status"] == "waiting"
    hold = (await client.get(f"{HOLDS}/{offered['hold_id']}", headers=auth)).json()
    assert (hold["status"], hold["patient_id"], hold["available_slot_id"]) == (
        "held",
        first_patient.id,
        slot.id,
    )
    expires = datetime.fromisoformat(hold["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=800) < expires - datetime.now(UTC) <= timedelta(seconds=900)
    # The seat is the patient's for now: nobody else books it.
    other = await factory.patient("E", "E")
    refused = await client.post(BOOKS, json=book_body(slot.id, other.id), headers=auth)
    assert refused.status_code == 409
    # The event names ids only.
    event = (
        await session.execute(
            select(AvailabilityEvent).where(AvailabilityEvent.type == "waitlist.offered")
        )
    ).scalar_one()
    assert (event.waitlist_entry_id, event.hold_id, event.slot_id) == (
        first["id"],
        offered["hold_id"],
        slot.id,
    )
    assert (event.booking_id, event.start_time) == (None, None)

    # Booking with the hold fulfils the entry.
    taken = await client.post(
        BOOKS,
        json=book_body(slot.id, first_patient.id, hold_id=offered["hold_id"]),
        headers=auth,
    )
    assert taken.status_code == 201, taken.text
    assert (await _entry(client, auth, first["id"]))["status"] == "fulfilled"
    assert (await _entry(client, auth, second["id"]))["status"] == "waiting"


async def test_an_offer_not_taken_passes_to_the_next_entry(client, auth, factory, session):
    slot = await factory.slot()
    booking_id = await _booked(client, auth, factory, slot)
    first = await _wait(client, auth, (await factory.patient("A", "A")).id)
    second = await _wait(client, auth, (await factory.patient("B", "B")).id)
    third = await _wait(client, auth, (await factory.patient("C", "C")).id)
    await _cancel(client, auth, booking_id)
    offer = await _entry(client, auth, first["id"])

    # Released by the patient: lapses, and the seat goes on at once.
    released = await client.delete(f"{HOLDS}/{offer['hold_id']}", headers=auth)
    assert released.status_code == 204
    assert (await _entry(client, auth, first["id"]))["status"] == "lapsed"
    passed = await _entry(client, auth, second["id"])
    assert (passed["status"], passed["offered_slot_id"]) == ("offered", slot.id)

    # Expired: the sweeper passes it on.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(Hold).where(Hold.id == passed["hold_id"]).values(expires_at=past))
    await session.commit()
    assert await expire_holds(session) == 1
    assert (await _entry(client, auth, second["id"]))["status"] == "lapsed"
    last = await _entry(client, auth, third["id"])
    assert (last["status"], last["offered_slot_id"]) == ("offered", slot.id)

    # Taken off the waitlist while offered: released, and nobody is left to offer it to.
    assert (await client.delete(f"{WAITLIST}/{third['id']}", headers=auth)).status_code == 204
    assert (await _entry(client, auth, third["id"]))["status"] == "cancelled"
    assert (await stored_slot(session, slot.id)).available is True
    assert (await client.delete(f"{WAITLIST}/{third['id']}", headers=auth)).status_code == 204
    assert (await client.delete(f"{WAITLIST}/999999", headers=auth)).status_code == 404


async def test_a_patient_holds_one_offer_at_a_time(client, auth, factory):
    provider = await factory.provider()
    first_slot = await factory.slot(provider, start=future(30))
    second_slot = await factory.slot(provider, start=future(32))
    bookings = [await _booked(client, auth, factory, slot) for slot in (first_slot, second_slot)]
    twice = await factory.patient("A", "A")
    early = await _wait(client, auth, twice.id)
    again = await _wait(client, auth, twice.id)
    other = await _wait(client, auth, (await factory.patient("B", "B")).id)
    for booking_id in bookings:
        await _cancel(client, auth, booking_id)
    assert (await _entry(client, auth, early["id"]))["offered_slot_id"] == first_slot.id
    assert (await _entry(client, auth, again["id"]))["status"] == "waiting"
    assert (await _entry(client, auth, other["id"]))["offered_slot_id"] == second_slot.id


async def test_seats_opened_by_requests_and_capacity(client, auth, factory):
    slot = await factory.slot()
    requester = await factory.patient("R", "R")
    request = await client.post(
        BOOKS, json=book_body(slot.id, requester.id, status="pending"), headers=auth
    )
    first = await _wait(client, auth, (await factory.patient("A", "A")).id)
    second = await _wait(client, auth, (await factory.patient("B", "B")).id)
    declined = await client.post(f"{BOOKS}/{request.json()['id']}/decline", headers=auth)
    assert declined.status_code == 200
    assert (await _entry(client, auth, first["id"]))["status"] == "offered"
    # One more seat: offered to the next.
    raised = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"capacity": 2}}, headers=auth
    )
    assert raised.status_code == 200, raised.text
    assert (await _entry(client, auth, second["id"]))["status"] == "offered"


async def test_list_and_graphql_twins(client, auth, factory):
    slot = await factory.slot()
    booking_id = await _booked(client, auth, factory, slot)
    patient = await factory.patient("A", "A")
    today = date.today()
    created = await gql(
        client,
        """mutation($input: CreateWaitlistEntryInput!) {
          createWaitlistEntry(input: $input) { id status startDate endDate offerSeconds }
        }""",
        {
            "input": {
                "patientId": patient.id,
                "startDate": today.isoformat(),
                "endDate": (today + timedelta(days=5)).isoformat(),
                "offerSeconds": 600,
            }
        },
        auth,
    )
    entry = created["data"]["createWaitlistEntry"]
    assert (entry["status"], entry["offerSeconds"]) == ("WAITING", 600)
    rest = await _entry(client, auth, entry["id"])
    assert (rest["start_date"], rest["end_date"]) == (entry["startDate"], entry["endDate"])
    await _cancel(client, auth, booking_id)
    read = await gql(
        client,
        """query($id: Int!) {
          waitlistEntry(id: $id) { status holdId offeredSlotId }
          waitlistEntries(filter: {status: OFFERED}) { edges { node { id } } }
        }""",
        {"id": entry["id"]},
        auth,
    )
    data = read["data"]
    assert data["waitlistEntry"]["status"] == "OFFERED"
    assert data["waitlistEntry"]["offeredSlotId"] == slot.id
    assert [edge["node"]["id"] for edge in data["waitlistEntries"]["edges"]] == [entry["id"]]
    listed = await client.get(WAITLIST, params={"status": "offered"}, headers=auth)
    assert [item["id"] for item in listed.json()] == [entry["id"]]
    assert listed.json()[0]["hold_id"] == data["waitlistEntry"]["holdId"]
    deleted = await gql(
        client,
        "mutation($id: Int!) { deleteWaitlistEntry(id: $id) { id status } }",
        {"id": entry["id"]},
        auth,
    )
    assert deleted["data"]["deleteWaitlistEntry"] == {"id": entry["id"], "status": "CANCELLED"}
    bad = await client.get(WAITLIST, params={"status": "nope"}, headers=auth)
    assert bad.json() == {"errors": {"status": ["is not included in the list"]}}


async def test_create_takes_an_idempotency_key_and_writes_audit(client, auth, factory, session):
    patient = await factory.patient()
    body = {"waitlist_entry": {"patient_id": patient.id, **_days()}}
    headers = {**auth, "Idempotency-Key": "wait-once"}
    first = await client.post(WAITLIST, json=body, headers=headers)
    retry = await client.post(WAITLIST, json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.headers.get("idempotent-replayed") == "true"
    listed = await client.get(WAITLIST, params={"patient_id": patient.id}, headers=auth)
    assert [entry["id"] for entry in listed.json()] == [first.json()["id"]]
    audited = (
        await session.execute(
            select(AuditEntry.action).where(
                AuditEntry.entity == "waitlist_entry", AuditEntry.entity_id == first.json()["id"]
            )
        )
    ).scalars()
    assert list(audited) == ["create"]


async def test_a_lifted_time_off_and_a_new_slot_are_offered(client, auth, factory):
    provider = await factory.provider()
    start = future(40)
    slot = await factory.slot(provider, start=start)
    body = {
        "time_off": {
            "provider_id": provider.id,
            "start_time": iso(start - timedelta(hours=1)),
            "end_time": iso(start + timedelta(hours=2)),
        }
    }
    time_off = await client.post(f"{BASE}/time_offs", json=body, headers=auth)
    assert time_off.status_code == 201, time_off.text
    first = await _wait(client, auth, (await factory.patient("A", "A")).id, provider_id=provider.id)
    second = await _wait(
        client, auth, (await factory.patient("B", "B")).id, provider_id=provider.id
    )
    lifted = await client.delete(f"{BASE}/time_offs/{time_off.json()['id']}", headers=auth)
    assert lifted.status_code == 204
    offered = await _entry(client, auth, first["id"])
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", slot.id)
    new_slot = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start + timedelta(hours=5)),
            "end_time": iso(start + timedelta(hours=6)),
        }
    }
    created = await client.post(SLOTS, json=new_slot, headers=auth)
    assert created.status_code == 201, created.text
    offered = await _entry(client, auth, second["id"])
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", created.json()["id"])


async def test_a_reschedule_away_offers_the_seat_it_left(client, auth, factory):
    provider = await factory.provider()
    left = await factory.slot(provider, start=future(30))
    target = await factory.slot(provider, start=future(33))
    booking_id = await _booked(client, auth, factory, left)
    entry = await _wait(client, auth, (await factory.patient("A", "A")).id)
    moved = await client.post(
        f"{BOOKS}/{booking_id}/reschedule",
        json={"book": {"available_slot_id": target.id}},
        headers=auth,
    )
    assert moved.status_code == 200, moved.text
    offered = await _entry(client, auth, entry["id"])
    assert (offered["status"], offered["offered_slot_id"]) == ("offered", left.id)


async def test_both_faces_refuse_alike(client, auth, factory):
    patient = await factory.patient()
    today = datetime.now(UTC).date()
    fields = {
        "patient_id": patient.id,
        "start_date": (today + timedelta(days=3)).isoformat(),
        "end_date": today.isoformat(),
        "offer_seconds": 10**6,
    }
    rest = await client.post(WAITLIST, json={"waitlist_entry": fields}, headers=auth)
    body = await gql(
        client,
        """mutation($input: CreateWaitlistEntryInput!) {
          createWaitlistEntry(input: $input) { id } }""",
        {
            "input": {
                "patientId": patient.id,
                "startDate": fields["start_date"],
                "endDate": fields["end_date"],
                "offerSeconds": 10**6,
            }
        },
        auth,
    )
    assert rest.status_code == 422
    assert extensions(body)["code"] == "VALIDATION_FAILED"
    assert (
        extensions(body)["errors"]
        == rest.json()["errors"]
        == {
            "end_date": ["must be on or after start date"],
            "offer_seconds": ["must be less than or equal to 86400"],
        }
    )
