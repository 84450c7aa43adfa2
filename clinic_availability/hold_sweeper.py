"""Announcing expired holds: a server task marks them and records ``hold.expired``
(and ``booking.expired`` for booking requests past ``pending_expires_at``); the seats they
kept go to the waitlist in the same transaction.

Correctness never waits on it (an expired hold stops counting at ``expires_at`` for every
reader); subscribers and webhooks hear of an expiry within one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.settings import Settings
from models.booking.holds import expire_holds
from models.booking.requests import expire_requests

logger = logging.getLogger("clinic_availability.holds")


async def _sweep_forever(sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
    while True:
        try:
            async with sessionmaker() as session:
                # Expired holds' seats are offered to the waitlist in the same transaction.
                await expire_holds(session)
                await expire_requests(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The next round retries; a failed round changed nothing.
            logger.exception("marking expired holds failed")
        await asyncio.sleep(interval)


@asynccontextmanager
async def hold_sweeper(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[None]:
    """Sweep every ``HOLD_SWEEP_INTERVAL_SECONDS`` while the server runs (0: never)."""
    if settings.hold_sweep_interval_seconds <= 0:
        yield
        return
    task = asyncio.create_task(
        _sweep_forever(sessionmaker, settings.hold_sweep_interval_seconds), name="hold-sweeper"
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
