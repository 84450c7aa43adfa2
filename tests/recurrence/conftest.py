"""Recurrence tests run with a horizon long enough to reach next autumn's DST change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.settings import Settings
from models.platform.entities import AvailableSlot, SlotSeries

HORIZON_DAYS = 800


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        recurrence_horizon_days=HORIZON_DAYS,
        recurrence_extend_interval_seconds=0,
    )


def next_october_friday() -> date:
    """The first Friday of the next October that is still ahead."""
    today = datetime.now(UTC).date()
    year = today.year if today < date(today.year, 10, 1) else today.year + 1
    day = date(year, 10, 1)
    return day + timedelta(days=(4 - day.weekday()) % 7)


async def series_slots(session: AsyncSession, series_id: int) -> list[AvailableSlot]:
    await session.commit()  # a fresh snapshot; loaded objects stay usable
    rows = await session.execute(
        select(AvailableSlot)
        .where(AvailableSlot.series_id == series_id)
        .order_by(AvailableSlot.start_time)
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def stored_series(session: AsyncSession, series_id: int) -> SlotSeries:
    await session.commit()  # a fresh snapshot; loaded objects stay usable
    series = await session.get(SlotSeries, series_id, populate_existing=True)
    assert series is not None
    return series


def recurring_body(
    provider_id: int, start: datetime, minutes: int = 60, **extra: Any
) -> dict[str, Any]:
    from tests.factories import iso

    return {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=minutes)),
            "appointment_type": "therapy",
            "recurring": True,
            **extra,
        }
    }


async def fresh_slot(session: AsyncSession, slot_id: int) -> AvailableSlot:
    await session.commit()
    slot = await session.get(AvailableSlot, slot_id, populate_existing=True)
    assert slot is not None
    return slot
