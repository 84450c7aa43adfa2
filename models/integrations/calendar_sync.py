"""Syncing an external calendar: read its busy time, keep only the intervals
(reading: :mod:`models.integrations.calendar_reads`; expanding:
:mod:`models.integrations.calendar_busy`).

One sync of one calendar:

1. **Claim** it with a lease (a conditional UPDATE: free or expired lease, and due unless
   asked for now), so any number of processes (servers, ``sync-calendars``) may run syncs
   over one database and each calendar is read by one at a time. A process that dies
   mid-sync leaves a lease that runs out (``lease_seconds``), then another takes over.
2. **Read** with a conditional request: ``If-None-Match`` / ``If-Modified-Since`` on an
   iCalendar URL (a 304 changes nothing); for a CalDAV collection with a sync-token from
   the last read, a ``sync-collection`` REPORT and a ``calendar-multiget`` of the changed
   events, applied to the intervals kept per event (``external_calendar_objects``);
   otherwise its ``getctag`` and ``sync-token`` (unchanged: nothing more is asked), then
   a ``calendar-query`` REPORT with a time range. Every address goes through the
   outbound-target check first (public addresses only unless
   CALENDAR_ALLOW_PRIVATE_TARGETS), and every request connects to a checked address.
3. **Expand** with ``recurring-ical-events`` over ``icalendar`` (RRULE, RDATE, EXDATE,
   RECURRENCE-ID overrides, VTIMEZONE blocks with Windows zone names, X-WR-TIMEZONE,
   all-day events), over the horizon ``[now - 1 day, now + horizon_days)``. Events with
   ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED`` are free time and skipped. Floating
   times and all-day dates are read in the provider's time zone.
4. **Store** the merged intervals in place of the calendar's previous ones (same
   transaction as the state, only if the lease is still ours), and announce
   ``external_calendar.busy_changed`` when they differ.

A failed read keeps the busy time as last read; ``failing_after`` failures in a row
announce ``external_calendar.failing`` (once per streak). So that this holds whatever goes
wrong, a read has a deadline as a whole (``read_deadline_seconds``, inside the lease: a
server that trickles its answer is a ``timeout``, not a read that outlives its lease and
is never recorded), and a read whose process stopped or hung before storing its outcome
(a lease that ran out) counts as a failed one when the next process takes the calendar
over. The next read is due ``interval`` after the last one started. Nothing read from a
calendar other than start and end is kept, logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.integrations.calendar_busy import MAX_INTERVALS, busy_intervals, merge
from models.integrations.calendar_reads import Fetched, FetchFailed, fetch_caldav, fetch_ical
from models.integrations.calendar_secrets import SecretBox, SecretsUnavailable
from models.integrations.external_calendars import (
    SyncInProgress,
    busy_changed_event,
    get_external_calendar,
)
from models.platform import events
from models.platform.calendar_tables import ExternalBusy, ExternalCalendar, ExternalCalendarObject
from models.platform.db import write_transaction
from models.platform.entities import Provider
from models.platform.timeutil import now_utc

logger = logging.getLogger("clinic_availability.calendars")

CALENDARS = cast(Table, ExternalCalendar.__table__)
BUSY = cast(Table, ExternalBusy.__table__)
OBJECTS = cast(Table, ExternalCalendarObject.__table__)
# Busy time is kept from a day back (an event under way still closes its slots).
PAST = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    allow_private: bool = False
    horizon_days: int = 90
    timeout_seconds: float = 20.0
    failing_after: int = 3

    @property
    def read_deadline_seconds(self) -> float:
        """The longest a whole read may take (a few requests, each with the timeout)."""
        return self.timeout_seconds * 3

    @property
    def lease_seconds(self) -> float:
        # The read's deadline, then time to store its outcome.
        return self.timeout_seconds * 4 + 30.0


# last_error of a calendar whose previous read never stored its outcome.
ABANDONED = "the previous read did not finish (its process stopped or hung)"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    provider_id: int
    kind: str
    username: str | None
    credentials: str
    interval: int
    etag: str | None
    last_modified: str | None
    ctag: str | None
    sync_token: str | None
    synced_until: datetime | None
    consecutive_failures: int
    zone: ZoneInfo
    # When this attempt began: the next one is due an interval later.
    started: datetime


def new_owner() -> str:
    """An id for this process's leases."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


