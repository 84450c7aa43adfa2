"""Resources (rooms, equipment): the catalog on both faces, and the resource a slot keeps.

A slot with a ``resource_kind`` takes a free active resource of the kind with its first
hold or booking and gives it back with its last (cancel, release, expiry, reschedule);
a group slot keeps one for every seat; no two overlapping slots keep the same one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from models.booking.holds import expire_holds
from models.platform.entities import AuditEntry, AvailableSlot, Booking, Hold
from tests.bookings.helpers import book_body
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.find.helpers import FIND, at, day_after, matched_provider
from tests.graphql.helpers import extensions, gql
from tests.scheduling.helpers import HOLDS, hold_body

RESOURCES = f"{BASE}/resources"
NO_RESOURCE = {"errors": "No resource available"}
RESOURCE_FIELDS = "id name kind active createdAt updatedAt"


async def _resource(client, auth, name: str = "Room 1", kind: str = "room", **fields: Any):
    response = await client.post(
        RESOURCES, json={"resource": {"name": name, "kind": kind, **fields}}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _slot(client, auth, provider_id: int, start: datetime, **fields: Any) -> dict[str, Any]:
    body = {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=60)),
            **fields,
        }
    }
    response = await client.post(SLOTS, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


async def _book(client, auth, slot_id: int, patient_id: int) -> httpx.Response:
    return await client.post(BOOKS, json=book_body(slot_id, patient_id), headers=auth)


async def _kept(session, slot_id: int) -> int | None:
    await session.rollback()
    return (
        await session.execute(select(AvailableSlot.resource_id).where(AvailableSlot.id == slot_id))
    ).scalar_one()


async def test_create_get_list_update_and_retire_a_resource(client, auth, session):
    room = await _resource(client, auth, "Room 1")
    assert {key: room[key] for key in ("name", "kind", "active")} == {
        "name": "Room 1",
        "kind": "room",
        "active": True,
    }
    scanner = await _resource(client, auth, "Scanner", "ultrasound")
    assert (await client.get(f"{RESOURCES}/{room['id']}", headers=auth)).json() == room
    listed = (await client.get(RESOURCES, headers=auth)).json()
    assert [item["id"] for item in listed] == [room["id"], scanner["id"]]
    rooms = (await client.get(RESOURCES, params={"kind": "room"}, headers=auth)).json()
    assert rooms == [room]

    changed = await client.put(
        f"{RESOURCES}/{room['id']}",
        json={"resource": {"name": "Room 1 (east)", "active": False}},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Room 1 (east)" and changed.json()["active"] is False
    retired = (await client.get(RESOURCES, params={"active": "false"}, headers=auth)).json()
    assert retired == [changed.json()]

    await session.rollback()
    entries = (
        await session.execute(
            select(AuditEntry.action, AuditEntry.changed_fields).where(
                AuditEntry.entity == "resource", AuditEntry.entity_id == room["id"]
            )
        )
    ).all()
    assert [action for action, _ in entries] == ["create", "update"]
    assert set(entries[1][1]) == {"name", "active"}
    assert (await client.get(f"{RESOURCES}/999", headers=auth)).status_code == 404
    missing = await client.put(f"{RESOURCES}/999", json={"resource": {"name": "x"}}, headers=auth)
    assert missing.status_code == 404
    assert (await client.delete(f"{RESOURCES}/{room['id']}", headers=auth)).status_code == 405


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {"name": ["can't be blank"], "kind": ["can't be blank"]}),
        ({"name": "R", "kind": "Room!"}, {"kind": ["is invalid"]}),
        ({"name": "R", "kind": 7}, {"kind": ["is invalid"]}),
        (
            {"name": "x" * 101, "kind": "room"},
            {"name": ["is too long (maximum is 100 characters)"]},
        ),
        ({"name": "R", "kind": "room", "active": "yes"}, {"active": ["is invalid"]}),
    ],
)
async def test_bad_fields_are_422_and_change_nothing(client, auth, db_count, fields, errors):
    response = await client.post(RESOURCES, json={"resource": fields}, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}
    assert await db_count("resources") == 0


async def test_a_slot_kind_must_be_an_active_resources_kind(client, auth, factory):
    provider = await factory.provider()
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(future(30)),
            "end_time": iso(future(31)),
            "resource_kind": "room",
        }
    }
    refused = await client.post(SLOTS, json=body, headers=auth)
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"resource_kind": ["is not included in the list"]}}
    bad = {"available_slot": {**body["available_slot"], "resource_kind": "Big Room"}}
    assert (await client.post(SLOTS, json=bad, headers=auth)).json() == {
        "errors": {"resource_kind": ["is invalid"]}
    }
    await _resource(client, auth)
    created = await client.post(SLOTS, json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert (created.json()["resource_kind"], created.json()["resource_id"]) == ("room", None)
    cleared = await client.put(
        f"{SLOTS}/{created.json()['id']}",
        json={"available_slot": {"resource_kind": None}},
        headers=auth,
    )
    assert cleared.status_code == 200 and cleared.json()["resource_kind"] is None


async def test_first_booking_takes_a_room_and_cancelling_gives_it_back(
    client, auth, factory, session
):
    room = await _resource(client, auth)
    provider, other = await factory.provider(), await factory.provider("Ola", "Other")
    start = future(48)
    slot = await _slot(client, auth, provider.id, start, resource_kind="room")
    rival = await _slot(client, auth, other.id, start + timedelta(minutes=30), resource_kind="room")
    patient_id = (await factory.patient()).id

    booked = await _book(client, auth, slot["id"], patient_id)
    assert booked.status_code == 201, booked.text
    assert booked.json()["resource_id"] == room["id"]
    reply = (await client.get(f"{SLOTS}/{slot['id']}", headers=auth)).json()
    assert reply["resource_id"] == room["id"]
    listed = (await client.get(SLOTS, params={"provider_id": provider.id}, headers=auth)).json()
    assert listed[0]["resource_id"] == room["id"]

    # The overlapping slot needs the same one room: refused, nothing written.
    refused = await _book(client, auth, rival["id"], patient_id)
    assert refused.status_code == 409
    assert refused.json() == NO_RESOURCE
    await session.rollback()
    assert (await session.get(AvailableSlot, rival["id"], populate_existing=True)).booked_count == 0
    held = await client.post(HOLDS, json=hold_body(rival["id"]), headers=auth)
    assert held.status_code == 409 and held.json() == NO_RESOURCE

    cancelled = await client.put(
        f"{BOOKS}/{booked.json()['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert cancelled.status_code == 200
    assert await _kept(session, slot["id"]) is None
    again = await _book(client, auth, rival["id"], patient_id)
    assert again.status_code == 201, again.text
    assert again.json()["resource_id"] == room["id"]

    await session.rollback()
    fields = (
        await session.execute(
            select(AuditEntry.changed_fields).where(
                AuditEntry.entity == "available_slot", AuditEntry.entity_id == slot["id"]
            )
        )
    ).scalars()
    assert sum(changed == ["resource_id"] for changed in fields) == 2  # taken, given back


async def test_a_second_room_of_the_kind_serves_an_overlapping_slot(client, auth, factory):
    first = await _resource(client, auth, "Room 1")
    second = await _resource(client, auth, "Room 2")
    await _resource(client, auth, "Scanner", "ultrasound")
    start = future(50)
    slots = [
        await _slot(
            client, auth, (await factory.provider(f"P{i}", "X")).id, start, resource_kind="room"
        )
        for i in range(3)
    ]
    patient_id = (await factory.patient()).id
    replies = [await _book(client, auth, slot["id"], patient_id) for slot in slots]
    assert [reply.status_code for reply in replies] == [201, 201, 409]
    assert [reply.json()["resource_id"] for reply in replies[:2]] == [first["id"], second["id"]]
    # A slot that does not overlap takes the first room again.
    later = await _slot(
        client, auth, slots[0]["provider_id"], start + timedelta(hours=1), resource_kind="room"
    )
    assert (await _book(client, auth, later["id"], patient_id)).json()["resource_id"] == first["id"]


async def test_retired_rooms_are_not_assigned_but_kept_where_taken(client, auth, factory, session):
    room = await _resource(client, auth)
    start = future(60)
    kept = await _slot(client, auth, (await factory.provider()).id, start, resource_kind="room")
    later = await _slot(
        client, auth, (await factory.provider("B", "B")).id, start + timedelta(hours=3),
        resource_kind="room",
    )  # fmt: skip
    patient_id = (await factory.patient()).id
    assert (await _book(client, auth, kept["id"], patient_id)).status_code == 201
    await client.put(
        f"{RESOURCES}/{room['id']}", json={"resource": {"active": False}}, headers=auth
    )
    assert await _kept(session, kept["id"]) == room["id"]
    refused = await _book(client, auth, later["id"], patient_id)
    assert refused.status_code == 409 and refused.json() == NO_RESOURCE
    # Its kind cannot change while a slot keeps it.
    changed = await client.put(
        f"{RESOURCES}/{room['id']}", json={"resource": {"kind": "office"}}, headers=auth
    )
    assert changed.status_code == 422
    assert changed.json() == {
        "errors": {"kind": ["can't be changed while a slot keeps the resource"]}
    }


async def test_a_group_slot_keeps_one_room_for_every_seat(client, auth, factory, session):
    room = await _resource(client, auth)
    await _resource(client, auth, "Room 2")
    slot = await _slot(
        client, auth, (await factory.provider()).id, future(70), resource_kind="room", capacity=3
    )
    patients = [(await factory.patient(f"P{i}", "G")).id for i in range(3)]
    replies = [await _book(client, auth, slot["id"], patient) for patient in patients]
    assert [reply.json()["resource_id"] for reply in replies] == [room["id"]] * 3
    for reply in replies[:2]:
        await client.put(
            f"{BOOKS}/{reply.json()['id']}", json={"book": {"status": "cancelled"}}, headers=auth
        )
        assert await _kept(session, slot["id"]) == room["id"]
    await client.put(
        f"{BOOKS}/{replies[2].json()['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert await _kept(session, slot["id"]) is None


async def test_holds_take_the_room_and_release_or_expiry_give_it_back(
    client, auth, factory, session
):
    room = await _resource(client, auth)
    slot = await _slot(
        client, auth, (await factory.provider()).id, future(80), resource_kind="room"
    )
    patient_id = (await factory.patient()).id
    hold = await client.post(HOLDS, json=hold_body(slot["id"], patient_id), headers=auth)
    assert hold.status_code == 201, hold.text
    assert hold.json()["resource_id"] == room["id"]
    assert await _kept(session, slot["id"]) == room["id"]
    released = await client.delete(f"{HOLDS}/{hold.json()['id']}", headers=auth)
    assert released.status_code == 204
    assert await _kept(session, slot["id"]) is None

    again = await client.post(HOLDS, json=hold_body(slot["id"], patient_id), headers=auth)
    assert again.json()["resource_id"] == room["id"]
    # The hold becomes a booking: the slot keeps the same room.
    booked = await client.post(
        BOOKS, json=book_body(slot["id"], patient_id, hold_id=again.json()["id"]), headers=auth
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["resource_id"] == room["id"]

    other = await _slot(
        client, auth, (await factory.provider()).id, future(90), resource_kind="room"
    )
    expiring = await client.post(HOLDS, json=hold_body(other["id"]), headers=auth)
    assert expiring.json()["resource_id"] == room["id"]
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(
        update(Hold).where(Hold.id == expiring.json()["id"]).values(expires_at=past)
    )
    await session.commit()
    assert await expire_holds(session) == 1
    assert await _kept(session, other["id"]) is None


async def test_a_room_kept_only_by_an_expired_hold_is_taken_over(client, auth, factory, session):
    room = await _resource(client, auth)
    start = future(100)
    first = await _slot(client, auth, (await factory.provider()).id, start, resource_kind="room")
    second = await _slot(
        client, auth, (await factory.provider("B", "B")).id, start, resource_kind="room"
    )
    hold = await client.post(HOLDS, json=hold_body(first["id"]), headers=auth)
    assert hold.status_code == 201
    past = datetime.now(UTC) - timedelta(seconds=1)
    await session.execute(update(Hold).where(Hold.id == hold.json()["id"]).values(expires_at=past))
    await session.commit()
    patient_id = (await factory.patient()).id
    taken = await _book(client, auth, second["id"], patient_id)
    assert taken.status_code == 201, taken.text
    assert taken.json()["resource_id"] == room["id"]
    assert await _kept(session, first["id"]) is None
    assert await _kept(session, second["id"]) == room["id"]


async def test_a_reschedule_moves_the_room_with_the_booking(client, auth, factory, session):
    room = await _resource(client, auth)
    start = future(110)
    old = await _slot(client, auth, (await factory.provider()).id, start, resource_kind="room")
    # Another provider at the same hour, needing the same one room: the move frees it first.
    new = await _slot(
        client, auth, (await factory.provider("N", "N")).id, start, resource_kind="room"
    )
    plain = await _slot(client, auth, (await factory.provider("P", "P")).id, start)
    patient_id = (await factory.patient()).id
    booking = (await _book(client, auth, old["id"], patient_id)).json()
    moved = await client.post(
        f"{BOOKS}/{booking['id']}/reschedule",
        json={"book": {"available_slot_id": new["id"]}},
        headers=auth,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["resource_id"] == room["id"]
    assert await _kept(session, old["id"]) is None
    assert await _kept(session, new["id"]) == room["id"]
    plain_move = await client.post(
        f"{BOOKS}/{booking['id']}/reschedule",
        json={"book": {"available_slot_id": plain["id"]}},
        headers=auth,
    )
    assert plain_move.status_code == 200, plain_move.text
    assert plain_move.json()["resource_id"] is None
    assert await _kept(session, new["id"]) is None
    await session.rollback()
    stored = await session.get(Booking, booking["id"], populate_existing=True)
    assert stored is not None and stored.resource_id is None


async def test_a_slot_keeping_a_room_for_a_hold_moves_only_where_the_room_is_free(
    client, auth, factory
):
    await _resource(client, auth)
    start = future(120)
    held = await _slot(client, auth, (await factory.provider()).id, start, resource_kind="room")
    booked = await _slot(
        client, auth, (await factory.provider("B", "B")).id, start + timedelta(hours=2),
        resource_kind="room",
    )  # fmt: skip
    patient_id = (await factory.patient()).id
    assert (await client.post(HOLDS, json=hold_body(held["id"]), headers=auth)).status_code == 201
    assert (await _book(client, auth, booked["id"], patient_id)).status_code == 201
    onto = {
        "available_slot": {
            "start_time": iso(start + timedelta(hours=2, minutes=30)),
            "end_time": iso(start + timedelta(hours=3, minutes=30)),
        }
    }
    clash = await client.put(f"{SLOTS}/{held['id']}", json=onto, headers=auth)
    assert clash.status_code == 409
    assert clash.json() == {"errors": "Slot's resource is in use at that time"}
    kind = await client.put(
        f"{SLOTS}/{held['id']}", json={"available_slot": {"resource_kind": None}}, headers=auth
    )
    assert kind.status_code == 422
    assert kind.json() == {
        "errors": {"resource_kind": ["can't be changed while the slot keeps a resource"]}
    }
    later = {
        "available_slot": {
            "start_time": iso(start + timedelta(hours=5)),
            "end_time": iso(start + timedelta(hours=6)),
        }
    }
    assert (await client.put(f"{SLOTS}/{held['id']}", json=later, headers=auth)).status_code == 200


async def test_graphql_twins_match_rest(client, auth, factory, db_count):
    body = await gql(
        client,
        f"""mutation($i: CreateResourceInput!) {{
            createResource(input: $i) {{ {RESOURCE_FIELDS} }} }}""",
        {"i": {"name": "Room 1", "kind": "room"}},
        auth,
    )
    created = body["data"]["createResource"]
    rest = (await client.get(f"{RESOURCES}/{created['id']}", headers=auth)).json()
    assert rest == {
        "id": created["id"],
        "name": "Room 1",
        "kind": "room",
        "active": True,
        "created_at": created["createdAt"],
        "updated_at": created["updatedAt"],
    }
    updated = await gql(
        client,
        f"""mutation($id: Int!) {{ updateResource(id: $id, input: {{name: "Room A"}})
            {{ {RESOURCE_FIELDS} }} }}""",
        {"id": created["id"]},
        auth,
    )
    assert updated["data"]["updateResource"]["name"] == "Room A"
    one = await gql(client, f"query($id: Int!) {{ resource(id: $id) {{ {RESOURCE_FIELDS} }} }}",
                    {"id": created["id"]}, auth)  # fmt: skip
    assert one["data"]["resource"] == updated["data"]["updateResource"]
    listed = await gql(client, '{ resources(kind: "room", active: true) { id } }', None, auth)
    assert listed["data"]["resources"] == [{"id": created["id"]}]
    bad = await gql(
        client, 'mutation { createResource(input: {name: "", kind: "Room"}) { id } }', None, auth
    )
    assert extensions(bad)["errors"] == {"name": ["can't be blank"], "kind": ["is invalid"]}
    missing = await gql(client, "{ resource(id: 999) { id } }", None, auth)
    assert extensions(missing)["status"] == 404
    assert await db_count("resources") == 1

    # A slot needing a room, created and booked through GraphQL, as REST shows it.
    provider = await factory.provider()
    start = future(130)
    slot = await gql(
        client,
        """mutation($i: CreateAvailableSlotInput!) { createAvailableSlot(input: $i)
            { id resourceKind resourceId } }""",
        {
            "i": {
                "providerId": provider.id,
                "startTime": iso(start),
                "endTime": iso(start + timedelta(hours=1)),
                "resourceKind": "room",
            }
        },
        auth,
    )
    made = slot["data"]["createAvailableSlot"]
    assert (made["resourceKind"], made["resourceId"]) == ("room", None)
    patient_id = (await factory.patient()).id
    booked = await gql(
        client,
        """mutation($s: Int!, $p: Int!) { createBook(input: {availableSlotId: $s, patientId: $p})
            { id resourceId } }""",
        {"s": made["id"], "p": patient_id},
        auth,
    )
    assert booked["data"]["createBook"]["resourceId"] == created["id"]
    seen = await gql(
        client, "query($id: Int!) { availableSlot(id: $id) { resourceKind resourceId } }",
        {"id": made["id"]}, auth,
    )  # fmt: skip
    rest_slot = (await client.get(f"{SLOTS}/{made['id']}", headers=auth)).json()
    assert seen["data"]["availableSlot"] == {
        "resourceKind": rest_slot["resource_kind"],
        "resourceId": rest_slot["resource_id"],
    }
    other = await factory.provider("O", "O")
    rival = await gql(
        client,
        """mutation($i: CreateAvailableSlotInput!) { createAvailableSlot(input: $i) { id } }""",
        {
            "i": {
                "providerId": other.id,
                "startTime": iso(start),
                "endTime": iso(start + timedelta(hours=1)),
                "resourceKind": "room",
            }
        },
        auth,
    )
    refused = await gql(
        client,
        """mutation($s: Int!, $p: Int!) { createBook(input: {availableSlotId: $s, patientId: $p})
            { id } }""",
        {"s": rival["data"]["createAvailableSlot"]["id"], "p": patient_id},
        auth,
    )
    assert extensions(refused)["status"] == 409
    assert refused["errors"][0]["message"] == "No resource available"


async def test_idempotency_key_replays_a_create(client, auth, db_count):
    headers = {**auth, "Idempotency-Key": "room-1"}
    body = {"resource": {"name": "Room 1", "kind": "room"}}
    first = await client.post(RESOURCES, json=body, headers=headers)
    again = await client.post(RESOURCES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    mutation = 'mutation { createResource(input: {name: "Room 2", kind: "room"}) { id } }'
    replies = [
        await client.post(
            "/graphql", json={"query": mutation}, headers={**auth, "Idempotency-Key": "g-room"}
        )
        for _ in range(2)
    ]
    assert replies[0].json() == replies[1].json()
    assert replies[1].headers["idempotent-replayed"] == "true"
    assert await db_count("resources") == 2


async def test_find_rules_out_slots_with_no_room_free_and_names_the_kind(
    client, auth, factory, session
):
    await _resource(client, auth)
    day = day_after(3)
    ana = await matched_provider(session, "Ana")
    bo = await matched_provider(session, "Bo")
    ana_id, bo_id = ana.id, bo.id
    taken = await _slot(client, auth, ana_id, at(day, 9), resource_kind="room")
    rival = await _slot(client, auth, bo_id, at(day, 9), resource_kind="room")
    later = await _slot(client, auth, bo_id, at(day, 11), resource_kind="room")
    patient_id = (await factory.patient()).id
    assert (await _book(client, auth, taken["id"], patient_id)).status_code == 201

    params = {
        "appointment_type": "therapy",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "explain": "true",
    }
    response = await client.get(FIND, params=params, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["id"] for item in body["options"]] == [later["id"]]
    assert body["options"][0]["resource_kind"] == "room"
    assert body["unavailable_providers"] == [
        {"provider_id": ana_id, "ruled_out": None, "slot_counts": {"full": 1}}
    ]
    del rival
    graph = await gql(
        client,
        """query($input: FindAvailabilityInput!) { findAvailability(input: $input) {
            options { resourceKind slot { id resourceKind } } } }""",
        {"input": {"appointmentType": "therapy", "startDate": day.isoformat(),
                   "endDate": day.isoformat()}},
        auth,
    )  # fmt: skip
    assert graph["data"]["findAvailability"]["options"] == [
        {"resourceKind": "room", "slot": {"id": later["id"], "resourceKind": "room"}}
    ]

    only_bo = await client.get(FIND, params={**params, "provider_ids": [bo_id]}, headers=auth)
    # Bo has an option (the later slot), so Bo is not listed; the 9:00 slot is no_resource.
    assert [item["id"] for item in only_bo.json()["options"]] == [later["id"]]
    await client.put(
        f"{SLOTS}/{later['id']}", json={"available_slot": {"available": False}}, headers=auth
    )
    explained = (await client.get(FIND, params=params, headers=auth)).json()
    assert explained["options"] == []
    assert {
        item["provider_id"]: item["slot_counts"] for item in explained["unavailable_providers"]
    } == {ana_id: {"full": 1}, bo_id: {"closed": 1, "no_resource": 1}}


async def test_the_database_itself_refuses_one_resource_on_two_overlapping_slots(
    backend, client, auth, factory, session
):
    """PostgreSQL's exclusion constraint, whatever the application does; SQLite has the
    writer lock and the claim's check (the race test), so a direct write is not refused."""
    room = await _resource(client, auth)
    start = future(140)
    first = await _slot(client, auth, (await factory.provider()).id, start, resource_kind="room")
    second = await _slot(
        client, auth, (await factory.provider("B", "B")).id, start + timedelta(minutes=59),
        resource_kind="room",
    )  # fmt: skip
    adjacent = await _slot(
        client, auth, (await factory.provider("C", "C")).id, start + timedelta(hours=1),
        resource_kind="room",
    )  # fmt: skip
    keep = update(AvailableSlot).values(resource_id=room["id"])
    await session.execute(keep.where(AvailableSlot.id == first["id"]))
    # Back to back is no overlap (half-open intervals).
    await session.execute(keep.where(AvailableSlot.id == adjacent["id"]))
    await session.commit()
    if backend != "postgresql":
        return
    with pytest.raises(IntegrityError, match="ex_available_slots_resource_overlap"):
        await session.execute(keep.where(AvailableSlot.id == second["id"]))
    await session.rollback()


