"""The appointment type catalog: both faces, audit, idempotency, and every field that
carries a type key refusing an unknown or retired one (across processes too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.entities import APPOINTMENT_TYPES, AuditEntry
from models.scheduling import appointment_types
from tests.bookings.helpers import book_body
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.graphql.helpers import extensions, gql

TYPES = f"{BASE}/appointment_types"
NOT_LISTED = ["is not included in the list"]
TYPE_FIELDS = """
    id key name durationMinutes bufferBeforeMinutes bufferAfterMinutes modes active
    createdAt updatedAt
"""
INTAKE = {
    "key": "intake",
    "name": "Intake",
    "duration_minutes": 50,
    "buffer_after_minutes": 10,
    "modes": ["in_person", "video"],
}


async def _create(client, auth, **fields: Any) -> httpx.Response:
    return await client.post(TYPES, json={"appointment_type": fields}, headers=auth)


def _slot_body(provider_id: int, appointment_type: Any, hours: int = 30) -> dict[str, Any]:
    start = future(hours)
    return {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start.replace(minute=50)),
            "appointment_type": appointment_type,
        }
    }


async def test_the_migration_starts_the_catalog_with_the_legacy_keys(client, auth):
    response = await client.get(TYPES, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert [item["key"] for item in body] == list(APPOINTMENT_TYPES)
    assert all(item["active"] and item["modes"] == ["video", "phone", "in_person"] for item in body)
    first = await client.get(f"{TYPES}/{body[0]['id']}", headers=auth)
    assert first.json() == body[0]


async def test_create_get_update_and_retire_a_type(client, auth, factory, session):
    created = await _create(client, auth, **INTAKE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {key: body[key] for key in INTAKE} == {**INTAKE, "modes": ["video", "in_person"]}
    assert body["buffer_before_minutes"] is None and body["active"] is True
    type_id = body["id"]

    provider = await factory.provider()
    slot = await client.post(SLOTS, json=_slot_body(provider.id, "intake"), headers=auth)
    assert slot.status_code == 201, slot.text

    changed = await client.put(
        f"{TYPES}/{type_id}",
        json={"appointment_type": {"name": "New patient intake", "active": False}},
        headers=auth,
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "New patient intake"
    assert changed.json()["active"] is False
    assert (await client.get(f"{TYPES}?active=false", headers=auth)).json() == [changed.json()]

    refused = await client.post(SLOTS, json=_slot_body(provider.id, "intake", 40), headers=auth)
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"appointment_type": NOT_LISTED}}

    await session.rollback()
    entries = (
        await session.execute(
            select(AuditEntry.action, AuditEntry.changed_fields).where(
                AuditEntry.entity == "appointment_type", AuditEntry.entity_id == type_id
            )
        )
    ).all()
    assert [action for action, _ in entries] == ["create", "update"]
    assert set(entries[1][1]) == {"name", "active"}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {"key", "name", "duration_minutes"}),
        ({**INTAKE, "key": "Intake!"}, {"key"}),
        ({**INTAKE, "duration_minutes": 0}, {"duration_minutes"}),
        ({**INTAKE, "duration_minutes": "50"}, {"duration_minutes"}),
        ({**INTAKE, "modes": ["telepathy"]}, {"modes"}),
        ({**INTAKE, "modes": []}, {"modes"}),
        ({**INTAKE, "buffer_before_minutes": -1}, {"buffer_before_minutes"}),
        ({**INTAKE, "key": "therapy"}, {"key"}),
    ],
)
async def test_bad_fields_are_422_and_change_nothing(client, auth, db_count, fields, errors):
    response = await _create(client, auth, **fields)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == errors
    assert await db_count("appointment_types") == len(APPOINTMENT_TYPES)


async def test_the_key_cannot_change_and_unknown_ids_are_404(client, auth):
    type_id = (await _create(client, auth, **INTAKE)).json()["id"]
    response = await client.put(
        f"{TYPES}/{type_id}", json={"appointment_type": {"key": "other"}}, headers=auth
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"key": ["can't be changed"]}}
    assert (await client.get(f"{TYPES}/999", headers=auth)).status_code == 404
    missing = await client.put(
        f"{TYPES}/999", json={"appointment_type": {"name": "x"}}, headers=auth
    )
    assert missing.status_code == 404
    assert (await client.delete(f"{TYPES}/{type_id}", headers=auth)).status_code == 405


async def test_every_type_field_refuses_unknown_and_retired_keys(client, auth, factory):
    provider = await factory.provider()
    patient = await factory.patient()
    slot = await factory.slot(provider)
    type_id = (await _create(client, auth, **INTAKE)).json()["id"]
    await client.put(
        f"{TYPES}/{type_id}", json={"appointment_type": {"active": False}}, headers=auth
    )
    for key in ("nonsense", "intake"):
        created = await client.post(SLOTS, json=_slot_body(provider.id, key), headers=auth)
        assert created.json() == {"errors": {"appointment_type": NOT_LISTED}}
        updated = await client.put(
            f"{SLOTS}/{slot.id}", json={"available_slot": {"appointment_type": key}}, headers=auth
        )
        assert updated.json() == {"errors": {"appointment_type": NOT_LISTED}}
        booked = await client.post(
            BOOKS, json=book_body(slot.id, patient.id, appointment_type=key), headers=auth
        )
        assert booked.json() == {"errors": {"appointment_type": NOT_LISTED}}
        listed = await client.get(f"{SLOTS}/search", params={"appointment_type": key}, headers=auth)
        assert listed.status_code == 422
        assert listed.json() == {"errors": {"appointment_type": NOT_LISTED}}
        body = await gql(
            client,
            "query($t: String) { availableSlots(filter: {appointmentType: $t}) { totalCount } }",
            {"t": key},
            auth,
        )
        assert extensions(body)["errors"] == {"appointment_type": NOT_LISTED}


@pytest.fixture
async def second_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another server process on the same database (its own engine and type cache)."""
    other = create_app(settings)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await other.state.engine.dispose()


