"""The rolling horizon: extension is idempotent, concurrent-safe and never forces a clash."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from clinic_availability.horizon import extend_once, periodic_extension
from common.settings import Settings
from models.platform.entities import AvailableSlot
from models.scheduling.series import RecurrenceLimits, create_series_from_input, extend_open_series
from models.scheduling.slots import SlotInput
from tests.factories import Factory, future
from tests.recurrence.conftest import series_slots, stored_series

THIRTY_DAYS = RecurrenceLimits(horizon_days=30)


async def daily_series(session, provider, start: datetime, **extra: Any) -> int:
    first = await create_series_from_input(
        session,
        SlotInput(
            provider_id=provider.id,
            start_time=start,
            end_time=start + timedelta(hours=1),
            recurring=True,
            recurrence_pattern="daily",
            **extra,
        ),
        limits=THIRTY_DAYS,
    )
    assert first.series_id is not None
    return first.series_id


async def duplicates(session) -> int:
    await session.commit()
    grouped = (
        select(AvailableSlot.series_id, AvailableSlot.start_time)
        .group_by(AvailableSlot.series_id, AvailableSlot.start_time)
        .having(func.count() > 1)
    )
    return len((await session.execute(grouped)).all())


async def test_two_concurrent_extensions_create_each_occurrence_once(
    app, factory: Factory, session
):
    provider = await factory.provider(time_zone="America/New_York")
    start = future(2)
    series_ids = [
        await daily_series(session, provider, start + timedelta(hours=2 * i)) for i in range(3)
    ]
    before = [len(await series_slots(session, ident)) for ident in series_ids]
    assert all(30 <= count <= 31 for count in before)
    later = datetime.now(UTC) + timedelta(days=30)

    async def run() -> Any:
        async with app.state.sessionmaker() as own:
            return await extend_open_series(own, limits=THIRTY_DAYS, now=later)

    reports = await asyncio.gather(run(), run())

    after = [len(await series_slots(session, ident)) for ident in series_ids]
    assert all(59 <= count <= 61 for count in after)
    assert sum(report.created for report in reports) == sum(after) - sum(before)
    assert sum(report.series_extended for report in reports) == 3  # each series once
    assert await duplicates(session) == 0
    for ident, count in zip(series_ids, after, strict=True):
        series = await stored_series(session, ident)
        assert series.occurrences_created == count
        assert series.skipped_conflicts == 0
        assert abs(series.generated_until - (later + timedelta(days=30))) < timedelta(seconds=5)

    again = await run()
    assert again.created == 0 and again.series_extended == 0
    assert [len(await series_slots(session, ident)) for ident in series_ids] == after


async def test_a_clashing_occurrence_is_skipped_logged_and_counted(
    app, factory: Factory, session, caplog
):
    provider = await factory.provider()
    start = future(3)
    series_id = await daily_series(session, provider, start)
    blocker = await factory.slot(provider, start=start + timedelta(days=40, minutes=30))
    blocker_id = blocker.id
    later = datetime.now(UTC) + timedelta(days=30)

    with caplog.at_level(logging.WARNING, logger="clinic_availability.recurrence"):
        async with app.state.sessionmaker() as own:
            report = await extend_open_series(own, limits=THIRTY_DAYS, now=later)

    assert report.skipped_conflicts == 1
    series = await stored_series(session, series_id)
    assert series.skipped_conflicts == 1
    slots = await series_slots(session, series_id)
    assert all(slot.start_time.date() != (start + timedelta(days=40)).date() for slot in slots)
    assert any(
        f"series {series_id}" in record.getMessage() and "skipped" in record.getMessage()
        for record in caplog.records
    )
    kept = await session.get(AvailableSlot, blocker_id, populate_existing=True)
    assert kept is not None and kept.series_id is None


async def test_a_series_with_an_end_date_is_exhausted_and_left_alone(
    app, factory: Factory, session
):
    provider = await factory.provider()
    start = future(3)
    end_date = (start + timedelta(days=40)).date().isoformat()
    series_id = await daily_series(session, provider, start, recurrence_end_date=end_date)
    assert not (await stored_series(session, series_id)).exhausted
    later = datetime.now(UTC) + timedelta(days=30)

    async with app.state.sessionmaker() as own:
        await extend_open_series(own, limits=THIRTY_DAYS, now=later)
        second = await extend_open_series(own, limits=THIRTY_DAYS, now=later + timedelta(days=60))

    series = await stored_series(session, series_id)
    assert series.exhausted
    assert second.series_checked == 0
    assert len(await series_slots(session, series_id)) == 41


async def test_cli_extends_recurrences(settings: Settings, factory: Factory, session):
    provider = await factory.provider()
    series_id = await daily_series(session, provider, future(3))
    count = len(await series_slots(session, series_id))
    env = {**os.environ, "DATABASE_URL": settings.database_url, "RECURRENCE_HORIZON_DAYS": "45"}
    command = [sys.executable, "-m", "clinic_availability.cli", "extend-recurrences"]

    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert "1 of 1 open series extended" in done.stdout
    assert 14 <= len(await series_slots(session, series_id)) - count <= 16
    again = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and ": 0 occurrences created, 0 skipped" in again.stdout
    assert len(await series_slots(session, series_id)) - count in range(14, 17)


async def test_the_server_extends_series_periodically(app, settings: Settings, factory, session):
    provider = await factory.provider()
    series_id = await daily_series(session, provider, future(3))
    count = len(await series_slots(session, series_id))
    periodic = settings.model_copy(
        update={"recurrence_horizon_days": 40, "recurrence_extend_interval_seconds": 3600}
    )

    async with periodic_extension(app.state.sessionmaker, periodic):
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(await series_slots(session, series_id)) > count:
                break

    assert 9 <= len(await series_slots(session, series_id)) - count <= 11
    report = await extend_once(app.state.sessionmaker, periodic)
    assert report.created == 0