async def claim(
    session: AsyncSession,
    calendar_id: int,
    *,
    owner: str,
    options: SyncOptions,
    due_only: bool,
    now: datetime,
) -> Claimed | None:
    """Take the calendar's sync lease; None when another process holds it (or, with
    ``due_only``, when it is not due)."""
    async with write_transaction(session):
        held = (
            await session.execute(
                select(CALENDARS.c.lease_owner, CALENDARS.c.consecutive_failures).where(
                    CALENDARS.c.id == calendar_id,
                    or_(CALENDARS.c.lease_until.is_(None), CALENDARS.c.lease_until < now),
                )
            )
        ).one_or_none()
        if held is None:
            return None  # gone, or held by a live lease
        # A lease left behind (run out: checked above) is a read that never stored its
        # outcome: its process stopped or hung. It counts as a failed read.
        abandoned = held.lease_owner is not None
        values: dict[str, Any] = {
            "lease_owner": owner,
            "lease_until": now + timedelta(seconds=options.lease_seconds),
            "updated_at": CALENDARS.c.updated_at,
        }
        if abandoned:
            values.update(
                consecutive_failures=CALENDARS.c.consecutive_failures + 1, last_error=ABANDONED
            )
        stmt = (
            update(CALENDARS)
            .where(
                CALENDARS.c.id == calendar_id,
                CALENDARS.c.lease_owner.is_not_distinct_from(held.lease_owner),
                or_(CALENDARS.c.lease_until.is_(None), CALENDARS.c.lease_until < now),
            )
            .values(**values)
        )
        if due_only:
            stmt = stmt.where(CALENDARS.c.next_sync_at <= now)
        result = await session.execute(stmt)
        if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
            return None
        row = (
            await session.execute(
                select(CALENDARS, Provider.time_zone)
                .join(Provider, Provider.id == CALENDARS.c.provider_id)
                .where(CALENDARS.c.id == calendar_id)
            )
        ).one()
        if abandoned and row.consecutive_failures == options.failing_after:
            events.record_event(
                session,
                type=events.EXTERNAL_CALENDAR_FAILING,
                provider_id=row.provider_id,
                external_calendar_id=calendar_id,
            )
    try:
        zone = ZoneInfo(row.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return Claimed(
        id=row.id,
        provider_id=row.provider_id,
        kind=row.kind,
        username=row.username,
        credentials=row.credentials,
        interval=row.sync_interval_seconds,
        etag=row.etag,
        last_modified=row.last_modified,
        ctag=row.ctag,
        sync_token=row.sync_token,
        synced_until=row.synced_until,
        consecutive_failures=row.consecutive_failures,
        zone=zone,
        started=now,
    )


Interval = tuple[datetime, datetime]
# What each CalDAV object adds: (hash of its path, its busy intervals).
ObjectIntervals = list[tuple[str, list[Interval]]]


def _object_intervals(
    objects: list[tuple[str, bytes]], start: datetime, end: datetime, zone: ZoneInfo
) -> ObjectIntervals:
    return [(key, busy_intervals([text], start, end, zone)) for key, text in objects]


async def _read(
    claimed: Claimed, box: SecretBox, options: SyncOptions, start: datetime, end: datetime
) -> tuple[Fetched, list[Interval] | None, ObjectIntervals | None]:
    """The read, expanded: the calendar's busy time (None: unchanged, or read
    incrementally) and, where the server gives sync-tokens, what each object read adds."""
    try:
        secret = box.open(claimed.credentials)
    except SecretsUnavailable as exc:
        raise FetchFailed(str(exc)) from None
    # Validators are sent back only when the stored intervals reach far enough: as time
    # passes, the horizon's end moves and an unchanged calendar is read again.
    fresh = claimed.synced_until is not None and claimed.synced_until >= end - timedelta(days=1)
    if claimed.kind == "ical":
        fetched = await fetch_ical(
            secret,
            claimed.username,
            etag=claimed.etag if fresh else None,
            last_modified=claimed.last_modified if fresh else None,
            allow_private=options.allow_private,
            timeout_seconds=options.timeout_seconds,
        )
    else:
        fetched = await fetch_caldav(
            secret,
            claimed.username,
            ctag=claimed.ctag if fresh else None,
            sync_token=claimed.sync_token if fresh else None,
            start=start,
            end=end,
            allow_private=options.allow_private,
            timeout_seconds=options.timeout_seconds,
        )
    objects: ObjectIntervals | None = None
    if fetched.objects is not None:
        objects = await asyncio.to_thread(
            _object_intervals, fetched.objects, start, end, claimed.zone
        )
    if fetched.incremental:
        return fetched, None, objects
    if fetched.texts is None:
        return fetched, None, None
    if objects is not None:
        every = [item for _, found in objects for item in found]
        if len(every) > MAX_INTERVALS:
            raise FetchFailed(f"more than {MAX_INTERVALS} busy times in the horizon")
        intervals = merge(every)
    else:
        intervals = await asyncio.to_thread(busy_intervals, fetched.texts, start, end, claimed.zone)
    return fetched, intervals, objects


async def _store(
    session: AsyncSession,
    claimed: Claimed,
    *,
    owner: str,
    fetched: Fetched | None,
    intervals: list[tuple[datetime, datetime]] | None,
    error: str | None,
    horizon_end: datetime,
    options: SyncOptions,
    objects: ObjectIntervals | None = None,
) -> bool:
    """Write the outcome if the lease is still ours (else nothing); whether it was."""
    moment = now_utc()
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_until": None,
        "last_attempt_at": moment,
        # From the attempt's start, so reads that work are an interval apart (plus the
        # poll), however long each took; never in the past (due at once).
        "next_sync_at": max(claimed.started + timedelta(seconds=claimed.interval), moment),
        "updated_at": CALENDARS.c.updated_at,
    }
    failures = 0
    if error is None:
        assert fetched is not None
        values.update(last_synced_at=moment, last_error=None, consecutive_failures=0)
        if fetched.incremental:
            # The horizon stays where the last full read left it (read again daily).
            values.update(sync_token=fetched.sync_token)
        elif intervals is not None:
            values.update(
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                ctag=fetched.ctag,
                sync_token=fetched.sync_token,
                synced_until=horizon_end,
            )
    else:
        failures = claimed.consecutive_failures + 1
        values.update(last_error=error[:200], consecutive_failures=failures)
    async with write_transaction(session):
        result = await session.execute(
            update(CALENDARS)
            .where(CALENDARS.c.id == claimed.id, CALENDARS.c.lease_owner == owner)
            .values(**values)
        )
        if int(result.rowcount or 0) != 1:  # type: ignore[attr-defined]
            return False  # deleted meanwhile, or the lease ran out and another took it
        if fetched is not None and fetched.incremental:
            if objects or fetched.deleted:
                merged = await _apply_object_changes(
                    session, claimed, objects or [], fetched.deleted
                )
                await _replace_busy(session, claimed, merged)
        elif intervals is not None:
            await _replace_objects(session, claimed, objects or [])
            await _replace_busy(session, claimed, intervals)
        if error is not None and failures == options.failing_after:
            events.record_event(
                session,
                type=events.EXTERNAL_CALENDAR_FAILING,
                provider_id=claimed.provider_id,
                external_calendar_id=claimed.id,
            )
    return True


