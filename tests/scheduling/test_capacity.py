"""Group sessions: a slot takes up to ``capacity`` active bookings."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.platform.entities import AuditEntry
from tests.bookings.helpers import book_body, stored_slot
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.scheduling.helpers import NOT_AVAILABLE


async def test_a_group_slot_takes_capacity_bookings(client, auth, factory, session, db_count):
    provider = await factory.provider()
    start = future(48)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "group_therapy",
            "capacity": 3,
        }
    }
    created = await client.post(SLOTS, json=body, headers=auth)
    assert created.status_code == 201, created.text
    slot = created.json()
    assert (slot["capacity"], slot["booked_count"], slot["available"]) == (3, 0, True)

    patients = [(await factory.patient(f"P{i}", "Group")).id for i in range(4)]
    for patient in patients[:3]:
        response = await client.post(BOOKS, json=book_body(slot["id"], patient), headers=auth)
        assert response.status_code == 201, response.text
    after = (await client.get(f"{SLOTS}/{slot['id']}", headers=auth)).json()
    assert (after["booked_count"], after["available"]) == (3, False)

    full = await client.post(BOOKS, json=book_body(slot["id"], patients[3]), headers=auth)
    assert full.status_code == 409 and full.json() == NOT_AVAILABLE
    # Full comes first, even for a patient already booked on the slot.
    again = await client.post(BOOKS, json=book_body(slot["id"], patients[0]), headers=auth)
    assert again.status_code == 409 and again.json() == NOT_AVAILABLE
    assert await db_count("bookings") == 3
    assert (await stored_slot(session, slot["id"])).booked_count == 3


async def test_the_same_patient_twice_is_422_and_a_cancellation_frees_a_seat(
    client, auth, factory, session, db_count
):
    slot = await factory.slot(capacity=2)
    first = (await factory.patient()).id
    second = (await factory.patient("Sam", "Okafor")).id
    booked = await client.post(BOOKS, json=book_body(slot.id, first), headers=auth)
    assert booked.status_code == 201

    twice = await client.post(BOOKS, json=book_body(slot.id, first), headers=auth)
    assert twice.status_code == 422
    assert twice.json() == {"errors": {"patient_id": ["has already been taken"]}}
    assert await db_count("bookings") == 1

    assert (
        await client.post(BOOKS, json=book_body(slot.id, second), headers=auth)
    ).status_code == 201
    cancel = {"book": {"status": "cancelled"}}
    response = await client.put(f"{BOOKS}/{booked.json()['id']}", json=cancel, headers=auth)
    assert response.status_code == 200
    stored = await stored_slot(session, slot.id)
    assert (stored.booked_count, stored.available) == (1, True)
    # The patient whose booking was cancelled may book again.
    rebook = await client.post(BOOKS, json=book_body(slot.id, first), headers=auth)
    assert rebook.status_code == 201


async def test_capacity_is_checked(client, auth, factory, session, db_count):
    provider = await factory.provider()
    start = future(30)
    for value, message in (
        (0, "must be greater than or equal to 1"),
        (101, "must be less than or equal to 100"),
        ("many", "is invalid"),
    ):
        body = {
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
                "capacity": value,
            }
        }
        response = await client.post(SLOTS, json=body, headers=auth)
        assert response.status_code == 422, (value, response.text)
        assert "capacity" in response.json()["errors"]
        if isinstance(value, int):
            assert response.json()["errors"]["capacity"] == [message]
    assert await db_count("available_slots") == 0


async def test_capacity_below_the_seats_taken_is_422(client, auth, factory, session):
    slot = await factory.slot(capacity=3)
    await factory.booking(slot)
    await factory.booking(slot, await factory.patient("Sam", "Okafor"))
    lower = {"available_slot": {"capacity": 1}}
    response = await client.put(f"{SLOTS}/{slot.id}", json=lower, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"capacity": ["can't be less than the 2 seats taken"]}}
    assert (await stored_slot(session, slot.id)).capacity == 3

    response = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"capacity": 2}}, headers=auth
    )
    assert response.status_code == 200
    assert (response.json()["capacity"], response.json()["available"]) == (2, False)


async def test_an_admin_close_survives_a_cancellation(client, auth, factory, session):
    slot = await factory.slot(capacity=2)
    booking = await factory.booking(slot)
    closed = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"available": False}}, headers=auth
    )
    assert closed.json()["available"] is False
    other = await factory.patient("Sam", "Okafor")
    refused = await client.post(BOOKS, json=book_body(slot.id, other.id), headers=auth)
    assert refused.status_code == 409
    await client.put(f"{BOOKS}/{booking.id}", json={"book": {"status": "cancelled"}}, headers=auth)
    stored = await stored_slot(session, slot.id)
    assert (stored.booked_count, stored.admin_closed, stored.available) == (0, True, False)
    listed = await client.get(SLOTS, params={"available": "true"}, headers=auth)
    assert [item["id"] for item in listed.json()] == []
    reopened = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"available": True}}, headers=auth
    )
    assert reopened.json()["available"] is True
    listed = await client.get(SLOTS, params={"available": "true"}, headers=auth)
    assert [item["id"] for item in listed.json()] == [slot.id]


async def test_every_occurrence_and_batch_item_gets_its_capacity(client, auth, factory, session):
    provider = await factory.provider()
    start = future(48)
    series = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "capacity": 6,
            "recurring": True,
            "recurrence_pattern": "daily",
            "recurrence_end_date": (start + timedelta(days=3)).date().isoformat(),
        }
    }
    assert (await client.post(SLOTS, json=series, headers=auth)).status_code == 201
    listed = (await client.get(SLOTS, params={"provider_id": provider.id}, headers=auth)).json()
    assert len(listed) == 4 and {item["capacity"] for item in listed} == {6}

    other = await factory.provider("Omar", "Haddad")
    batch = {
        "provider_id": other.id,
        "slots": [
            {"start_time": iso(start), "end_time": iso(start + timedelta(hours=1)), "capacity": 4},
            {
                "start_time": iso(start + timedelta(hours=2)),
                "end_time": iso(start + timedelta(hours=3)),
            },
            {
                "start_time": iso(start + timedelta(hours=4)),
                "end_time": iso(start + timedelta(hours=5)),
                "capacity": 0,
            },
        ],
    }
    response = await client.post(
        f"{BASE}/providers/available_slots/create_in_batch", json=batch, headers=auth
    )
    assert response.status_code in (200, 201), response.text
    result = response.json()
    assert result["created_slots"] == 2
    assert result["errors"] == [
        {
            "index": 2,
            "start_time": iso(start + timedelta(hours=4)),
            "errors": {"capacity": ["must be greater than or equal to 1"]},
        }
    ]
    listed = (await client.get(SLOTS, params={"provider_id": other.id}, headers=auth)).json()
    assert [item["capacity"] for item in listed] == [4, 1]


async def test_seat_counts_in_utilization_and_the_audit_trail(client, auth, factory, session):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start, capacity=5)
    await factory.booking(slot)
    await factory.booking(slot, await factory.patient("Sam", "Okafor"))
    day = start.date().isoformat()
    response = await client.get(
        f"{BASE}/providers/utilization",
        params={"start_date": day, "end_date": day, "provider_id": provider.id},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    totals = response.json()["totals"]
    assert (totals["booked_slots"], totals["booked_seats"], totals["open_seats"]) == (1, 2, 3)
    await session.rollback()
    fields = (
        (
            await session.execute(
                select(AuditEntry.changed_fields).where(
                    AuditEntry.entity == "available_slot", AuditEntry.entity_id == slot.id
                )
            )
        )
        .scalars()
        .all()
    )
    assert fields.count(["booked_count"]) == 2


async def test_a_series_change_carries_capacity_to_its_occurrences(client, auth, factory):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(48)
    series = {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "recurring": True,
            "recurrence_pattern": "daily",
            "recurrence_end_date": (start + timedelta(days=2)).date().isoformat(),
        }
    }
    first = (await client.post(SLOTS, json=series, headers=auth)).json()
    change = {"available_slot": {"capacity": 4}}
    response = await client.put(
        f"{SLOTS}/{first['id']}", params={"scope": "series"}, json=change, headers=auth
    )
    assert response.status_code == 200, response.text
    listed = (await client.get(SLOTS, params={"provider_id": provider_id}, headers=auth)).json()
    assert [item["capacity"] for item in listed] == [4, 4, 4]
    bad = await client.put(
        f"{SLOTS}/{first['id']}",
        params={"scope": "series"},
        json={"available_slot": {"capacity": 0}},
        headers=auth,
    )
    assert bad.status_code == 422
    assert bad.json() == {"errors": {"capacity": ["must be greater than or equal to 1"]}}
