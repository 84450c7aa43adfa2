"""Simultaneous seat claims through a real HTTP server: never more than the seats."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from common.settings import Settings
from models.platform.entities import AvailableSlot, Booking, Hold
from tests.bookings.helpers import book_body
from tests.factories import BASE, BOOKS

# PostgreSQL to themselves: a burst of connections, not a queue behind other tests.
pytestmark = [pytest.mark.slow, pytest.mark.alone]

HOLDS = f"{BASE}/holds"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A pool sized for the burst, as in test_concurrency: what is under test is who wins."""
    return Settings(
        database_url=database_url, token_cache_seconds=0, db_pool_size=25, db_max_overflow=25
    )


async def test_200_patients_on_a_group_slot_of_8(http, auth, factory, session):
    slot = await factory.slot(capacity=8)
    slot_id = slot.id
    patients = [(await factory.patient(f"P{i}", "Group")).id for i in range(200)]

    started = time.perf_counter()
    responses = await asyncio.gather(
        *(http.post(BOOKS, json=book_body(slot_id, patient), headers=auth) for patient in patients)
    )
    elapsed = time.perf_counter() - started

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 8, 409: 192}, (statuses, elapsed)
    assert all(
        response.json() == {"errors": "Slot is not available"}
        for response in responses
        if response.status_code == 409
    )
    await session.rollback()
    rows = (
        await session.execute(
            select(func.count()).select_from(Booking).where(Booking.available_slot_id == slot_id)
        )
    ).scalar_one()
    assert rows == 8
    stored = await session.get(AvailableSlot, slot_id, populate_existing=True)
    assert stored is not None and (stored.booked_count, stored.available) == (8, False)
    print(f"200 bookings of a capacity-8 slot: {dict(statuses)} in {elapsed:.2f}s")


async def test_100_holds_on_the_last_seat(http, auth, factory, session):
    slot = await factory.slot()
    slot_id = slot.id
    body = {"hold": {"available_slot_id": slot_id}}

    started = time.perf_counter()
    responses = await asyncio.gather(
        *(http.post(HOLDS, json=body, headers=auth) for _ in range(100))
    )
    elapsed = time.perf_counter() - started

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: 99}, (statuses, elapsed)
    await session.rollback()
    assert (await session.execute(select(func.count()).select_from(Hold))).scalar_one() == 1
    patient = (await factory.patient()).id
    without = await http.post(BOOKS, json=book_body(slot_id, patient), headers=auth)
    assert without.status_code == 409
    print(f"100 holds on a capacity-1 slot: {dict(statuses)} in {elapsed:.2f}s")