def _encoded(intervals: list[Interval]) -> str:
    return orjson.dumps([[start, end] for start, end in intervals]).decode()


def _decoded(text: str) -> list[Interval]:
    return [
        (datetime.fromisoformat(start), datetime.fromisoformat(end))
        for start, end in orjson.loads(text)
    ]


async def _replace_objects(
    session: AsyncSession, claimed: Claimed, objects: ObjectIntervals
) -> None:
    """After a full read: the objects read, in place of those known before."""
    await session.execute(delete(OBJECTS).where(OBJECTS.c.calendar_id == claimed.id))
    rows = [
        {"calendar_id": claimed.id, "href_hash": key, "intervals": _encoded(found)}
        for key, found in objects
        if found
    ]
    if rows:
        await session.execute(insert(OBJECTS), rows)


async def _apply_object_changes(
    session: AsyncSession, claimed: Claimed, changed: ObjectIntervals, deleted: tuple[str, ...]
) -> list[Interval]:
    """After an incremental read: the changed objects replaced, the removed ones dropped;
    the calendar's busy time as all its objects make it now."""
    gone = set(deleted) | {key for key, _ in changed}
    if gone:
        await session.execute(
            delete(OBJECTS).where(
                OBJECTS.c.calendar_id == claimed.id, OBJECTS.c.href_hash.in_(gone)
            )
        )
    rows = [
        {"calendar_id": claimed.id, "href_hash": key, "intervals": _encoded(found)}
        for key, found in changed
        if found and key not in deleted
    ]
    if rows:
        await session.execute(insert(OBJECTS), rows)
    stored = (
        await session.execute(
            select(OBJECTS.c.intervals).where(OBJECTS.c.calendar_id == claimed.id)
        )
    ).scalars()
    return merge([item for text in stored for item in _decoded(text)])


