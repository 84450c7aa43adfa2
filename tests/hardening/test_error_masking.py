"""Unexpected failures: the contract's 500 body with a request id; the log has the stack
but never the request body or booking notes. Domain errors pass through unchanged."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from clinic_availability.logging import JsonFormatter
from models.scheduling import series as slot_ops
from tests.factories import SLOTS, Factory, future, iso

SECRET = "patient-says-SECRET-detail"


def _formatted(caplog: pytest.LogCaptureFixture) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


async def test_rest_unexpected_error_is_masked(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    db_count: Any,
) -> None:
    provider = await factory.provider()

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"bug while handling notes={SECRET}")

    monkeypatch.setattr(slot_ops, "create_slot", broken)
    start = future(30)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(future(31)),
            "appointment_type": SECRET,
        }
    }
    caplog.set_level(logging.INFO)
    response = await client.post(SLOTS, json=body, headers=auth)

    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"errors": "Internal server error", "request_id": request_id}
    assert SECRET not in response.text
    log = _formatted(caplog)
    assert "RuntimeError" in log and "broken" in log  # type and stack are there
    assert request_id in log
    assert SECRET not in log
    assert await db_count("available_slots") == 0


async def test_graphql_unexpected_error_is_masked(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from models.scheduling import people

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"bug with {SECRET}")

    monkeypatch.setattr(people, "create_patient", broken)
    caplog.set_level(logging.INFO)
    query = (
        f'mutation {{ createPatient(input: {{firstName: "{SECRET}", lastName: "B"}}) {{ id }} }}'
    )
    response = await client.post("/graphql", json={"query": query}, headers=auth)

    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["status"] == 500
    assert error["extensions"]["request_id"] == response.headers["x-request-id"]
    assert SECRET not in response.text
    log = _formatted(caplog)
    assert "RuntimeError" in log
    assert SECRET not in log


async def test_domain_errors_pass_through(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(f"{SLOTS}/999999", headers=auth)
    assert response.status_code == 404
    assert response.json() == {"errors": "Not found"}
    query = "{ availableSlot(id: 999999) { id } }"
    body = (await client.post("/graphql", json={"query": query}, headers=auth)).json()
    assert body["errors"][0]["extensions"] == {
        "code": "NOT_FOUND",
        "status": 404,
        "errors": "Not found",
    }
