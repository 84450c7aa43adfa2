"""External calendars' syncs on their intervals: in each server process (unless
``CALENDAR_SYNC=false``) and in ``clinic-availability sync-calendars`` processes, any
number of them over one database (each sync is claimed with a lease in the database).

Every ``POLL_SECONDS`` the loop picks the calendars due, most overdue first, and starts
syncs up to ``CALENDAR_SYNC_CONCURRENCY`` in flight; a calendar another process holds is
skipped. A slow read (up to its deadline) holds one of those places only: the others go on
being read on time. On shutdown the syncs in flight are cut short and their leases given
back, so the next process reads those calendars at once without counting a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.calendars import PROCESS_OWNER, secret_box, sync_options
from common.settings import Settings
from models.integrations.calendar_sync import due_calendars, release_leases, sync_calendar
from models.platform.timeutil import now_utc

logger = logging.getLogger("clinic_availability.calendars")

POLL_SECONDS = 5.0


async def sync_round(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Sync the calendars due now (those this process could claim); how many ran."""
    box, options = secret_box(settings), sync_options(settings)
    limit = max(1, settings.calendar_sync_concurrency)
    async with sessionmaker() as session:
        ids = await due_calendars(session, limit=limit * 4, now=now_utc())
    if not ids:
        return 0
    gate = asyncio.Semaphore(limit)

    async def one(calendar_id: int) -> bool:
        async with gate, sessionmaker() as session:
            return await sync_calendar(
                session, calendar_id, box=box, options=options, owner=PROCESS_OWNER, due_only=True
            )

    done = await asyncio.gather(*(one(calendar_id) for calendar_id in ids), return_exceptions=True)
    for outcome in done:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Exception):
            logger.warning("calendar sync round: %s", type(outcome).__name__)
    return sum(1 for outcome in done if outcome is True)


async def _sync_forever(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, poll: float
) -> None:
    box, options = secret_box(settings), sync_options(settings)
    limit = max(1, settings.calendar_sync_concurrency)
    running: dict[int, asyncio.Task[bool]] = {}

    async def one(calendar_id: int) -> bool:
        try:
            async with sessionmaker() as session:
                return await sync_calendar(
                    session,
                    calendar_id,
                    box=box,
                    options=options,
                    owner=PROCESS_OWNER,
                    due_only=True,
                )
        except Exception as exc:
            logger.warning("calendar sync failed: %s", type(exc).__name__)
            return False
        finally:
            running.pop(calendar_id, None)

    try:
        while True:
            try:
                if len(running) < limit:
                    async with sessionmaker() as session:
                        ids = await due_calendars(session, limit=limit * 2, now=now_utc())
                    for calendar_id in ids:
                        if len(running) >= limit:
                            break
                        if calendar_id not in running:
                            running[calendar_id] = asyncio.create_task(
                                one(calendar_id), name=f"calendar-sync-{calendar_id}"
                            )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The next poll retries; a lease left behind runs out.
                logger.warning("calendar sync round failed: %s", type(exc).__name__)
            await asyncio.sleep(poll)
    finally:
        cut = list(running)
        for task in list(running.values()):
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        if cut:
            with contextlib.suppress(Exception):
                async with sessionmaker() as session:
                    await release_leases(session, cut, owner=PROCESS_OWNER)


@asynccontextmanager
async def calendar_syncs(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    poll: float = POLL_SECONDS,
) -> AsyncIterator[None]:
    """Run syncs while the block runs (unless CALENDAR_SYNC=false)."""
    if not settings.calendar_sync:
        yield
        return
    task = asyncio.create_task(_sync_forever(sessionmaker, settings, poll), name="calendar-sync")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sync_until(
    settings: Settings, stop: asyncio.Event, *, poll: float = POLL_SECONDS
) -> None:
    """``sync-calendars``: only the syncs, until ``stop`` is set."""
    from models.platform.db import create_engine
    from models.platform.sessions import create_sessionmaker

    engine = create_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        behind_pooler=settings.behind_pooler,
    )
    try:
        async with calendar_syncs(
            create_sessionmaker(engine),
            settings.model_copy(update={"calendar_sync": True}),
            poll=poll,
        ):
            logger.info("calendar syncs started")
            await stop.wait()
            logger.info("calendar syncs stopping")
    finally:
        await engine.dispose()
