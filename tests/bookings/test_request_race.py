"""Simultaneous confirms and declines of one booking request, through a real HTTP server:
exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from common.settings import Settings
from models.platform.entities import AvailabilityEvent, AvailableSlot, Booking, BookingStatus
from tests.bookings.helpers import book_body
from tests.factories import BOOKS

pytestmark = [pytest.mark.slow, pytest.mark.alone]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, token_cache_seconds=0, db_pool_size=25, db_max_overflow=25
    )


async def test_100_confirms_and_declines_one_wins(http, auth, factory, session):
    slot = await factory.slot()
    patient = await factory.patient()
    created = await http.post(
        BOOKS, json=book_body(slot.id, patient.id, status="pending"), headers=auth
    )
    assert created.status_code == 201, created.text
    book_id = created.json()["id"]
    actions = ["confirm", "decline"] * 50

    responses = await asyncio.wait_for(
        asyncio.gather(
            *(http.post(f"{BOOKS}/{book_id}/{action}", headers=auth) for action in actions)
        ),
        timeout=300,
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: 99}, statuses
    assert all(
        response.json() == {"errors": "Booking is no longer pending"}
        for response in responses
        if response.status_code == 409
    )
    winner = next(response.json() for response in responses if response.status_code == 200)
    await session.rollback()
    stored = await session.get(Booking, book_id, populate_existing=True)
    assert stored is not None and stored.status.value == winner["status"]
    slot_row = await session.get(AvailableSlot, slot.id, populate_existing=True)
    assert slot_row is not None
    expected = 1 if stored.status is BookingStatus.CONFIRMED else 0
    assert slot_row.booked_count == expected
    types = (
        await session.execute(
            select(AvailabilityEvent.type).where(AvailabilityEvent.booking_id == book_id)
        )
    ).scalars()
    assert sorted(types) == sorted(["booking.created", f"booking.{winner['status']}"])
