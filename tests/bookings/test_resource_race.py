"""Simultaneous bookings of different slots that all need the one room of their kind,
through a real HTTP server: exactly one takes the room, every other is refused."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from common.settings import Settings
from models.platform.entities import AvailableSlot, Booking
from models.scheduling import resources
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import book_body
from tests.factories import BOOKS, future

pytestmark = [pytest.mark.slow, pytest.mark.alone]

RACERS = 200


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A pool sized for the burst, as in the other 200-way races (tests/bookings/
    test_concurrency.py): what is under test is who wins, not connection queueing."""
    return Settings(
        database_url=database_url, token_cache_seconds=0, db_pool_size=25, db_max_overflow=25
    )


async def test_200_bookings_of_200_slots_needing_the_one_room(http, auth, factory, session):
    room = await resources.create_resource(session, {"name": "Room 1", "kind": "room"})
    room_id = room.id
    # Another kind's room is no help.
    await resources.create_resource(session, {"name": "Lab", "kind": "lab"})
    start = future(72)
    slot_ids = []
    for i in range(RACERS):
        provider = await factory.provider(f"P{i}", "Race")
        slot_ids.append((await factory.slot(provider, start=start, resource_kind="room")).id)
    patient = (await factory.patient()).id

    started = time.perf_counter()
    responses = await asyncio.gather(
        *(
            http.post(BOOKS, json=book_body(slot_id, patient, notes=CANARY), headers=auth)
            for slot_id in slot_ids
        )
    )

    elapsed = time.perf_counter() - started
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: RACERS - 1}, (statuses, elapsed)
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": "No resource available"}
    [winner] = [response.json() for response in responses if response.status_code == 201]
    assert winner["resource_id"] == room_id

    await session.rollback()
    assert (await session.execute(select(func.count()).select_from(Booking))).scalar_one() == 1
    kept = (
        await session.execute(
            select(AvailableSlot.id, AvailableSlot.resource_id, AvailableSlot.booked_count).where(
                AvailableSlot.resource_id.is_not(None) | (AvailableSlot.booked_count > 0)
            )
        )
    ).all()
    assert [tuple(row) for row in kept] == [(winner["available_slot_id"], room_id, 1)]
    print(f"{RACERS} bookings racing for one room: {elapsed:.2f}s")
