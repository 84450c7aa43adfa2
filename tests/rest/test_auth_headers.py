"""REST takes the token as ``X-User-Token`` or ``Authorization: Bearer``; every 401 carries
``WWW-Authenticate`` and keeps the contract's body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import BASE, SLOTS, Factory, future, iso

CHALLENGE = 'Bearer realm="clinic-availability"'
REFUSED = {"errors": "Authentication required"}


async def test_a_bearer_token_reads_and_writes(
    client: httpx.AsyncClient, admin_token: str, factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    bearer = {"Authorization": f"Bearer {admin_token}"}
    start = future(48)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(future(49)),
        }
    }

    created = await client.post(SLOTS, json=body, headers=bearer)
    listed = await client.get(SLOTS, headers=bearer)

    assert created.status_code == 201, created.text
    assert listed.status_code == 200
    assert [slot["id"] for slot in listed.json()] == [created.json()["id"]]
    assert await db_count("available_slots") == 1


async def test_a_bearer_token_with_an_idempotency_key_is_remembered(
    client: httpx.AsyncClient, admin_token: str, factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    headers = {"Authorization": f"Bearer {admin_token}", "Idempotency-Key": "bearer-1"}
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(future(48)),
            "end_time": iso(future(49)),
        }
    }
    first = await client.post(SLOTS, json=body, headers=headers)
    again = await client.post(SLOTS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert await db_count("available_slots") == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-User-Token": "not-a-token"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["none", "unknown", "unknown-bearer", "basic"],
)
async def test_every_refusal_is_the_contract_401_with_a_challenge(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    answers = [
        await client.get(SLOTS, headers=headers),
        await client.get(f"{SLOTS}/1", headers=headers),
        await client.post(SLOTS, json={"available_slot": {}}, headers=headers),
        # Refused before the body is read: malformed JSON and text no field takes.
        await client.post(
            SLOTS, content=b"{", headers={**headers, "Content-Type": "application/json"}
        ),
        await client.post(SLOTS, json={"available_slot": {"notes": "\u0000"}}, headers=headers),
        await client.get(f"{BASE}/providers/1/calendar.ics", headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 401, answer.request.url
        assert answer.json() == REFUSED
        assert answer.headers["www-authenticate"] == CHALLENGE


async def test_fhir_refusals_carry_the_challenge_too(client: httpx.AsyncClient) -> None:
    answer = await client.get("/fhir/Schedule", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == CHALLENGE


def test_openapi_offers_both_schemes(app: Any) -> None:
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-User-Token",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    # Either one: two requirement objects.
    assert document["paths"][SLOTS]["get"]["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert "Authorization: Bearer" in document["info"]["description"]