async def test_every_occurrence_of_a_series_needs_the_kind(client, auth, factory, session):
    await _resource(client, auth)
    provider_id = (await factory.provider()).id
    series = await _slot(
        client, auth, provider_id, future(150), resource_kind="room",
        recurring=True, recurrence_pattern="weekly",
    )  # fmt: skip
    assert series["resource_kind"] == "room"
    await session.rollback()
    kinds = (
        (
            await session.execute(
                select(AvailableSlot.resource_kind).where(AvailableSlot.series_id.is_not(None))
            )
        )
        .scalars()
        .all()
    )
    assert len(kinds) > 1 and set(kinds) == {"room"}


async def test_a_batch_creates_slots_needing_a_kind_and_reports_bad_kinds(client, auth, factory):
    await _resource(client, auth)
    provider_id = (await factory.provider()).id
    start = future(160)

    def item(hours: int, kind: Any) -> dict[str, Any]:
        begins = start + timedelta(hours=hours)
        return {
            "start_time": iso(begins),
            "end_time": iso(begins + timedelta(hours=1)),
            "resource_kind": kind,
        }

    body = {
        "provider_id": provider_id,
        "slots": [item(0, "room"), item(1, "lab"), item(2, "Big Room"), item(3, None)],
    }
    response = await client.post(
        f"{BASE}/providers/available_slots/create_in_batch", json=body, headers=auth
    )
    assert response.status_code == 201, response.text
    reply = response.json()
    assert (reply["created_slots"], reply["failed_slots"]) == (2, 2)
    assert [(error["index"], error["errors"]) for error in reply["errors"]] == [
        (1, {"resource_kind": ["is not included in the list"]}),
        (2, {"resource_kind": ["is invalid"]}),
    ]
    kinds = [
        (await client.get(f"{SLOTS}/{slot_id}", headers=auth)).json()["resource_kind"]
        for slot_id in reply["slot_ids"]
    ]
    assert kinds == ["room", None]
    graph = await gql(
        client,
        """mutation($i: CreateAvailableSlotsInBatchInput!) {
            createAvailableSlotsInBatch(input: $i) { createdSlots slotIds } }""",
        {"i": {"providerId": provider_id, "slots": [{
            "startTime": iso(start + timedelta(hours=5)),
            "endTime": iso(start + timedelta(hours=6)), "resourceKind": "room"}]}},
        auth,
    )  # fmt: skip
    [slot_id] = graph["data"]["createAvailableSlotsInBatch"]["slotIds"]
    got = (await client.get(f"{SLOTS}/{slot_id}", headers=auth)).json()
    assert got["resource_kind"] == "room"


