"""The audit trail: one entry per change, in the change's transaction; names, not values."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability import cli
from common.settings import Settings
from models.platform.entities import AuditEntry
from models.platform.users import authenticate
from rest_compat.router import BASE_PATH
from tests.factories import BOOKS, SLOTS, Factory, future, iso

BATCH = f"{BASE_PATH}/providers/available_slots/create_in_batch"


async def entries(session: AsyncSession, **where: Any) -> list[AuditEntry]:
    await session.rollback()
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, name) == value)
    return list((await session.execute(stmt)).scalars())


async def test_slot_lifecycle_is_audited(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_token: str,
    factory: Factory,
    session: AsyncSession,
) -> None:
    provider = await factory.provider()
    admin = await authenticate(session, admin_token)
    start = future(30)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "therapy",
        }
    }
    created = await client.post(SLOTS, json=body, headers=auth)
    assert created.status_code == 201
    slot_id = created.json()["id"]
    updated = await client.put(
        f"{SLOTS}/{slot_id}",
        json={"available_slot": {"appointment_type": "assessment"}},
        headers=auth,
    )
    assert updated.status_code == 200
    deleted = await client.delete(f"{SLOTS}/{slot_id}", headers=auth)
    assert deleted.status_code == 204

    trail = await entries(session, entity="available_slot", entity_id=slot_id)
    assert [entry.action for entry in trail] == ["create", "update", "delete"]
    create, update, delete = trail
    assert {"provider_id", "start_time", "end_time", "appointment_type"} <= set(
        create.changed_fields
    )
    assert update.changed_fields == ["appointment_type"]
    assert delete.changed_fields == []
    for entry, response in zip(trail, (created, updated, deleted), strict=True):
        assert entry.user_id == admin.user_id
        assert entry.token_id == admin.token_id
        assert entry.request_id == response.headers["x-request-id"]
        assert entry.occurred_at is not None
    stored = json.dumps([entry.changed_fields for entry in trail])
    assert "assessment" not in stored and "therapy" not in stored


async def test_refused_write_leaves_no_entry(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: AsyncSession
) -> None:
    slot = await factory.slot()
    body = {
        "available_slot": {
            "provider_id": slot.provider_id,
            "start_time": iso(slot.start_time),
            "end_time": iso(slot.end_time),
        }
    }
    before = len(await entries(session))
    assert (await client.post(SLOTS, json=body, headers=auth)).status_code == 409
    assert len(await entries(session)) == before


async def test_batch_create_is_audited_per_slot(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: AsyncSession
) -> None:
    provider = await factory.provider()
    base = future(40)
    slots = [
        {
            "start_time": iso(base + timedelta(hours=i)),
            "end_time": iso(base + timedelta(hours=i, minutes=45)),
        }
        for i in range(5)
    ]
    response = await client.post(
        BATCH, json={"provider_id": provider.id, "slots": slots}, headers=auth
    )
    assert response.status_code == 201, response.text
    ids = response.json()["slot_ids"]
    trail = await entries(session, entity="available_slot", action="create")
    assert sorted(entry.entity_id or 0 for entry in trail) == sorted(ids)
    assert all(entry.request_id == response.headers["x-request-id"] for entry in trail)
    assert all("start_time" in entry.changed_fields for entry in trail)


async def test_booking_and_notes_reads_are_audited(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: AsyncSession
) -> None:
    slot = await factory.slot()
    patient = await factory.patient()
    body = {"book": {"available_slot_id": slot.id, "patient_id": patient.id, "notes": "private"}}
    created = await client.post(BOOKS, json=body, headers=auth)
    assert created.status_code == 201
    book_id = created.json()["id"]
    [create] = await entries(session, entity="booking", entity_id=book_id, action="create")
    assert "notes" in create.changed_fields

    shown = await client.get(f"{BOOKS}/{book_id}", headers=auth)
    assert shown.status_code == 200 and shown.json()["notes"] == "private"
    listed = await client.get(BOOKS, params={"include_notes": "true"}, headers=auth)
    assert listed.status_code == 200
    without = await client.get(BOOKS, params={"include_notes": "false"}, headers=auth)
    assert without.status_code == 200
    query = f"{{ book(id: {book_id}) {{ id notes }} }}"
    assert (await client.post("/graphql", json={"query": query}, headers=auth)).status_code == 200
    query = f"{{ book(id: {book_id}) {{ id status }} }}"
    assert (await client.post("/graphql", json={"query": query}, headers=auth)).status_code == 200

    reads = await entries(session, entity="booking", action="read_notes")
    assert [entry.request_id for entry in reads] == [
        shown.headers["x-request-id"],
        listed.headers["x-request-id"],
        reads[-1].request_id,
    ]
    assert all(entry.entity_id == book_id and entry.changed_fields == ["notes"] for entry in reads)


async def test_a_list_read_of_notes_is_one_entry_naming_every_booking(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: AsyncSession
) -> None:
    ids = sorted([(await factory.booking(notes="private")).id for _ in range(3)])
    before = len(await entries(session, action="read_notes"))

    listed = await client.get(BOOKS, headers=auth)  # notes are shown by default
    assert listed.status_code == 200
    assert {book["notes"] for book in listed.json()} == {"private"}

    reads = await entries(session, action="read_notes")
    assert len(reads) == before + 1
    [entry] = reads[before:]
    assert entry.request_id == listed.headers["x-request-id"]
    assert (entry.entity, entry.entity_id) == ("booking", None)
    assert entry.changed_fields == ["notes", *(f"booking:{id_}" for id_ in ids)]

    unread = await client.get(BOOKS, params={"include_notes": "false"}, headers=auth)
    assert unread.status_code == 200 and "notes" not in unread.json()[0]
    assert len(await entries(session, action="read_notes")) == before + 1


async def test_graphql_changes_are_audited(
    client: httpx.AsyncClient, auth: dict[str, str], admin_token: str, session: AsyncSession
) -> None:
    admin = await authenticate(session, admin_token)
    query = 'mutation { createPatient(input: {firstName: "A", lastName: "B"}) { id } }'
    response = await client.post("/graphql", json={"query": query}, headers=auth)
    patient_id = response.json()["data"]["createPatient"]["id"]
    [entry] = await entries(session, entity="patient", entity_id=patient_id)
    assert (entry.action, entry.user_id, entry.token_id) == (
        "create",
        admin.user_id,
        admin.token_id,
    )
    assert entry.request_id == response.headers["x-request-id"]


async def test_audit_log_is_append_only(factory: Factory, session: AsyncSession) -> None:
    await factory.provider()
    assert await entries(session)
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError):
            await session.execute(text(statement))
        await session.rollback()
    assert all(entry.action != "x" for entry in await entries(session))


async def test_audit_command_prints_the_trail(
    factory: Factory,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = await factory.provider()
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    import asyncio

    code = await asyncio.to_thread(
        cli.main, ["audit", "--entity", "provider", "--entity-id", str(provider.id)]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["action"], line["entity"], line["entity_id"]) for line in lines] == [
        ("create", "provider", provider.id)
    ]
    assert "first_name" in lines[0]["changed_fields"]