async def test_a_type_changed_in_one_process_is_seen_by_another(
    client, second_client, auth, factory, monkeypatch
):
    provider = await factory.provider()
    # The second process reads the catalog first, so it holds a copy.
    assert (
        await second_client.post(SLOTS, json=_slot_body(provider.id, "therapy"), headers=auth)
    ).status_code == 201
    type_id = (await _create(client, auth, **INTAKE)).json()["id"]
    # A key the copy lacks is looked up afresh: accepted at once.
    created = await second_client.post(
        SLOTS, json=_slot_body(provider.id, "intake", 40), headers=auth
    )
    assert created.status_code == 201, created.text
    await client.put(
        f"{TYPES}/{type_id}", json={"appointment_type": {"active": False}}, headers=auth
    )
    # A retired key is refused once the other process's copy is older than the cache.
    monkeypatch.setattr(appointment_types, "CACHE_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    refused = await second_client.post(
        SLOTS, json=_slot_body(provider.id, "intake", 50), headers=auth
    )
    assert refused.status_code == 422
    assert refused.json() == {"errors": {"appointment_type": NOT_LISTED}}


async def test_graphql_twins_match_rest(client, auth, db_count):
    body = await gql(
        client,
        f"""mutation($i: CreateAppointmentTypeInput!) {{
            createAppointmentType(input: $i) {{ {TYPE_FIELDS} }} }}""",
        {
            "i": {
                "key": "intake",
                "name": "Intake",
                "durationMinutes": 50,
                "bufferAfterMinutes": 10,
                "modes": ["IN_PERSON", "VIDEO"],
            }
        },
        auth,
    )
    created = body["data"]["createAppointmentType"]
    assert created["modes"] == ["VIDEO", "IN_PERSON"]
    rest = (await client.get(f"{TYPES}/{created['id']}", headers=auth)).json()
    assert rest["created_at"] == created["createdAt"]
    assert rest["modes"] == ["video", "in_person"]
    assert rest["buffer_after_minutes"] == created["bufferAfterMinutes"] == 10

    body = await gql(
        client,
        f"""mutation($id: Int!) {{
            updateAppointmentType(id: $id, input: {{active: false, bufferAfterMinutes: null}})
            {{ {TYPE_FIELDS} }} }}""",
        {"id": created["id"]},
        auth,
    )
    updated = body["data"]["updateAppointmentType"]
    assert updated["active"] is False and updated["bufferAfterMinutes"] is None
    by_key = await gql(
        client, f'{{ appointmentType(key: "intake") {{ {TYPE_FIELDS} }} }}', None, auth
    )
    assert by_key["data"]["appointmentType"] == updated
    listed = await gql(client, "{ appointmentTypes(active: true) { key } }", None, auth)
    assert [item["key"] for item in listed["data"]["appointmentTypes"]] == list(APPOINTMENT_TYPES)

    bad = await gql(
        client,
        """mutation { createAppointmentType(input: {key: "therapy", name: "T",
            durationMinutes: 5}) { id } }""",
        None,
        auth,
    )
    assert extensions(bad)["errors"] == {"key": ["has already been taken"]}
    assert await db_count("appointment_types") == len(APPOINTMENT_TYPES) + 1
    missing = await gql(client, '{ appointmentType(key: "nope") { id } }', None, auth)
    assert extensions(missing)["status"] == 404


async def test_idempotency_key_replays_a_create(client, auth, db_count):
    headers = {**auth, "Idempotency-Key": "type-1"}
    first = await client.post(TYPES, json={"appointment_type": INTAKE}, headers=headers)
    again = await client.post(TYPES, json={"appointment_type": INTAKE}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db_count("appointment_types") == len(APPOINTMENT_TYPES) + 1

    mutation = """mutation { createAppointmentType(input: {key: "recheck", name: "Recheck",
        durationMinutes: 20}) { id } }"""
    replies = [
        await client.post(
            "/graphql", json={"query": mutation}, headers={**auth, "Idempotency-Key": "g-1"}
        )
        for _ in range(2)
    ]
    assert replies[0].json() == replies[1].json()
    assert replies[1].headers["idempotent-replayed"] == "true"
    assert await db_count("appointment_types") == len(APPOINTMENT_TYPES) + 2
