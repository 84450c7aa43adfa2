"""Every change writes its event in its own transaction; ids follow commit order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import events
from models.platform.db import write_transaction
from models.platform.entities import AvailabilityEvent
from tests.factories import BASE, BOOKS, SLOTS, future, iso


async def _events(session: AsyncSession, after: int = 0) -> list[AvailabilityEvent]:
    await session.rollback()
    return await events.events_after(session, after)


async def test_each_change_writes_its_event(client: Any, auth: Any, factory: Any, session: Any):
    provider = await factory.provider()
    patient = await factory.patient()
    start = future(48)
    created = await client.post(
        SLOTS,
        json={
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
            }
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    slot_id = created.json()["id"]
    closed = await client.put(
        f"{SLOTS}/{slot_id}", json={"available_slot": {"available": False}}, headers=auth
    )
    assert closed.status_code == 200, closed.text
    reopened = await client.put(
        f"{SLOTS}/{slot_id}", json={"available_slot": {"available": True}}, headers=auth
    )
    assert reopened.status_code == 200
    booked = await client.post(
        BOOKS,
        json={"book": {"available_slot_id": slot_id, "patient_id": patient.id, "notes": "flu"}},
        headers=auth,
    )
    assert booked.status_code == 201, booked.text
    book_id = booked.json()["id"]
    cancelled = await client.put(
        f"{BOOKS}/{book_id}",
        json={"book": {"status": "cancelled", "cancellation_reason": "sick"}},
        headers=auth,
    )
    assert cancelled.status_code == 200, cancelled.text
    deleted = await client.delete(f"{SLOTS}/{slot_id}", headers=auth)
    assert deleted.status_code in (200, 204), deleted.text

    rows = await _events(session)
    assert [row.type for row in rows] == [
        "slot.created",
        "slot.closed",
        "slot.reopened",
        "booking.created",
        "booking.cancelled",
        "slot.deleted",
    ]
    assert all(row.provider_id == provider.id and row.slot_id == slot_id for row in rows)
    assert [row.booking_id for row in rows if row.type.startswith("booking")] == [book_id] * 2
    assert rows[0].start_time == start and rows[0].end_time == start + timedelta(hours=1)
    assert all(row.request_id for row in rows)
    assert [row.id for row in rows] == sorted(row.id for row in rows)
    # No health data anywhere in the stored events or their payloads.
    flat = repr([events.event_payload(row) for row in rows])
    assert "flu" not in flat and "sick" not in flat and "Alex" not in flat


async def test_batch_and_series_announce_every_slot(
    client: Any, auth: Any, factory: Any, session: Any
):
    provider = await factory.provider()
    start = future(72)
    slots = [
        {
            "start_time": iso(start + timedelta(hours=n)),
            "end_time": iso(start + timedelta(hours=n, minutes=30)),
        }
        for n in range(3)
    ]
    batch = await client.post(
        f"{BASE}/providers/available_slots/create_in_batch",
        json={"provider_id": provider.id, "slots": slots},
        headers=auth,
    )
    assert batch.status_code == 201, batch.text
    removed = await client.request(
        "DELETE",
        f"{BASE}/providers/available_slots/destroy_in_batch",
        json={"provider_id": provider.id, "slot_ids": batch.json()["slot_ids"][:2]},
        headers=auth,
    )
    assert removed.status_code == 200, removed.text
    series = await client.post(
        SLOTS,
        json={
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(start + timedelta(days=1)),
                "end_time": iso(start + timedelta(days=1, hours=1)),
                "recurring": True,
                "recurrence_pattern": "weekly",
                "recurrence_end_date": str((start + timedelta(days=20)).date()),
            }
        },
        headers=auth,
    )
    assert series.status_code == 201, series.text
    rows = await _events(session)
    types = [row.type for row in rows]
    assert types == ["slot.created"] * 3 + ["slot.deleted"] * 2 + ["slot.created"] * 3
    assert [row.slot_id for row in rows[3:5]] == batch.json()["slot_ids"][:2]
    assert all(row.start_time is not None for row in rows)
    assert len({row.series_id for row in rows[5:]}) == 1 and rows[5].series_id is not None


async def test_rolled_back_change_leaves_no_event(factory: Any, session: AsyncSession):
    provider = await factory.provider()
    stored = await factory.slot(provider)
    slot = events.SlotFacts(stored.id, provider.id, stored.start_time, stored.end_time)
    before = len(await _events(session))
    with pytest.raises(RuntimeError):
        async with write_transaction(session):
            events.slot_event(session, events.SLOT_UPDATED, slot)
            await session.execute(text("SELECT 1"))
            raise RuntimeError("change refused")
    # The next successful transaction does not carry the abandoned event either.
    async with write_transaction(session):
        events.slot_event(session, events.SLOT_CLOSED, slot)
    rows = await _events(session)
    assert [row.type for row in rows[before:]] == ["slot.closed"]


async def test_refused_booking_leaves_no_event(client: Any, auth: Any, factory: Any, session: Any):
    slot = await factory.slot()
    patient = await factory.patient()
    body = {"book": {"available_slot_id": slot.id, "patient_id": patient.id}}
    assert (await client.post(BOOKS, json=body, headers=auth)).status_code == 201
    count = len(await _events(session))
    assert (await client.post(BOOKS, json=body, headers=auth)).status_code == 409
    assert len(await _events(session)) == count


def _row(provider_id: int) -> dict[str, Any]:
    return {"type": "slot.updated", "provider_id": provider_id, "occurred_at": future(0)}


async def test_overlapping_transactions_resume_without_gap(
    backend: str, app: Any, factory: Any, session: AsyncSession
):
    """A began first and B committed first: B's events come first, A's are still after B."""
    provider = await factory.provider()
    maker = app.state.sessionmaker
    async with maker() as first, maker() as second:
        async with write_transaction(first):
            events.record_event(first, type=events.SLOT_UPDATED, provider_id=provider.id)
            if backend == "postgresql":
                # A writes its events now (the statement takes the ordering lock) ...
                await first.execute(insert(AvailabilityEvent), [_row(provider.id)])

                async def commit_second() -> None:
                    async with write_transaction(second):
                        events.record_event(
                            second, type=events.SLOT_CLOSED, provider_id=provider.id
                        )

                # ... so B, committing meanwhile, waits for A's COMMIT before taking ids.
                waiting = asyncio.create_task(commit_second())
                await asyncio.sleep(0.3)
                assert not waiting.done()
        if backend == "postgresql":
            await waiting
        else:
            async with write_transaction(second):
                events.record_event(second, type=events.SLOT_CLOSED, provider_id=provider.id)
    rows = await _events(session)
    by_type: dict[str, list[int]] = {}
    for row in rows:
        by_type.setdefault(row.type, []).append(row.id)
    # Every event of A precedes every event of B: a reader that saw B has seen A.
    assert max(by_type["slot.updated"]) < min(by_type["slot.closed"])
    seen_first = await _events(session, after=0)
    resumed = await _events(session, after=seen_first[len(seen_first) // 2].id)
    assert [r.id for r in seen_first[len(seen_first) // 2 + 1 :]] == [r.id for r in resumed]


async def test_two_writers_began_in_one_order_commit_in_the_other(
    backend: str, app: Any, factory: Any, session: AsyncSession
):
    """Out-of-order commit: the later id belongs to the transaction that committed later."""
    provider = await factory.provider()
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: transactions cannot overlap")
    maker = app.state.sessionmaker
    async with maker() as first, maker() as second:
        await first.begin()
        await first.execute(text("SELECT 1"))
        events.record_event(first, type=events.SLOT_UPDATED, provider_id=provider.id)
        async with write_transaction(second):
            events.record_event(second, type=events.SLOT_CLOSED, provider_id=provider.id)
        reader_position = (await _events(session))[-1].id
        await first.commit()
    after = await _events(session, after=reader_position - 1)
    assert [row.type for row in after] == ["slot.closed", "slot.updated"]
    assert len(await _events(session, after=reader_position)) == 1


async def _old_events(session: AsyncSession, provider_id: int, count: int) -> None:
    async with write_transaction(session):
        await session.execute(
            insert(AvailabilityEvent),
            [{**_row(provider_id), "occurred_at": future(-24 * 40)} for _ in range(count)],
        )


async def test_purge_keeps_recent_events(factory: Any, session: AsyncSession):
    provider = await factory.provider()
    await _old_events(session, provider.id, 2)
    await factory.slot(provider)
    # Committed later but stamped earlier: it stays, as everything after the first recent
    # event does (only a prefix of the stream is purged).
    await _old_events(session, provider.id, 1)
    removed = await events.purge_events(session, retention_days=30)
    assert removed == 2
    remaining = (
        await session.execute(select(AvailabilityEvent.type).order_by(AvailabilityEvent.id))
    ).scalars()
    assert list(remaining) == ["slot.created", "slot.updated"]


async def test_purge_keeps_the_newest_event_so_resume_positions_can_be_checked(
    factory: Any, session: AsyncSession
):
    provider = await factory.provider()
    await _old_events(session, provider.id, 3)
    ids = [row.id for row in await _events(session)]
    assert await events.purge_events(session, retention_days=30) == 2
    first = await events.first_event_id(session)
    assert first == ids[-1] == await events.last_event_id(session)
    assert events.resumable(ids[-1], first) and events.resumable(ids[-2], first)
    assert not events.resumable(ids[0], first) and not events.resumable(0, first)
    assert events.resumable(0, None)


async def test_holds_and_time_off_announce_themselves(
    client: Any, auth: Any, factory: Any, session: Any
):
    from models.booking.holds import expire_holds
    from tests.scheduling.helpers import HOLDS, TIME_OFFS

    provider = await factory.provider()
    patient = await factory.patient()
    first, second, third = [await factory.slot(provider, start=future(h)) for h in (30, 32, 34)]
    held = await client.post(
        HOLDS,
        json={"hold": {"available_slot_id": first.id, "patient_id": patient.id}},
        headers=auth,
    )
    assert held.status_code == 201, held.text
    released = await client.delete(f"{HOLDS}/{held.json()['id']}", headers=auth)
    assert released.status_code == 204
    kept = await client.post(HOLDS, json={"hold": {"available_slot_id": second.id}}, headers=auth)
    booked_hold = await client.post(
        HOLDS,
        json={"hold": {"available_slot_id": third.id, "patient_id": patient.id}},
        headers=auth,
    )
    booked = await client.post(
        BOOKS,
        json={
            "book": {
                "available_slot_id": third.id,
                "patient_id": patient.id,
                "hold_id": booked_hold.json()["id"],
            }
        },
        headers=auth,
    )
    assert booked.status_code == 201, booked.text
    # The sweeper's work, as if the held time had passed: announced once, however often run.
    held_time_passed = datetime.now(UTC) + timedelta(hours=1)
    assert await expire_holds(session, now=held_time_passed) == 1
    assert await expire_holds(session, now=held_time_passed) == 0
    off = await client.post(
        TIME_OFFS,
        json={
            "time_off": {
                "provider_id": provider.id,
                "start_time": iso(future(40)),
                "end_time": iso(future(44)),
                "reason": "surgery",
            }
        },
        headers=auth,
    )
    assert off.status_code == 201, off.text
    assert (await client.delete(f"{TIME_OFFS}/{off.json()['id']}", headers=auth)).status_code == 204

    rows = [row for row in await _events(session) if not row.type.startswith("slot.")]
    assert [(row.type, row.slot_id) for row in rows] == [
        ("hold.created", first.id),
        ("hold.released", first.id),
        ("hold.created", second.id),
        ("hold.created", third.id),
        ("hold.booked", third.id),
        ("booking.created", third.id),
        ("hold.expired", second.id),
        ("time_off.created", None),
        ("time_off.deleted", None),
    ]
    assert rows[6].hold_id == kept.json()["id"]
    assert rows[-1].time_off_id == off.json()["id"]
    flat = repr([events.event_payload(row) for row in rows])
    assert "surgery" not in flat
