"""Batch create and batch delete: partial success, one bulk insert, per-slot reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.factories import BASE, Factory, future, iso
from tests.statements import counted_statements

CREATE = f"{BASE}/providers/available_slots/create_in_batch"
DESTROY = f"{BASE}/providers/available_slots/destroy_in_batch"
CONFLICT = "Time slot conflicts with existing availability"
IN_BATCH = "Time slot conflicts with another slot of this batch"


def slot(start: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    return {"start_time": iso(start), "end_time": iso(start + timedelta(minutes=minutes)), **extra}


async def test_documented_example(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(48)
    body = {
        "provider_id": provider.id,
        "slots": [slot(start, appointment_type="therapy"), slot(start + timedelta(hours=1))],
    }

    response = await client.post(CREATE, json=body, headers=auth)

    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["created_slots"] == 2 and reply["failed_slots"] == 0 and reply["errors"] == []
    assert len(reply["slot_ids"]) == 2
    assert set(reply) == {"created_slots", "failed_slots", "slot_ids", "errors"}
    first = (
        await client.get(f"{BASE}/available_slots/{reply['slot_ids'][0]}", headers=auth)
    ).json()
    assert first["start_time"] == iso(start) and first["appointment_type"] == "therapy"
    assert first["recurring"] is False
    assert await db_count("available_slots", "duration_minutes = 60") == 2


async def test_partial_success_reports_each_bad_slot(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(72)
    existing_id = (await factory.slot(provider, start=start)).id
    past = future(-5)
    body = {
        "provider_id": provider.id,
        "slots": [
            slot(start + timedelta(minutes=30)),  # 0: clashes with the stored slot
            slot(start + timedelta(hours=2)),  # 1: fine
            slot(start + timedelta(hours=2, minutes=30)),  # 2: clashes with 1
            {"start_time": "not a time", "end_time": iso(start)},  # 3: invalid
            slot(past),  # 4: in the past
            slot(start + timedelta(hours=5), appointment_type="yoga"),  # 5
            {"end_time": iso(start + timedelta(hours=9))},  # 6: no start
            slot(start + timedelta(hours=3)),  # 7: fine, back to back with 1
            "nonsense",  # 8
            slot(start + timedelta(hours=6), minutes=-30),  # 9: ends before it starts
        ],
    }

    response = await client.post(CREATE, json=body, headers=auth)

    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["created_slots"] == 2 and reply["failed_slots"] == 8
    assert reply["errors"] == [
        {"index": 0, "start_time": iso(start + timedelta(minutes=30)), "errors": CONFLICT},
        {"index": 2, "start_time": iso(start + timedelta(hours=2, minutes=30)), "errors": IN_BATCH},
        {"index": 3, "start_time": "not a time", "errors": {"start_time": ["is invalid"]}},
        {"index": 4, "start_time": iso(past), "errors": {"start_time": ["must be in the future"]}},
        {
            "index": 5,
            "start_time": iso(start + timedelta(hours=5)),
            "errors": {"appointment_type": ["is not included in the list"]},
        },
        {"index": 6, "start_time": None, "errors": {"start_time": ["can't be blank"]}},
        {"index": 8, "start_time": None, "errors": {"slot": ["is invalid"]}},
        {
            "index": 9,
            "start_time": iso(start + timedelta(hours=6)),
            "errors": {"end_time": ["must be after start time"]},
        },
    ]
    assert existing_id not in reply["slot_ids"]
    assert await db_count("available_slots") == 3


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"slots": []}, {"provider_id": ["can't be blank"]}),
        ({"provider_id": 999999, "slots": []}, {"provider_id": ["must exist"]}),
        ({"provider_id": "abc", "slots": []}, {"provider_id": ["is invalid"]}),
        ({"provider_id": "PROVIDER", "slots": {"a": 1}}, {"slots": ["is invalid"]}),
        ({"provider_id": "PROVIDER"}, {"slots": ["can't be blank"]}),
        (
            {"provider_id": "PROVIDER", "slots": "TOO_MANY"},
            {"slots": ["is too long (maximum is 500 slots)"]},
        ),
    ],
)
async def test_whole_request_422(client, auth, factory: Factory, db_count, body, errors):
    provider = await factory.provider()
    body = dict(body)
    if body.get("provider_id") == "PROVIDER":
        body["provider_id"] = provider.id
    if body.get("slots") == "TOO_MANY":
        start = future(24)
        body["slots"] = [slot(start + timedelta(hours=i)) for i in range(501)]

    response = await client.post(CREATE, json=body, headers=auth)

    assert response.status_code == 422, response.text
    assert response.json() == {"errors": errors}
    assert await db_count("available_slots") == 0


async def test_dry_run_writes_nothing(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(30)
    await factory.slot(provider, start=start)
    body = {"provider_id": provider.id, "slots": [slot(start), slot(start + timedelta(hours=1))]}

    response = await client.post(f"{CREATE}?dry_run=true", json=body, headers=auth)

    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["dry_run"] is True and reply["slot_ids"] == [] and reply["created_slots"] == 0
    assert reply["failed_slots"] == 1 and reply["errors"][0]["index"] == 0
    assert [item["index"] for item in reply["would_create"]] == [1]
    assert await db_count("available_slots") == 1


async def test_statement_count_does_not_grow_with_the_batch(app, client, auth, factory: Factory):
    providers = [await factory.provider(f"P{n}", "X") for n in range(2)]
    start = future(24)
    # The token's first use is recorded once; count from the second request on.
    await client.post(CREATE, json={"provider_id": providers[0].id, "slots": []}, headers=auth)
    counts = {}
    for provider, size in zip(providers, (10, 500), strict=True):
        body = {
            "provider_id": provider.id,
            "slots": [slot(start + timedelta(hours=i), minutes=45) for i in range(size)],
        }
        with counted_statements(app) as statements:
            response = await client.post(CREATE, json=body, headers=auth)
        assert response.status_code == 201 and response.json()["created_slots"] == size
        counts[size] = len(statements)
    print("statements per batch:", counts)
    assert counts[10] == counts[500]
    # Auth, provider, BEGIN IMMEDIATE, overlap query, time off query, slot insert, audit
    # insert, event insert, the waitlist's read of the new slots' matching entries (+BEGIN).
    assert counts[500] <= 10, counts


async def test_500_slot_batch_is_created_whole(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    start = future(24)
    body = {
        "provider_id": provider.id,
        "slots": [slot(start + timedelta(hours=i), minutes=50) for i in range(500)],
    }
    # Its speed is measured by the benchmark (bench/), not here.
    response = await client.post(CREATE, json=body, headers=auth)
    assert response.status_code == 201 and response.json()["created_slots"] == 500
    assert len(set(response.json()["slot_ids"])) == 500
    assert await db_count("available_slots", f"provider_id = {provider.id}") == 500


async def test_batch_delete(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    other = await factory.provider("Other", "Doc")
    start = future(24)
    free = [await factory.slot(provider, start=start + timedelta(hours=i)) for i in range(3)]
    booked = await factory.slot(provider, start=start + timedelta(hours=5))
    await factory.booking(booked)
    foreign = await factory.slot(other, start=start)
    ids = [free[0].id, free[1].id, booked.id, foreign.id, 987654, free[0].id, "x", free[2].id]

    response = await client.request(
        "DELETE", DESTROY, json={"provider_id": provider.id, "slot_ids": ids}, headers=auth
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "deleted_slots": 3,
        "failed_slots": 4,
        "slot_ids": [free[0].id, free[1].id, free[2].id],
        "errors": [
            {"id": "x", "errors": "Not found"},
            {"id": booked.id, "errors": "Slot has an active booking"},
            {"id": foreign.id, "errors": "Not found"},
            {"id": 987654, "errors": "Not found"},
        ],
    }
    assert await db_count("available_slots") == 2


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"slot_ids": [1]}, {"provider_id": ["can't be blank"]}),
        ({"provider_id": 424242, "slot_ids": [1]}, {"provider_id": ["must exist"]}),
        ({"provider_id": "PROVIDER", "slot_ids": 5}, {"slot_ids": ["is invalid"]}),
        ({"provider_id": "PROVIDER"}, {"slot_ids": ["can't be blank"]}),
    ],
)
async def test_batch_delete_422(client, auth, factory: Factory, db_count, body, errors):
    provider = await factory.provider()
    await factory.slot(provider)
    body = dict(body)
    if body.get("provider_id") == "PROVIDER":
        body["provider_id"] = provider.id
    response = await client.request("DELETE", DESTROY, json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}
    assert await db_count("available_slots") == 1


async def test_batch_routes_need_an_admin(client, factory: Factory):
    token = await factory.token(role="provider")
    for method, url in (("POST", CREATE), ("DELETE", DESTROY)):
        anonymous = await client.request(method, url, json={})
        assert anonymous.status_code == 401
        forbidden = await client.request(method, url, json={}, headers={"X-User-Token": token})
        assert forbidden.status_code == 403
