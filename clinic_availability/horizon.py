"""Keeping recurring series filled up to the rolling horizon, from the CLI or the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.settings import Settings, limits_of
from models.scheduling.series import ExtensionReport, extend_open_series

logger = logging.getLogger("clinic_availability.recurrence")


async def extend_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> ExtensionReport:
    async with sessionmaker() as session:
        report = await extend_open_series(session, limits=limits_of(settings), now=now)
    if report.series_extended:
        logger.info(
            "extended %d recurring series: %d occurrences created, %d skipped for clashes",
            report.series_extended,
            report.created,
            report.skipped_conflicts,
        )
    return report


async def _extend_forever(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    while True:
        try:
            await extend_once(sessionmaker, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The next round retries; a failed round leaves every series consistent.
            logger.exception("extending recurring series failed")
        await asyncio.sleep(settings.recurrence_extend_interval_seconds)


@asynccontextmanager
async def periodic_extension(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[None]:
    """Extend every open series now and then every interval, while the server runs.

    Several servers may run this at once: each series is extended under its row lock
    (``SKIP LOCKED`` on PostgreSQL), so none is extended twice. An interval of 0 turns it off.
    """
    if settings.recurrence_extend_interval_seconds <= 0:
        yield
        return
    task = asyncio.create_task(_extend_forever(sessionmaker, settings), name="extend-recurrences")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
