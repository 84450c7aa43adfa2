"""Time off: a provider away closes every slot of theirs in the range, cause by cause."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.platform.entities import AuditEntry, AvailableSlot
from tests.bookings.helpers import book_body, stored_slot
from tests.factories import BOOKS, SLOTS, future, iso
from tests.scheduling.helpers import HOLDS, NOT_AVAILABLE, TIME_OFFS, hold_body, time_off_body

REASON = "REASON-5d1c-time-off-reason-never-logged"
TIME_OFF_KEYS = [
    "id",
    "provider_id",
    "start_time",
    "end_time",
    "reason",
    "blocked_slot_ids",
    "booked_slot_ids",
    "created_at",
    "updated_at",
]


async def test_time_off_closes_slots_and_lists_them(client, auth, factory, session):
    provider = await factory.provider()
    start = future(48)
    free = await factory.slot(provider, start=start)
    group = await factory.slot(provider, start=start + timedelta(hours=2), capacity=3)
    outside = await factory.slot(provider, start=start + timedelta(hours=10))
    await factory.booking(group)
    free_id, group_id, outside_id = free.id, group.id, outside.id

    body = time_off_body(
        provider.id, start - timedelta(hours=1), start + timedelta(hours=5), REASON
    )
    created = await client.post(TIME_OFFS, json=body, headers=auth)
    assert created.status_code == 201, created.text
    time_off = created.json()
    assert list(time_off) == TIME_OFF_KEYS
    assert (time_off["blocked_slot_ids"], time_off["booked_slot_ids"]) == ([free_id], [group_id])
    assert time_off["reason"] == REASON

    for slot_id in (free_id, group_id):
        assert (await client.get(f"{SLOTS}/{slot_id}", headers=auth)).json()["available"] is False
    assert (await client.get(f"{SLOTS}/{outside_id}", headers=auth)).json()["available"] is True
    patient = (await factory.patient("Sam", "Okafor")).id
    refused = await client.post(BOOKS, json=book_body(group_id, patient), headers=auth)
    assert refused.status_code == 409 and refused.json() == NOT_AVAILABLE
    held = await client.post(HOLDS, json=hold_body(free_id), headers=auth)
    assert held.status_code == 409 and held.json() == NOT_AVAILABLE
    searched = await client.get(
        f"{SLOTS}/search", params={"provider_id": provider.id}, headers=auth
    )
    assert [item["id"] for item in searched.json()] == [outside_id]

    shown = await client.get(f"{TIME_OFFS}/{time_off['id']}", headers=auth)
    assert shown.json() == time_off
    listed = await client.get(TIME_OFFS, params={"provider_id": provider.id}, headers=auth)
    assert listed.json() == [time_off] and listed.headers["X-Total-Count"] == "1"

    deleted = await client.delete(f"{TIME_OFFS}/{time_off['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (await client.get(f"{SLOTS}/{free_id}", headers=auth)).json()["available"] is True
    assert (await client.get(f"{TIME_OFFS}/{time_off['id']}", headers=auth)).status_code == 404
    await session.rollback()
    entries = (
        await session.execute(
            select(AuditEntry.action, AuditEntry.changed_fields).where(
                AuditEntry.entity == "time_off"
            )
        )
    ).all()
    assert [action for action, _ in entries] == ["create", "delete"]


async def test_lifting_one_cause_never_lifts_another(client, auth, factory, session):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start)
    booking = await factory.booking(slot)
    slot_id, booking_id = slot.id, booking.id
    first = await client.post(
        TIME_OFFS, json=time_off_body(provider.id, start, start + timedelta(hours=1)), headers=auth
    )
    second = await client.post(
        TIME_OFFS,
        json=time_off_body(provider.id, start - timedelta(hours=2), start + timedelta(hours=2)),
        headers=auth,
    )
    assert first.json()["booked_slot_ids"] == [slot_id]
    # A cancellation inside a time off frees the seat, not the slot.
    await client.put(f"{BOOKS}/{booking_id}", json={"book": {"status": "cancelled"}}, headers=auth)
    stored = await stored_slot(session, slot_id)
    assert (stored.booked_count, stored.available) == (0, False)
    await client.delete(f"{TIME_OFFS}/{first.json()['id']}", headers=auth)
    assert (await stored_slot(session, slot_id)).available is False
    await client.put(
        f"{SLOTS}/{slot_id}", json={"available_slot": {"available": False}}, headers=auth
    )
    await client.delete(f"{TIME_OFFS}/{second.json()['id']}", headers=auth)
    assert (await stored_slot(session, slot_id)).available is False
    await client.put(
        f"{SLOTS}/{slot_id}", json={"available_slot": {"available": True}}, headers=auth
    )
    assert (await stored_slot(session, slot_id)).available is True


async def test_slots_cannot_be_created_or_moved_into_time_off(client, auth, factory, db_count):
    provider = await factory.provider()
    start = future(48)
    slot = await factory.slot(provider, start=start + timedelta(hours=10))
    await client.post(
        TIME_OFFS, json=time_off_body(provider.id, start, start + timedelta(hours=4)), headers=auth
    )
    conflict = {"errors": "Time slot conflicts with provider time off"}
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start + timedelta(hours=1)),
            "end_time": iso(start + timedelta(hours=2)),
        }
    }
    created = await client.post(SLOTS, json=body, headers=auth)
    assert created.status_code == 409 and created.json() == conflict
    moved = await client.put(f"{SLOTS}/{slot.id}", json=body, headers=auth)
    assert moved.status_code == 409 and moved.json() == conflict
    assert await db_count("available_slots") == 1


async def test_time_off_checks_its_fields(client, auth, factory, db_count):
    provider = await factory.provider()
    start = future(48)
    backwards = time_off_body(provider.id, start, start - timedelta(hours=1), REASON)
    response = await client.post(TIME_OFFS, json=backwards, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"end_time": ["must be after start time"]}}
    too_long = time_off_body(provider.id, start, start + timedelta(hours=1), "x" * 501)
    response = await client.post(TIME_OFFS, json=too_long, headers=auth)
    assert response.json() == {"errors": {"reason": ["is too long (maximum is 500 characters)"]}}
    missing = time_off_body(999999, start, start + timedelta(hours=1), REASON)
    response = await client.post(TIME_OFFS, json=missing, headers=auth)
    assert response.json() == {"errors": {"provider_id": ["must exist"]}}
    assert REASON not in response.text
    assert await db_count("time_offs") == 0


async def test_series_skip_time_off_and_fill_it_in_once_gone(client, auth, factory, session):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(48)
    away_start = start + timedelta(days=2) - timedelta(hours=1)
    time_off = await client.post(
        TIME_OFFS,
        json=time_off_body(provider.id, away_start, away_start + timedelta(days=2)),
        headers=auth,
    )
    series = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "recurring": True,
            "recurrence_pattern": "daily",
            "recurrence_end_date": (start + timedelta(days=5)).date().isoformat(),
        }
    }
    created = await client.post(SLOTS, json=series, headers=auth)
    assert created.status_code == 201, created.text

    async def starts() -> list[str]:
        await session.rollback()
        rows = await session.execute(
            select(AvailableSlot.start_time)
            .where(AvailableSlot.provider_id == provider_id)
            .order_by(AvailableSlot.start_time)
        )
        return [iso(value) for value in rows.scalars()]

    every_day = [iso(start + timedelta(days=day)) for day in range(6)]
    assert await starts() == [every_day[i] for i in (0, 1, 4, 5)]
    await client.delete(f"{TIME_OFFS}/{time_off.json()['id']}", headers=auth)
    assert await starts() == every_day