async def _replace_busy(
    session: AsyncSession, claimed: Claimed, intervals: list[tuple[datetime, datetime]]
) -> None:
    stored = [
        (start, end)
        for start, end in (
            await session.execute(
                select(BUSY.c.start_time, BUSY.c.end_time)
                .where(BUSY.c.calendar_id == claimed.id)
                .order_by(BUSY.c.start_time, BUSY.c.end_time)
            )
        ).tuples()
    ]
    if stored == intervals:
        return
    await session.execute(delete(BUSY).where(BUSY.c.calendar_id == claimed.id))
    if intervals:
        await session.execute(
            insert(BUSY),
            [
                {
                    "calendar_id": claimed.id,
                    "provider_id": claimed.provider_id,
                    "start_time": start,
                    "end_time": end,
                }
                for start, end in intervals
            ],
        )
    # The range where slots may have closed or reopened: what was and what is.
    changed = sorted(set(stored) ^ set(intervals))
    span = (min(item[0] for item in changed), max(item[1] for item in changed))
    busy_changed_event(session, claimed.provider_id, claimed.id, span)


async def sync_calendar(
    session: AsyncSession,
    calendar_id: int,
    *,
    box: SecretBox,
    options: SyncOptions,
    owner: str,
    due_only: bool = False,
    now: datetime | None = None,
) -> bool:
    """Sync one calendar now. False when it was not claimed (held elsewhere, not due, or
    gone); a failed read is stored on the calendar (``last_error``), not raised."""
    moment = now or now_utc()
    claimed = await claim(
        session, calendar_id, owner=owner, options=options, due_only=due_only, now=moment
    )
    if claimed is None:
        return False
    start, end = moment - PAST, moment + timedelta(days=options.horizon_days)
    fetched: Fetched | None = None
    intervals: list[tuple[datetime, datetime]] | None = None
    objects: ObjectIntervals | None = None
    error: str | None = None
    try:
        fetched, intervals, objects = await asyncio.wait_for(
            _read(claimed, box, options, start, end), timeout=options.read_deadline_seconds
        )
    except FetchFailed as exc:
        error = str(exc)
    except TimeoutError:
        error = "timeout"
    except Exception as exc:
        # Whatever else went wrong is reported by its kind only: no URL, no content.
        error = f"sync failed ({type(exc).__name__})"
        logger.warning("external calendar %s: unexpected %s", calendar_id, type(exc).__name__)
    if error is not None:
        logger.info("external calendar %s sync failed: %s", calendar_id, error)
    return await _store(
        session,
        claimed,
        owner=owner,
        fetched=fetched,
        intervals=intervals,
        error=error,
        horizon_end=end,
        options=options,
        objects=objects,
    )


async def sync_now(
    session: AsyncSession,
    provider_id: int | None,
    calendar_id: int,
    *,
    box: SecretBox,
    options: SyncOptions,
    owner: str,
) -> None:
    """The on-demand sync of the REST and GraphQL faces: 404 for an unknown calendar, 409
    while another process syncs it."""
    await get_external_calendar(session, provider_id, calendar_id)
    await session.commit()
    if not await sync_calendar(session, calendar_id, box=box, options=options, owner=owner):
        await get_external_calendar(session, provider_id, calendar_id)
        raise SyncInProgress()


async def due_calendars(session: AsyncSession, *, limit: int, now: datetime) -> list[int]:
    """Ids of calendars due for a sync and not held, the most overdue first."""
    rows = await session.execute(
        select(CALENDARS.c.id)
        .where(
            CALENDARS.c.next_sync_at <= now,
            or_(CALENDARS.c.lease_until.is_(None), CALENDARS.c.lease_until < now),
        )
        .order_by(CALENDARS.c.next_sync_at, CALENDARS.c.id)
        .limit(limit)
    )
    ids = list(rows.scalars())
    await session.commit()
    return ids


async def release_leases(session: AsyncSession, calendar_ids: list[int], *, owner: str) -> None:
    """Give back the leases ``owner`` holds on these calendars (syncs cut short by a
    shutdown): due again at once, and no failed read counted."""
    async with write_transaction(session):
        await session.execute(
            update(CALENDARS)
            .where(CALENDARS.c.id.in_(calendar_ids), CALENDARS.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, updated_at=CALENDARS.c.updated_at)
        )