async def test_lists_and_search_show_available_only_what_a_free_room_lets_be_booked(
    client, auth, factory
):
    await _resource(client, auth)
    ana, bo = await factory.provider("Ana", "A"), await factory.provider("Bo", "B")
    day = day_after(3)
    # A two-seat slot takes the one room with its first booking, and keeps it for its
    # second seat; Bo's slot at the same hour then has no room; his later one does.
    group = await _slot(client, auth, ana.id, at(day, 9), resource_kind="room", capacity=2)
    rival = await _slot(client, auth, bo.id, at(day, 9), resource_kind="room")
    later = await _slot(client, auth, bo.id, at(day, 11), resource_kind="room")
    plain = await _slot(client, auth, bo.id, at(day, 13))
    everything = {group["id"], rival["id"], later["id"], plain["id"]}

    async def listed(**params: Any) -> set[int]:
        params = {"start_date": day.isoformat(), "end_date": day.isoformat(), **params}
        response = await client.get(SLOTS, params=params, headers=auth)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()}

    async def searched(provider_id: int) -> set[int]:
        params = {"provider_id": provider_id, "date": day.isoformat(), "duration": 30}
        response = await client.get(f"{SLOTS}/search", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()}

    async def graph(available: bool) -> tuple[set[int], set[int]]:
        body = await gql(
            client,
            """query($filter: AvailableSlotFilter, $provider: Int, $date: Date) {
                availableSlots(first: 100, filter: $filter) { nodes { id } }
                searchAvailableSlots(providerId: $provider, date: $date, duration: 30) {
                  nodes { id } } }""",
            {
                "filter": {
                    "available": available,
                    "startDate": day.isoformat(),
                    "endDate": day.isoformat(),
                },
                "provider": bo.id,
                "date": day.isoformat(),
            },
            auth,
        )
        data = body["data"]
        return (
            {node["id"] for node in data["availableSlots"]["nodes"]},
            {node["id"] for node in data["searchAvailableSlots"]["nodes"]},
        )

    assert await listed(available="true") == everything  # the room is free for all yet
    patient_id = (await factory.patient()).id
    assert (await _book(client, auth, group["id"], patient_id)).status_code == 201

    bookable = {group["id"], later["id"], plain["id"]}
    assert await listed(available="true") == bookable
    assert await listed(available="false") == {rival["id"]}
    assert await listed() == everything
    assert await searched(bo.id) == {later["id"], plain["id"]}
    assert await searched(ana.id) == {group["id"]}
    assert await graph(True) == (bookable, {later["id"], plain["id"]})
    assert (await graph(False))[0] == {rival["id"]}
    # What the list promises, booking keeps: the slot left out is refused for want of a room.
    assert (await _book(client, auth, rival["id"], patient_id)).json() == NO_RESOURCE
    assert (await _book(client, auth, later["id"], patient_id)).status_code == 201
