"""Resource caps: every over-limit request is a 422 (413 for a body) with a message,
writes nothing, and the server stays responsive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

from common.settings import Settings
from rest_compat.router import BASE_PATH
from tests.factories import SLOTS, Factory, future, iso

BATCH = f"{BASE_PATH}/providers/available_slots/create_in_batch"


def get_operations_with(app: Any, *names: str) -> list[str]:
    """Paths of the documented GET operations that take all the query parameters ``names``."""
    paths = []
    for path, operations in app.openapi()["paths"].items():
        get = operations.get("get")
        if get is None or not path.startswith(BASE_PATH) or "{" in path:
            continue
        params = {p["name"] for p in get.get("parameters", []) if p.get("in") == "query"}
        if set(names) <= params:
            paths.append(path)
    return paths


async def test_body_over_the_cap_is_413(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings, db_count: Any
) -> None:
    big = b'{"available_slot": {"notes": "' + b"x" * (settings.max_body_bytes + 1) + b'"}}'
    for path in (SLOTS, BATCH, f"{BASE_PATH}/books", "/graphql"):
        response = await client.post(
            path, content=big, headers={**auth, "content-type": "application/json"}
        )
        assert response.status_code == 413, path
        assert response.json() == {"errors": "Request body too large"}


async def test_streamed_body_over_the_cap_is_413(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = await client.post(
        SLOTS, content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_page_size_over_the_cap_is_422_on_every_list(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    paths = get_operations_with(app, "page_size")
    assert len(paths) >= 4
    for path in paths:
        params: dict[str, Any] = {"page_size": settings.max_page_size + 1}
        if "utilization" in path:
            params |= {"start_date": "2030-01-01", "end_date": "2030-01-02"}
        response = await client.get(path, params=params, headers=auth)
        assert response.status_code == 422, (path, response.text)
        assert "page_size" in response.json()["errors"], path
    print(f"page_size cap: {len(paths)} list routes answer 422")


async def test_date_range_over_the_cap_is_422_on_every_list(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    paths = get_operations_with(app, "start_date", "end_date")
    assert len(paths) >= 3
    start = future(24).date()
    end = start + timedelta(days=settings.max_query_range_days)
    for path in paths:
        params = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        response = await client.get(path, params=params, headers=auth)
        assert response.status_code == 422, (path, response.text)
        assert "end_date" in response.json()["errors"], path
    print(f"date-range cap: {len(paths)} list routes answer 422")


async def test_batch_over_the_cap_is_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    settings: Settings,
    db_count: Any,
) -> None:
    provider = await factory.provider()
    base = future(48)
    slots = [
        {
            "start_time": iso(base + timedelta(hours=i)),
            "end_time": iso(base + timedelta(hours=i, minutes=30)),
        }
        for i in range(settings.max_batch_size + 1)
    ]
    response = await client.post(
        BATCH, json={"provider_id": provider.id, "slots": slots}, headers=auth
    )
    assert response.status_code == 422, response.text
    assert "slots" in response.json()["errors"]
    assert await db_count("available_slots") == 0


async def test_recurrence_expansion_over_the_cap_is_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    db_count: Any,
) -> None:
    provider = await factory.provider()
    start = future(24)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=30)),
            "recurring": True,
            "recurrence_pattern": "custom",
            "recurrence_rule": "FREQ=HOURLY",
        }
    }
    response = await client.post(SLOTS, json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert await db_count("available_slots") == 0


async def test_server_stays_responsive_under_oversized_requests(
    client: httpx.AsyncClient, auth: dict[str, str], settings: Settings
) -> None:
    big = b"[" + b"1," * (settings.max_body_bytes // 2) + b"1]"

    async def oversized() -> int:
        response = await client.post(
            SLOTS, content=big, headers={**auth, "content-type": "application/json"}
        )
        return response.status_code

    async def normal() -> float:
        started = time.perf_counter()
        response = await client.get(SLOTS, headers=auth)
        assert response.status_code == 200
        return time.perf_counter() - started

    results = await asyncio.gather(*[oversized() for _ in range(20)], normal())
    statuses, latency = results[:-1], results[-1]
    assert set(statuses) == {413}
    assert isinstance(latency, float) and latency < 5.0
    print(
        f"20 oversized bodies refused (413); a list answered meanwhile in {latency * 1000:.0f} ms"
    )


async def test_nul_characters_are_422_not_500(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    """PostgreSQL cannot store NUL in text: it is refused up front on both faces."""
    body = {"book": {"available_slot_id": 1, "patient_id": 1, "notes": "a\x00b"}}
    response = await client.post(f"{BASE_PATH}/books", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"notes": ["is invalid"]}}
    response = await client.get(SLOTS, params={"start_date": "2030-01-01\x00"}, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"start_date": ["is invalid"]}}

    literal = 'mutation { createPatient(input: {firstName: "A", lastName: "B\\u0000"}) { id } }'
    variables = {
        "query": "mutation M($i: CreatePatientInput!) { createPatient(input: $i) { id } }",
        "variables": {"i": {"firstName": "A\x00", "lastName": "B"}},
    }
    for payload, field in (({"query": literal}, "last_name"), (variables, "first_name")):
        result = (await client.post("/graphql", json=payload, headers=auth)).json()
        assert result["errors"][0]["extensions"] == {
            "code": "VALIDATION_FAILED",
            "status": 422,
            "errors": {field: ["is invalid"]},
        }
    assert await db_count("patients") == 0
