"""50 simultaneous cancellations with 50 waiting entries, through a real HTTP server: every
freed seat is offered exactly once, and no entry gets two offers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from common.settings import Settings
from models.platform.entities import AvailabilityEvent, Hold, HoldStatus, WaitlistEntry
from tests.bookings.helpers import book_body
from tests.factories import BASE, BOOKS, future

pytestmark = [pytest.mark.slow, pytest.mark.alone]

COUNT = 50


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, token_cache_seconds=0, db_pool_size=25, db_max_overflow=25
    )


async def test_50_cancellations_offer_each_seat_once(http, auth, factory, session):
    providers = [await factory.provider(f"P{i}", "Provider") for i in range(5)]
    bookings: list[int] = []
    slot_ids: list[int] = []
    for index in range(COUNT):
        provider = providers[index % len(providers)]
        slot = await factory.slot(provider, start=future(30 + index // len(providers)))
        slot_ids.append(slot.id)
        patient = await factory.patient(f"Booked{index}", "Patient")
        response = await http.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
        assert response.status_code == 201, response.text
        bookings.append(response.json()["id"])
    today = datetime.now(UTC).date()
    days = {"start_date": today.isoformat(), "end_date": (today + timedelta(days=5)).isoformat()}
    entries: list[int] = []
    for index in range(COUNT):
        patient = await factory.patient(f"Waiting{index}", "Patient")
        body = {"waitlist_entry": {"patient_id": patient.id, **days}}
        response = await http.post(f"{BASE}/waitlist_entries", json=body, headers=auth)
        assert response.status_code == 201, response.text
        entries.append(response.json()["id"])

    cancel = {"book": {"status": "cancelled"}}
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(http.put(f"{BOOKS}/{booking}", json=cancel, headers=auth) for booking in bookings)
        ),
        timeout=300,
    )
    assert Counter(response.status_code for response in responses) == {200: COUNT}

    await session.rollback()
    rows = (
        await session.execute(select(WaitlistEntry).execution_options(populate_existing=True))
    ).scalars()
    stored = {entry.id: entry for entry in rows}
    assert set(stored) == set(entries)
    # Every entry offered exactly once, each a different seat of a freed slot.
    assert all(entry.status.value == "offered" for entry in stored.values())
    assert all(entry.offer_count == 1 for entry in stored.values())
    assert sorted(entry.offered_slot_id for entry in stored.values()) == sorted(slot_ids)
    holds = (await session.execute(select(Hold).where(Hold.status == HoldStatus.HELD))).scalars()
    by_slot = Counter(hold.available_slot_id for hold in holds)
    assert by_slot == Counter(slot_ids)
    offered = (
        await session.execute(
            select(AvailabilityEvent).where(AvailabilityEvent.type == "waitlist.offered")
        )
    ).scalars()
    events = list(offered)
    assert len(events) == COUNT
    assert sorted(event.waitlist_entry_id for event in events) == sorted(entries)
    assert sorted(event.slot_id for event in events) == sorted(slot_ids)
    assert {event.hold_id for event in events} == {entry.hold_id for entry in stored.values()}
