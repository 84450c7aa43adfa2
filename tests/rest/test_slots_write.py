"""Creating, updating and deleting slots over REST; every refused request changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import SLOTS, Factory, future, iso

CONFLICT = "Time slot conflicts with existing availability"


def body(**fields: Any) -> dict[str, Any]:
    return {"available_slot": fields}


def slot_fields(provider_id: int, start: datetime, minutes: int = 60, **extra: Any) -> dict:
    return {
        "provider_id": provider_id,
        "start_time": iso(start),
        "end_time": iso(start + timedelta(minutes=minutes)),
        **extra,
    }


async def stored_slots(session) -> list[tuple[int, str, str]]:
    from sqlalchemy import select

    from models.platform.entities import AvailableSlot

    await session.rollback()
    rows = await session.execute(
        select(AvailableSlot.id, AvailableSlot.start_time, AvailableSlot.end_time).order_by(
            AvailableSlot.id
        )
    )
    return [(row.id, iso(row.start_time), iso(row.end_time)) for row in rows]


async def test_documented_example_creates_a_slot(client, auth, factory: Factory, db_count):
    provider = await factory.provider("Dr. Jane", "Smith")
    start = future(24 * 30)
    example = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "therapy",
            "recurring": True,
            "recurrence_pattern": "weekly",
        }
    }

    response = await client.post(SLOTS, json=example, headers=auth)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["provider_id"] == provider.id
    assert created["start_time"] == iso(start)
    assert created["end_time"] == iso(start + timedelta(hours=1))
    assert created["appointment_type"] == "therapy"
    assert created["available"] is True
    assert created["recurring"] is True
    assert created["recurrence_pattern"] == "weekly"
    assert created["provider"] == {
        "id": provider.id,
        "first_name": "Dr. Jane",
        "last_name": "Smith",
    }
    assert await db_count("available_slots", f"id = {created['id']}") == 1


async def test_create_reads_offsets_and_naive_times(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(48)
    naive_utc = start.replace(tzinfo=None)
    response = await client.post(
        SLOTS,
        json=body(
            provider_id=provider.id,
            start_time=(start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
            end_time=(naive_utc + timedelta(minutes=45)).isoformat(),
        ),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    assert response.json()["start_time"] == iso(start)
    assert response.json()["end_time"] == iso(start + timedelta(minutes=45))
    assert response.json()["appointment_type"] is None


async def test_unknown_keys_and_server_owned_fields_are_ignored(
    client, auth, factory: Factory, db_count
):
    provider = await factory.provider()
    start = future(48)
    payload = {
        "available_slot": slot_fields(
            provider.id,
            start,
            id=999,
            created_at="2001-01-01T00:00:00.000Z",
            updated_at="2001-01-01T00:00:00.000Z",
            colour="blue",
        ),
        "extra_root": {"anything": True},
    }

    response = await client.post(SLOTS, json=payload, headers=auth)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] != 999
    assert not created["created_at"].startswith("2001")
    assert not created["updated_at"].startswith("2001")
    assert "colour" not in created
    assert await db_count("available_slots") == 1
    assert await db_count("available_slots", "id = 999") == 0


async def test_missing_fields_are_blank(client, auth, db_count):
    response = await client.post(SLOTS, json={"available_slot": {}}, headers=auth)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "provider_id": ["can't be blank"],
            "start_time": ["can't be blank"],
            "end_time": ["can't be blank"],
        }
    }
    assert await db_count("available_slots") == 0


async def test_every_validation_message_together(client, auth, factory: Factory, db_count):
    past = datetime.now(UTC) - timedelta(hours=1)
    response = await client.post(
        SLOTS,
        json=body(start_time=iso(past), end_time=iso(past - timedelta(hours=1))),
        headers=auth,
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "provider_id": ["can't be blank"],
            "start_time": ["must be in the future"],
            "end_time": ["must be after start time"],
        }
    }
    assert await db_count("available_slots") == 0


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"start_time": ""}, {"start_time": ["can't be blank"]}),
        ({"end_time": None}, {"end_time": ["can't be blank"]}),
        ({"start_time": "next tuesday"}, {"start_time": ["is invalid"]}),
        ({"start_time": "2031-02-30T10:00:00Z"}, {"start_time": ["is invalid"]}),
        ({"end_time": "2031-03-01"}, {"end_time": ["is invalid"]}),
        ({"start_time": 1700000000}, {"start_time": ["is invalid"]}),
        ({"provider_id": "abc"}, {"provider_id": ["is invalid"]}),
        ({"provider_id": 999_999}, {"provider_id": ["must exist"]}),
        ({"appointment_type": "massage"}, {"appointment_type": ["is not included in the list"]}),
        ({"recurrence_pattern": "hourly"}, {"recurrence_pattern": ["is not included in the list"]}),
        ({"recurring": True}, {"recurrence_pattern": ["can't be blank"]}),
        ({"available": "yes please"}, {"available": ["is invalid"]}),
        ({"end_time": "@start"}, {"end_time": ["must be after start time"]}),
        (
            {"start_time": "@past", "end_time": "@start+1h"},
            {"start_time": ["must be in the future"]},
        ),
    ],
)
async def test_create_validation(client, auth, factory: Factory, db_count, fields, errors):
    provider = await factory.provider()
    start = future(48)
    past = datetime.now(UTC) - timedelta(minutes=5)
    named = {"@start": iso(start), "@past": iso(past), "@start+1h": iso(past + timedelta(hours=1))}
    payload = slot_fields(provider.id, start)
    for key, value in fields.items():
        payload[key] = named.get(value, value) if isinstance(value, str) else value

    response = await client.post(SLOTS, json=body(**payload), headers=auth)

    assert response.status_code == 422, response.text
    assert response.json() == {"errors": errors}
    assert await db_count("available_slots") == 0


@pytest.mark.parametrize(
    ("content", "errors"),
    [
        (b'{"available_slot": {', {"body": ["is invalid"]}),
        (b"[]", {"body": ["is invalid"]}),
        (b'{"available_slot": null}', {"available_slot": ["is invalid"]}),
        (b'{"available_slot": "yes"}', {"available_slot": ["is invalid"]}),
    ],
)
async def test_malformed_bodies_are_422(client, auth, db_count, content, errors):
    headers = {**auth, "Content-Type": "application/json"}
    response = await client.post(SLOTS, content=content, headers=headers)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}
    assert await db_count("available_slots") == 0


async def test_overlap_is_409_with_the_conflicts(client, auth, factory: Factory, db_count, session):
    provider = await factory.provider()
    start = future(48)
    provider_id = provider.id
    existing_id = (await factory.slot(provider, start=start, minutes=60)).id
    before = await stored_slots(session)

    for offset, minutes in ((0, 60), (30, 60), (-30, 60), (10, 20), (-60, 180)):
        response = await client.post(
            SLOTS,
            json=body(**slot_fields(provider_id, start + timedelta(minutes=offset), minutes)),
            headers=auth,
        )
        assert response.status_code == 409, (offset, minutes, response.text)
        assert response.json() == {
            "errors": CONFLICT,
            "conflicts": [
                {
                    "id": existing_id,
                    "start_time": iso(start),
                    "end_time": iso(start + timedelta(hours=1)),
                }
            ],
        }
    assert await stored_slots(session) == before


async def test_back_to_back_and_other_providers_do_not_conflict(client, auth, factory: Factory):
    jane = await factory.provider()
    omar = await factory.provider("Omar", "Haddad")
    start = future(48)
    await factory.slot(jane, start=start, minutes=60)

    for provider, begin in (
        (jane, start + timedelta(hours=1)),
        (jane, start - timedelta(hours=1)),
        (omar, start),
    ):
        response = await client.post(
            SLOTS, json=body(**slot_fields(provider.id, begin)), headers=auth
        )
        assert response.status_code == 201, response.text


async def test_update_is_partial(client, auth, factory: Factory):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start, appointment_type="therapy")
    original = (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()

    response = await client.put(
        f"{SLOTS}/{slot.id}",
        json=body(appointment_type="consultation", id=12345, created_at="2001-01-01T00:00:00Z"),
        headers=auth,
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["appointment_type"] == "consultation"
    unchanged = {k: v for k, v in original.items() if k not in ("appointment_type", "updated_at")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert updated["updated_at"] >= original["updated_at"]
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json() == updated

    nothing = await client.put(f"{SLOTS}/{slot.id}", json=body(), headers=auth)
    assert nothing.status_code == 200
    assert {k: nothing.json()[k] for k in unchanged} == unchanged


async def test_update_times_and_availability(client, auth, factory: Factory):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start)

    # Overlapping its own old interval is fine: a slot never conflicts with itself.
    moved = await client.put(
        f"{SLOTS}/{slot.id}",
        json=body(start_time=iso(start + timedelta(minutes=30))),
        headers=auth,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["start_time"] == iso(start + timedelta(minutes=30))
    assert moved.json()["end_time"] == iso(start + timedelta(hours=1))

    longer = await client.put(
        f"{SLOTS}/{slot.id}",
        json=body(end_time=iso(start + timedelta(hours=2)), available=False),
        headers=auth,
    )
    assert longer.status_code == 200, longer.text
    assert longer.json()["end_time"] == iso(start + timedelta(hours=2))
    assert longer.json()["available"] is False
    searched = await client.get(f"{SLOTS}/search", params={"duration": 90}, headers=auth)
    assert searched.json() == []
    reopened = await client.put(f"{SLOTS}/{slot.id}", json=body(available=True), headers=auth)
    assert reopened.json()["available"] is True
    searched = await client.get(f"{SLOTS}/search", params={"duration": 90}, headers=auth)
    assert [item["id"] for item in searched.json()] == [slot.id]


async def test_update_conflict_excludes_itself(client, auth, factory: Factory, session):
    provider = await factory.provider()
    start = future(48)
    first_id = (await factory.slot(provider, start=start)).id
    second_id = (await factory.slot(provider, start=start + timedelta(hours=2))).id
    before = await stored_slots(session)

    response = await client.put(
        f"{SLOTS}/{second_id}",
        json=body(start_time=iso(start + timedelta(minutes=30))),
        headers=auth,
    )

    assert response.status_code == 409
    assert response.json() == {
        "errors": CONFLICT,
        "conflicts": [
            {"id": first_id, "start_time": iso(start), "end_time": iso(start + timedelta(hours=1))}
        ],
    }
    assert await stored_slots(session) == before

    touching = await client.put(
        f"{SLOTS}/{second_id}",
        json=body(start_time=iso(start + timedelta(hours=1))),
        headers=auth,
    )
    assert touching.status_code == 200


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"start_time": "@past"}, {"start_time": ["must be in the future"]}),
        ({"end_time": "@before"}, {"end_time": ["must be after start time"]}),
        ({"start_time": "@after"}, {"end_time": ["must be after start time"]}),
        ({"start_time": None}, {"start_time": ["can't be blank"]}),
        ({"start_time": "soon"}, {"start_time": ["is invalid"]}),
        ({"provider_id": 999_999}, {"provider_id": ["must exist"]}),
        ({"provider_id": None}, {"provider_id": ["can't be blank"]}),
        ({"appointment_type": "massage"}, {"appointment_type": ["is not included in the list"]}),
        ({"available": None}, {"available": ["is invalid"]}),
        ({"recurring": None}, {"recurring": ["is invalid"]}),
        ({"recurrence_pattern": "hourly"}, {"recurrence_pattern": ["is not included in the list"]}),
        (
            {"start_time": "@past", "appointment_type": "massage"},
            {
                "start_time": ["must be in the future"],
                "appointment_type": ["is not included in the list"],
            },
        ),
    ],
)
async def test_update_validation(client, auth, factory: Factory, session, fields, errors):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start, appointment_type="therapy")
    named = {
        "@past": iso(datetime.now(UTC) - timedelta(minutes=5)),
        "@before": iso(start - timedelta(minutes=1)),
        "@after": iso(start + timedelta(hours=2)),
    }
    payload = {k: named.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    before = (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()

    response = await client.put(f"{SLOTS}/{slot.id}", json=body(**payload), headers=auth)

    assert response.status_code == 422, response.text
    assert response.json() == {"errors": errors}
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json() == before


async def test_update_malformed_json_is_422(client, auth, factory: Factory):
    slot = await factory.slot()
    before = (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json()
    response = await client.put(
        f"{SLOTS}/{slot.id}",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is invalid"]}}
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).json() == before


async def test_delete_then_gone(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    slot_id = (await factory.slot(provider, start=future(48))).id
    keep_id = (await factory.slot(provider, start=future(72))).id

    deleted = await client.delete(f"{SLOTS}/{slot_id}", headers=auth)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert await db_count("available_slots", f"id = {slot_id}") == 0
    assert await db_count("available_slots", f"id = {keep_id}") == 1
    for method in ("GET", "PUT", "DELETE"):
        again = await client.request(
            method, f"{SLOTS}/{slot_id}", json=body(appointment_type="therapy"), headers=auth
        )
        assert again.status_code == 404, method
        assert again.json() == {"errors": "Not found"}
    assert await db_count("available_slots") == 1
