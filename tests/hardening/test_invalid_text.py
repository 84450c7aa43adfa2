"""Text that is not valid Unicode (a JSON-escaped lone surrogate), or a NUL character:
REST answers 422 on its field after the token check, GraphQL a 400 malformed request
before it; never a 500, nothing stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rest_compat.router import BASE_PATH
from tests.factories import BOOKS, SLOTS, Factory, future, iso

SURROGATE = "a\ud800b"


def escaped(payload: Any) -> bytes:
    """JSON with every non-ASCII character escaped, so a lone surrogate travels as ``\\ud800``."""
    return json.dumps(payload, ensure_ascii=True).encode("ascii")


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.request(
        method,
        url,
        content=escaped(payload),
        headers={"content-type": "application/json", **(headers or {})},
    )


def slot_fields(provider_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "start_time": iso(future(30)),
        "end_time": iso(future(31)),
        **fields,
    }


async def test_rest_refuses_a_lone_surrogate_in_every_free_text_field(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    patient = await factory.patient()
    booking = await factory.booking(notes="kept")
    slot = await factory.slot(provider, start=future(60))
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "POST",
            BOOKS,
            {"book": {"available_slot_id": slot.id, "patient_id": patient.id, "notes": SURROGATE}},
            "notes",
        ),
        (
            "POST",
            BOOKS,
            {
                "book": {
                    "available_slot_id": slot.id,
                    "patient_id": patient.id,
                    "appointment_type": SURROGATE,
                }
            },
            "appointment_type",
        ),
        (
            "PUT",
            f"{BOOKS}/{booking.id}",
            {"book": {"status": "cancelled", "cancellation_reason": SURROGATE}},
            "cancellation_reason",
        ),
        ("PUT", f"{BOOKS}/{booking.id}", {"book": {"notes": SURROGATE}}, "notes"),
        (
            "POST",
            SLOTS,
            {"available_slot": slot_fields(provider.id, appointment_type=SURROGATE)},
            "appointment_type",
        ),
        (
            "POST",
            SLOTS,
            {
                "available_slot": slot_fields(
                    provider.id, recurring=True, recurrence_rule="FREQ=WEEKLY;X=" + SURROGATE
                )
            },
            "recurrence_rule",
        ),
        (
            "PUT",
            f"{SLOTS}/{slot.id}",
            {"available_slot": {"appointment_type": SURROGATE}},
            "appointment_type",
        ),
        (
            "POST",
            f"{BASE_PATH}/providers/available_slots/create_in_batch",
            {
                "provider_id": provider.id,
                "slots": [
                    {
                        "start_time": iso(future(80)),
                        "end_time": iso(future(81)),
                        "appointment_type": SURROGATE,
                    }
                ],
            },
            "appointment_type",
        ),
    ]
    slots_before = await db_count("available_slots")
    for method, url, payload, field in cases:
        response = await send(client, method, url, payload, auth)
        assert response.status_code == 422, (method, url, response.text)
        assert response.json() == {"errors": {field: ["is invalid"]}}
        # The token is checked first, as for every 422.
        response = await send(client, method, url, payload)
        assert response.status_code == 401, (method, url, response.text)
    assert await db_count("available_slots") == slots_before
    assert await db_count("bookings") == 1
    assert await db_count("bookings", "notes = 'kept' AND status = 'confirmed'") == 1


async def test_rest_accepts_a_surrogate_pair(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    """An escaped pair is one valid character (an emoji): not refused."""
    slot = await factory.slot()
    patient = await factory.patient()
    payload = {"book": {"available_slot_id": slot.id, "patient_id": patient.id, "notes": "ok 😀"}}
    response = await send(client, "POST", BOOKS, payload, auth)
    assert response.status_code == 201, response.text
    assert b"\\ud83d\\ude00" in escaped(payload)


GRAPHQL_CREATE_PATIENT = (
    "mutation M($i: CreatePatientInput!) { createPatient(input: $i) { id firstName } }"
)


def bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "\ud800" not in error["message"]


@pytest.mark.parametrize("with_token", [True, False])
async def test_graphql_refuses_invalid_unicode_anywhere_as_a_malformed_request(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any, with_token: bool
) -> None:
    headers = auth if with_token else {}
    payloads: list[dict[str, Any]] = [
        {
            "query": GRAPHQL_CREATE_PATIENT,
            "variables": {"i": {"firstName": SURROGATE, "lastName": "B"}},
        },
        {
            "query": GRAPHQL_CREATE_PATIENT,
            "operationName": SURROGATE,
            "variables": {"i": {"firstName": "A", "lastName": "B"}},
        },
        {"query": "{ providers(first: 1) { nodes { id } } }  # " + SURROGATE},
        {
            "query": 'mutation { createPatient(input: {firstName: "'
            + SURROGATE
            + '", lastName: "B"}) { id } }'
        },
        {"query": "{ providers { totalCount } }", "extensions": {SURROGATE: 1}},
    ]
    for payload in payloads:
        bad_request(await send(client, "POST", "/graphql", payload, headers))
    # Bytes that are not UTF-8 at all.
    raw = b'{"query": "{ providers { totalCount } } # \xff\xfe"}'
    bad_request(
        await client.post(
            "/graphql", content=raw, headers={"content-type": "application/json", **headers}
        )
    )
    assert await db_count("patients") == 0


async def test_graphql_nul_stays_a_validation_error_on_its_field(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    """NUL is Unicode: the request is well formed, its value is invalid (as before)."""
    payload = {
        "query": GRAPHQL_CREATE_PATIENT,
        "variables": {"i": {"firstName": "A", "lastName": "B\x00"}},
    }
    body = (await send(client, "POST", "/graphql", payload, auth)).json()
    assert body["errors"][0]["extensions"]["errors"] == {"last_name": ["is invalid"]}
    assert await db_count("patients") == 0
