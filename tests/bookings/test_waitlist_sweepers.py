"""Several hold sweepers at once over one database: each expired offer passes on once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from models.booking.holds import expire_holds
from models.booking.waitlist import WaitlistInput, create_entry
from models.platform.db import create_engine
from models.platform.entities import Hold, HoldStatus, WaitlistEntry, WaitlistStatus
from models.platform.sessions import create_sessionmaker
from tests.factories import BOOKS

pytestmark = [pytest.mark.slow]

SEATS = 10
SWEEPERS = 4


async def test_concurrent_sweepers_pass_each_expired_offer_on_once(
    database_url, client, auth, factory, session, settings
):
    slots = [await factory.slot(capacity=1) for _ in range(SEATS)]
    bookings = []
    for slot in slots:
        patient = await factory.patient("Booked", "Patient")
        body = {"book": {"available_slot_id": slot.id, "patient_id": patient.id}}
        bookings.append((await client.post(BOOKS, json=body, headers=auth)).json()["id"])
    today = datetime.now(UTC).date()
    entries = []
    for index in range(2 * SEATS):
        patient = await factory.patient(f"Waiting{index}", "Patient")
        entry = await create_entry(
            session,
            WaitlistInput(
                patient_id=patient.id, start_date=today, end_date=today + timedelta(days=5)
            ),
            zone=settings.clinic_zone,
        )
        entries.append(entry.id)
    for booking in bookings:
        cancelled = await client.put(
            f"{BOOKS}/{booking}", json={"book": {"status": "cancelled"}}, headers=auth
        )
        assert cancelled.status_code == 200
    # The first ten offers run out.
    await session.execute(
        update(Hold)
        .where(Hold.status == HoldStatus.HELD)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()

    engine = create_engine(database_url)
    try:
        makers = create_sessionmaker(engine)

        async def sweep() -> int:
            async with makers() as own:
                return await expire_holds(own)

        swept = await asyncio.wait_for(
            asyncio.gather(*(sweep() for _ in range(SWEEPERS))), timeout=120
        )
    finally:
        await engine.dispose()

    assert sum(swept) == SEATS
    await session.rollback()
    stored = list(
        (
            await session.execute(
                select(WaitlistEntry)
                .order_by(WaitlistEntry.id)
                .execution_options(populate_existing=True)
            )
        ).scalars()
    )
    statuses = Counter(entry.status for entry in stored)
    assert statuses == {WaitlistStatus.LAPSED: SEATS, WaitlistStatus.OFFERED: SEATS}
    assert [entry.status for entry in stored[:SEATS]] == [WaitlistStatus.LAPSED] * SEATS
    assert all(entry.offer_count == 1 for entry in stored)
    held = (
        await session.execute(select(Hold.available_slot_id).where(Hold.status == HoldStatus.HELD))
    ).scalars()
    assert sorted(held) == sorted(slot.id for slot in slots)
