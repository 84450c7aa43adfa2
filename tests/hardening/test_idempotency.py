"""Idempotency-Key on every POST: replays, mismatches, expiry, concurrency, failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import idempotency as keys
from models.platform.entities import IdempotencyRecord
from models.platform.timeutil import now_utc
from models.scheduling import series as slot_ops
from rest_compat.router import BASE_PATH
from tests.factories import BOOKS, SLOTS, Factory, future, iso

BATCH = f"{BASE_PATH}/providers/available_slots/create_in_batch"


def slot_body(provider_id: int, hours: float = 30, minutes: int = 60) -> dict[str, Any]:
    start = future(hours)
    return {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=minutes)),
        }
    }


def post_paths(app: Any) -> list[str]:
    return [
        path
        for path, operations in app.openapi()["paths"].items()
        if "post" in operations and path.startswith(BASE_PATH)
    ]


async def test_retry_replays_and_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    body = slot_body(provider.id)
    headers = {**auth, "Idempotency-Key": "create-slot-1"}
    first = await client.post(SLOTS, json=body, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    audit_after_first = await db_count("audit_log")
    for _ in range(3):
        again = await client.post(SLOTS, json=body, headers=headers)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.json() == first.json()
    assert await db_count("available_slots") == 1
    assert await db_count("audit_log") == audit_after_first


async def test_same_key_other_body_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    headers = {**auth, "Idempotency-Key": "k-1"}
    assert (
        await client.post(SLOTS, json=slot_body(provider.id), headers=headers)
    ).status_code == 201
    other = await client.post(SLOTS, json=slot_body(provider.id, hours=40), headers=headers)
    assert other.status_code == 422
    assert other.json() == {
        "errors": {"idempotency_key": ["has already been used with a different request"]}
    }
    # Another route with the same key is another request too.
    batch = await client.post(
        BATCH, json={"provider_id": provider.id, "slots": []}, headers=headers
    )
    assert batch.status_code == 422
    assert await db_count("available_slots") == 1


async def test_keys_are_scoped_per_user(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    other_admin = {"X-User-Token": await factory.token(role="admin")}
    key = {"Idempotency-Key": "shared-key"}
    first = await client.post(SLOTS, json=slot_body(provider.id), headers={**auth, **key})
    second = await client.post(
        SLOTS, json=slot_body(provider.id, hours=50), headers={**other_admin, **key}
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert await db_count("available_slots") == 2


async def test_expired_keys_are_ignored_and_purged(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    session: AsyncSession,
    db_count: Any,
) -> None:
    provider = await factory.provider()
    headers = {**auth, "Idempotency-Key": "old-key"}
    assert (
        await client.post(SLOTS, json=slot_body(provider.id), headers=headers)
    ).status_code == 201
    await session.execute(
        update(IdempotencyRecord).values(expires_at=now_utc() - timedelta(seconds=1))
    )
    await session.commit()
    # The key is forgotten: the same request runs again (and meets its own slot: 409).
    again = await client.post(SLOTS, json=slot_body(provider.id), headers=headers)
    assert again.status_code == 409
    assert "idempotent-replayed" not in again.headers
    assert await db_count("idempotency_keys") == 1
    await session.execute(
        update(IdempotencyRecord).values(expires_at=now_utc() - timedelta(seconds=1))
    )
    await session.commit()
    assert await keys.purge_expired(session) == 1
    assert await db_count("idempotency_keys") == 0
    record = keys.KEY_TTL
    assert record == timedelta(hours=24)


async def test_concurrent_duplicates_write_once(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    body = slot_body(provider.id)
    headers = {**auth, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *[client.post(SLOTS, json=body, headers=headers) for _ in range(8)]
    )
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * 8, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await db_count("available_slots") == 1


async def test_failure_that_changed_nothing_frees_the_key(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    db_count: Any,
) -> None:
    provider = await factory.provider()
    body = slot_body(provider.id)
    headers = {**auth, "Idempotency-Key": "flaky"}
    real = slot_ops.create_slot

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("transient")

    monkeypatch.setattr(slot_ops, "create_slot", broken)
    assert (await client.post(SLOTS, json=body, headers=headers)).status_code == 500
    monkeypatch.setattr(slot_ops, "create_slot", real)
    retry = await client.post(SLOTS, json=body, headers=headers)
    assert retry.status_code == 201
    assert await db_count("available_slots") == 1


async def test_change_committed_then_failure_is_never_rerun(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    db_count: Any,
) -> None:
    """The reply is lost after the change committed: a retry must not write again."""
    provider = await factory.provider()
    body = slot_body(provider.id)
    headers = {**auth, "Idempotency-Key": "lost-reply"}
    real = slot_ops.create_slot

    async def commits_then_fails(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise RuntimeError("crashed after commit")

    monkeypatch.setattr(slot_ops, "create_slot", commits_then_fails)
    assert (await client.post(SLOTS, json=body, headers=headers)).status_code == 500
    monkeypatch.setattr(slot_ops, "create_slot", real)
    retry = await client.post(SLOTS, json=body, headers=headers)
    assert retry.status_code == 409
    assert retry.json() == {
        "errors": "The request with this Idempotency-Key was processed; its reply is not available"
    }
    assert await db_count("available_slots") == 1


async def test_every_post_route_honours_the_key(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], db_count: Any
) -> None:
    paths = post_paths(app)
    assert {SLOTS, BATCH, BOOKS} <= set(paths)
    for index, path in enumerate(paths):
        headers = {**auth, "Idempotency-Key": f"every-post-{index}"}
        first = await client.post(path, json={}, headers=headers)
        again = await client.post(path, json={}, headers=headers)
        assert again.status_code == first.status_code, path
        assert again.content == first.content, path
        assert again.headers.get("idempotent-replayed") == "true", path
        parameters = app.openapi()["paths"][path]["post"]["parameters"]
        assert any(p["name"] == "Idempotency-Key" for p in parameters), path
    assert await db_count("idempotency_keys") == len(paths)
    print(f"Idempotency-Key honoured and documented on {len(paths)} POST routes")


async def test_invalid_key_is_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(SLOTS, json={}, headers={**auth, "Idempotency-Key": "x" * 256})
    assert response.status_code == 422
    assert response.json() == {"errors": {"idempotency_key": ["is invalid"]}}


async def test_booking_create_is_idempotent(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    slot = await factory.slot()
    patient = await factory.patient()
    body = {"book": {"available_slot_id": slot.id, "patient_id": patient.id, "notes": "n"}}
    headers = {**auth, "Idempotency-Key": "book-1"}
    first = await client.post(BOOKS, json=body, headers=headers)
    again = await client.post(BOOKS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await db_count("bookings") == 1
