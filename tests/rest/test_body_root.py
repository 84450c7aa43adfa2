"""Request bodies and their root key: an update without it is a 422 (a create without it
already is, field by field); unknown keys are ignored (never validated, never echoed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.factories import BASE, BOOKS, SLOTS, Factory, future, iso

BATCH_CREATE = f"{BASE}/providers/available_slots/create_in_batch"
BATCH_DELETE = f"{BASE}/providers/available_slots/destroy_in_batch"
UNKNOWN = "zz_unknown_key"


async def _slot_json(client: httpx.AsyncClient, auth: dict[str, str], slot_id: int) -> Any:
    response = await client.get(f"{SLOTS}/{slot_id}", headers=auth)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(("kind", "root"), [("slot", "available_slot"), ("book", "book")])
async def test_update_without_root_key_is_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    db_count: Any,
    kind: str,
    root: str,
) -> None:
    booking = await factory.booking()
    slot_id = booking.available_slot_id
    url = f"{SLOTS}/{slot_id}" if kind == "slot" else f"{BOOKS}/{booking.id}"
    before = await _slot_json(client, auth, slot_id)

    for body in ({}, {UNKNOWN: {"provider_id": "x"}}):
        response = await client.put(url, json=body, headers=auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {root: ["can't be blank"]}}
    assert await _slot_json(client, auth, slot_id) == before
    assert await db_count("available_slots") == 1
    assert await db_count("bookings") == 1


async def test_empty_root_object_is_a_no_op_update(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    slot = await factory.slot(appointment_type="therapy")
    before = await _slot_json(client, auth, slot.id)

    response = await client.put(f"{SLOTS}/{slot.id}", json={"available_slot": {}}, headers=auth)

    assert response.status_code == 200, response.text
    assert response.json() == before


async def test_unknown_top_level_key_is_ignored_on_success(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    slot = await factory.slot(appointment_type="therapy")
    body = {UNKNOWN: [1, {"x": None}], "available_slot": {"appointment_type": "assessment"}}

    response = await client.put(f"{SLOTS}/{slot.id}", json=body, headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()["appointment_type"] == "assessment"
    assert UNKNOWN not in response.text


async def test_unknown_keys_are_never_echoed_in_errors(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    booking = await factory.booking()
    provider_id = (await _slot_json(client, auth, booking.available_slot_id))["provider_id"]
    start = future(24 * 7)
    bad_slot = {"provider_id": provider_id, "start_time": "soon", UNKNOWN: {"a": [None]}}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", SLOTS, {"available_slot": bad_slot}),
        ("PUT", f"{SLOTS}/{booking.available_slot_id}", {"available_slot": bad_slot}),
        ("POST", BOOKS, {"book": {"patient_id": "x", UNKNOWN: 1}}),
        ("PUT", f"{BOOKS}/{booking.id}", {"book": {"status": "lost", UNKNOWN: 1}}),
        (
            "POST",
            BATCH_CREATE,
            {
                "provider_id": provider_id,
                "slots": [
                    {"start_time": "x", "end_time": iso(start), UNKNOWN: 1},
                    {"start_time": iso(start), "end_time": iso(start + timedelta(hours=1))},
                ],
            },
        ),
        ("DELETE", BATCH_DELETE, {"provider_id": "x", "slot_ids": [booking.available_slot_id]}),
    ]
    for method, url, body in requests:
        response = await client.request(
            method, url, json={**body, UNKNOWN: {"nested": "value"}}, headers=auth
        )

        assert response.status_code in (200, 201, 422), (method, url, response.text)
        assert UNKNOWN not in response.text, (method, url)
        assert "nested" not in response.text, (method, url)
    # Only the valid slot of the batch was written.
    assert await db_count("available_slots") == 2
    assert await db_count("bookings") == 1
