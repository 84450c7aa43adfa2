"""``Idempotency-Key`` on GraphQL mutations: replays, mismatches, per user and per face."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.factories import SLOTS, Factory, future, iso
from tests.graphql.helpers import GRAPHQL

CREATE_PATIENT = (
    "mutation CreatePatient($input: CreatePatientInput!) "
    "{ createPatient(input: $input) { id firstName lastName } }"
)
MISMATCH = {"idempotency_key": ["has already been used with a different request"]}


def create_patient(first_name: str = "Ada") -> dict[str, Any]:
    return {
        "query": CREATE_PATIENT,
        "operationName": "CreatePatient",
        "variables": {"input": {"firstName": first_name, "lastName": "Lovelace"}},
    }


async def test_retry_replays_the_first_result_and_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    headers = {**auth, "Idempotency-Key": "patient-1"}
    first = await client.post(GRAPHQL, json=create_patient(), headers=headers)
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers
    created = first.json()
    assert "errors" not in created, created
    audit_after_first = await db_count("audit_log")
    for _ in range(2):
        again = await client.post(GRAPHQL, json=create_patient(), headers=headers)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == created
    assert await db_count("patients") == 1
    assert await db_count("audit_log") == audit_after_first


async def test_same_key_with_another_request_is_validation_failed(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    headers = {**auth, "Idempotency-Key": "patient-2"}
    assert (
        "errors" not in (await client.post(GRAPHQL, json=create_patient(), headers=headers)).json()
    )
    other_variables = create_patient("Grace")
    other_operation = {**create_patient(), "query": CREATE_PATIENT.replace("lastName }", "}")}
    for payload in (other_variables, other_operation):
        body = (await client.post(GRAPHQL, json=payload, headers=headers)).json()
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION_FAILED"
        assert error["extensions"]["status"] == 422
        assert error["extensions"]["errors"] == MISMATCH
    assert await db_count("patients") == 1


async def test_keys_are_per_user_and_per_face(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    key = {"Idempotency-Key": "shared-key"}
    provider = await factory.provider()
    slot = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(future(30)),
            "end_time": iso(future(31)),
        }
    }
    rest = await client.post(SLOTS, json=slot, headers={**auth, **key})
    assert rest.status_code == 201, rest.text
    graphql = (await client.post(GRAPHQL, json=create_patient(), headers={**auth, **key})).json()
    assert "errors" not in graphql, graphql
    other_admin = {"X-User-Token": await factory.token(role="admin"), **key}
    other = (await client.post(GRAPHQL, json=create_patient(), headers=other_admin)).json()
    assert "errors" not in other, other
    assert other["data"]["createPatient"]["id"] != graphql["data"]["createPatient"]["id"]
    assert await db_count("patients") == 2
    assert await db_count("available_slots") == 1
    # And the REST key still replays its own reply.
    again = await client.post(SLOTS, json=slot, headers={**auth, **key})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == rest.json()


async def test_queries_ignore_the_key_and_bad_keys_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    query = {"query": "{ patients { totalCount } }"}
    reply = await client.post(GRAPHQL, json=query, headers={**auth, "Idempotency-Key": "q"})
    assert reply.json() == {"data": {"patients": {"totalCount": 0}}}
    assert await db_count("idempotency_keys") == 0
    too_long = {**auth, "Idempotency-Key": "k" * 256}
    body = (await client.post(GRAPHQL, json=create_patient(), headers=too_long)).json()
    assert body["errors"][0]["extensions"]["errors"] == {"idempotency_key": ["is invalid"]}
    assert await db_count("patients") == 0


async def test_a_key_without_admin_rights_is_refused_as_usual(
    client: httpx.AsyncClient, factory: Factory, db_count: Any
) -> None:
    headers = {"X-User-Token": await factory.token(role="patient"), "Idempotency-Key": "p"}
    body = (await client.post(GRAPHQL, json=create_patient(), headers=headers)).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await db_count("idempotency_keys") == 0
    assert await db_count("patients") == 0


async def test_concurrent_duplicates_write_once(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    headers = {**auth, "Idempotency-Key": "burst"}
    replies = await asyncio.gather(
        *[client.post(GRAPHQL, json=create_patient(), headers=headers) for _ in range(6)]
    )
    bodies = [reply.json() for reply in replies]
    assert "errors" not in bodies[0], bodies
    assert all(body == bodies[0] for body in bodies), bodies
    assert sum(reply.headers.get("idempotent-replayed") == "true" for reply in replies) == 5
    assert await db_count("patients") == 1
