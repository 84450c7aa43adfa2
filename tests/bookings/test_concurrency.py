"""Simultaneous bookings through a real HTTP server: exactly one winner per slot."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from common.settings import Settings
from models.platform.entities import AvailableSlot, Booking
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import book_body
from tests.factories import BOOKS, future

# PostgreSQL to themselves: a burst of connections, not a queue behind other tests.
pytestmark = [pytest.mark.slow, pytest.mark.alone]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A pool sized for the burst (50 connections, as a deployment expecting such bursts
    would set): what is under test is who wins, not how long a request may queue for a
    connection on a busy machine before the service answers 503."""
    return Settings(
        database_url=database_url, token_cache_seconds=0, db_pool_size=25, db_max_overflow=25
    )


async def _fire(http, auth, bodies):
    responses = await asyncio.gather(
        *(http.post(BOOKS, json=body, headers=auth) for body in bodies)
    )
    return responses


async def _active_bookings_per_slot(session) -> dict[int, int]:
    await session.rollback()
    rows = await session.execute(
        select(Booking.available_slot_id, func.count())
        .where(Booking.status != "cancelled")
        .group_by(Booking.available_slot_id)
    )
    return {slot_id: count for slot_id, count in rows}


async def test_200_simultaneous_bookings_of_one_slot(http, auth, factory, session):
    slot = await factory.slot()
    slot_id = slot.id
    patients = [(await factory.patient(f"P{i}", "Test")).id for i in range(20)]
    bodies = [book_body(slot_id, patients[i % 20], notes=CANARY) for i in range(200)]

    started = time.perf_counter()
    responses = await _fire(http, auth, bodies)
    elapsed = time.perf_counter() - started

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: 199}, (statuses, elapsed)
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": "Slot is not available"}
    assert await _active_bookings_per_slot(session) == {slot_id: 1}
    assert (await session.execute(select(func.count()).select_from(Booking))).scalar_one() == 1
    stored = await session.get(AvailableSlot, slot_id, populate_existing=True)
    assert stored is not None and stored.available is False
    print(f"200 bookings of one slot: {elapsed:.2f}s")


async def test_50_simultaneous_bookings_over_10_slots(http, auth, factory, session):
    provider = await factory.provider()
    start = future(72)
    slot_ids = [
        (await factory.slot(provider, start=start + timedelta(hours=i))).id for i in range(10)
    ]
    patient = (await factory.patient()).id
    bodies = [book_body(slot_ids[i % 10], patient, notes=CANARY) for i in range(50)]

    responses = await _fire(http, auth, bodies)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 10, 409: 40}, statuses
    winners = Counter(r.json()["available_slot_id"] for r in responses if r.status_code == 201)
    assert winners == dict.fromkeys(slot_ids, 1)
    assert await _active_bookings_per_slot(session) == dict.fromkeys(slot_ids, 1)
    rows = await session.execute(
        select(AvailableSlot.available)
        .where(AvailableSlot.id.in_(slot_ids))
        .execution_options(populate_existing=True)
    )
    assert [available for (available,) in rows] == [False] * 10


async def test_cancel_and_rebook_race_leaves_one_active_booking(http, auth, factory, session):
    """Cancelling while 20 others try to book: at most one active booking, flag agrees."""
    slot = await factory.slot()
    slot_id = slot.id
    booking = await factory.booking(slot)
    patient = (await factory.patient("Sam", "Okafor")).id
    cancel = http.put(f"{BOOKS}/{booking.id}", json={"book": {"status": "cancelled"}}, headers=auth)
    tries = [http.post(BOOKS, json=book_body(slot_id, patient), headers=auth) for _ in range(20)]

    responses = await asyncio.gather(cancel, *tries)

    assert responses[0].status_code == 200
    assert {r.status_code for r in responses[1:]} <= {201, 409}
    winners = sum(r.status_code == 201 for r in responses[1:])
    assert winners <= 1
    active = await _active_bookings_per_slot(session)
    assert active.get(slot_id, 0) == winners
    stored = await session.get(AvailableSlot, slot_id, populate_existing=True)
    assert stored is not None and stored.available is (winners == 0)
