"""The event stream: one row per change, written in the transaction of the change.

Operations call :func:`record_event` (or :func:`slot_event` / :func:`slot_events`) next to
the write; the events wait in the session and are inserted by a ``before_commit`` hook, as
the last statement before COMMIT. A transaction that rolls back leaves none.

Ids follow commit order. On PostgreSQL the insert takes a transaction-level advisory lock
first (a statement trigger of the table, see migration 0004), so the ids of one
transaction are drawn only after every earlier event writer has committed, and the lock is
held just for that last statement and the COMMIT. On SQLite writers are serialised anyway.
So a reader that has seen event N has seen every committed event below N: "everything
after N" is a gap-free, duplicate-free resume position for subscribers and webhooks.
(Ids skipped by a rolled-back insert are simply never used.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Row, Table, delete, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from models.platform.acting import current_request_id
from models.platform.base import utcnow
from models.platform.db import write_transaction
from models.platform.event_tables import AvailabilityEvent
from models.platform.timeutil import format_timestamp

SLOT_CREATED = "slot.created"
SLOT_UPDATED = "slot.updated"
SLOT_DELETED = "slot.deleted"
SLOT_CLOSED = "slot.closed"
SLOT_REOPENED = "slot.reopened"
BOOKING_CREATED = "booking.created"
BOOKING_UPDATED = "booking.updated"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_RESCHEDULED = "booking.rescheduled"
BOOKING_CONFIRMED = "booking.confirmed"
BOOKING_DECLINED = "booking.declined"
BOOKING_EXPIRED = "booking.expired"
HOLD_CREATED = "hold.created"
HOLD_RELEASED = "hold.released"
HOLD_BOOKED = "hold.booked"
HOLD_EXPIRED = "hold.expired"
TIME_OFF_CREATED = "time_off.created"
TIME_OFF_DELETED = "time_off.deleted"
# An external calendar's busy time changed (slots it overlaps closed or reopened), or its
# syncs keep failing (its busy time stays as last read).
EXTERNAL_BUSY_CHANGED = "external_calendar.busy_changed"
EXTERNAL_CALENDAR_FAILING = "external_calendar.failing"
WAITLIST_OFFERED = "waitlist.offered"

EVENT_TYPES: tuple[str, ...] = (
    SLOT_CREATED,
    SLOT_UPDATED,
    SLOT_DELETED,
    SLOT_CLOSED,
    SLOT_REOPENED,
    BOOKING_CREATED,
    BOOKING_UPDATED,
    BOOKING_CANCELLED,
    BOOKING_RESCHEDULED,
    BOOKING_CONFIRMED,
    BOOKING_DECLINED,
    BOOKING_EXPIRED,
    HOLD_CREATED,
    HOLD_RELEASED,
    HOLD_BOOKED,
    HOLD_EXPIRED,
    TIME_OFF_CREATED,
    TIME_OFF_DELETED,
    EXTERNAL_BUSY_CHANGED,
    EXTERNAL_CALENDAR_FAILING,
    WAITLIST_OFFERED,
)

NOTIFY_CHANNEL = "availability_events"
_PENDING = "clinic_pending_events"
_WROTE = "clinic_wrote_events"

# Called (synchronously, after COMMIT) whenever a session committed events.
_commit_listeners: list[Callable[[], None]] = []


class SlotLike(Protocol):
    id: int
    provider_id: int
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True, slots=True)
class SlotFacts:
    """What a slot event needs of a slot that may already be gone."""

    id: int
    provider_id: int
    start_time: datetime
    end_time: datetime
    series_id: int | None = None


def on_events_committed(listener: Callable[[], None]) -> None:
    if listener not in _commit_listeners:
        _commit_listeners.append(listener)


def off_events_committed(listener: Callable[[], None]) -> None:
    if listener in _commit_listeners:
        _commit_listeners.remove(listener)


def _sync(session: AsyncSession | Session) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def record_event(
    session: AsyncSession | Session,
    *,
    type: str,
    provider_id: int,
    slot_id: int | None = None,
    booking_id: int | None = None,
    series_id: int | None = None,
    hold_id: int | None = None,
    time_off_id: int | None = None,
    external_calendar_id: int | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    previous_slot_id: int | None = None,
    waitlist_entry_id: int | None = None,
) -> None:
    """Announce a change made in the session's current transaction; stored with its commit."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    pending: list[dict[str, Any]] = _sync(session).info.setdefault(_PENDING, [])
    pending.append(
        {
            "type": type,
            "provider_id": provider_id,
            "slot_id": slot_id,
            "previous_slot_id": previous_slot_id,
            "booking_id": booking_id,
            "series_id": series_id,
            "hold_id": hold_id,
            "time_off_id": time_off_id,
            "external_calendar_id": external_calendar_id,
            "waitlist_entry_id": waitlist_entry_id,
            "start_time": start_time,
            "end_time": end_time,
            "occurred_at": utcnow(),
            "request_id": current_request_id(),
        }
    )


def slot_event(session: AsyncSession | Session, type: str, slot: Any) -> None:
    record_event(
        session,
        type=type,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        series_id=getattr(slot, "series_id", None),
        start_time=slot.start_time,
        end_time=slot.end_time,
    )


def slot_events(session: AsyncSession | Session, type: str, slots: Iterable[Any]) -> None:
    for slot in slots:
        slot_event(session, type, slot)


def slot_change_type(was_available: bool, slot: Any) -> str:
    """The event of an edited slot: closing and reopening are named as such."""
    if was_available and not slot.available:
        return SLOT_CLOSED
    if not was_available and slot.available:
        return SLOT_REOPENED
    return SLOT_UPDATED


def booking_change_type(cancelling: bool) -> str:
    return BOOKING_CANCELLED if cancelling else BOOKING_UPDATED


def booking_event(session: AsyncSession | Session, type: str, booking: Any, slot: Any) -> None:
    record_event(
        session,
        type=type,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        booking_id=booking.id,
        series_id=getattr(slot, "series_id", None),
        start_time=slot.start_time,
        end_time=slot.end_time,
    )


def _insert_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    # Whatever the session still has to flush may announce more events.
    session.flush()
    rows = session.info.pop(_PENDING, [])
    if rows:
        session.connection().execute(insert(cast(Table, AvailabilityEvent.__table__)), rows)
        session.info[_WROTE] = True


def take_recorded(session: AsyncSession | Session) -> list[dict[str, Any]]:
    """The events recorded and not yet written, for a caller that inserts them itself as
    the transaction's last statement (the commit listeners still hear of them)."""
    sync = _sync(session)
    rows: list[dict[str, Any]] = sync.info.pop(_PENDING, None) or []
    if rows:
        sync.info[_WROTE] = True
    return rows


def has_recorded(session: Session) -> bool:
    """Events recorded and not yet written (the commit hook would write them)."""
    return bool(session.info.get(_PENDING))


def _after_commit(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        for listener in _commit_listeners:
            listener()


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WROTE, None)


def install_event_hooks() -> None:
    for name, hook in (
        ("before_commit", _insert_pending),
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


async def events_after(
    session: AsyncSession,
    after: int,
    *,
    limit: int = 500,
    provider_id: int | None = None,
    types: Sequence[str] | None = None,
) -> list[AvailabilityEvent]:
    """Committed events with ids above ``after``, oldest first."""
    stmt = (
        select(AvailabilityEvent)
        .where(AvailabilityEvent.id > after)
        .order_by(AvailabilityEvent.id)
        .limit(limit)
    )
    if provider_id is not None:
        stmt = stmt.where(AvailabilityEvent.provider_id == provider_id)
    if types:
        stmt = stmt.where(AvailabilityEvent.type.in_(list(types)))
    return list((await session.execute(stmt)).scalars())


async def last_event_id(session: AsyncSession) -> int:
    found = (await session.execute(select(func.max(AvailabilityEvent.id)))).scalar()
    return int(found or 0)


async def first_event_id(session: AsyncSession) -> int | None:
    found = (await session.execute(select(func.min(AvailabilityEvent.id)))).scalar()
    return int(found) if found is not None else None


def resumable(after: int, first_kept: int | None) -> bool:
    """Whether every event after ``after`` is still stored (none was purged).

    Purging removes a prefix of the stream and always keeps the newest event, so the
    events above ``after`` are all there unless the oldest kept is further on than the
    next one. (On PostgreSQL an id left unused by a rolled-back insert right there makes
    this answer no where nothing was lost: the client refetches for nothing.)
    """
    return first_kept is None or after >= first_kept - 1


async def purge_events(
    session: AsyncSession, *, retention_days: int, now: datetime | None = None
) -> int:
    """Delete events older than the retention period; how many went.

    Only a prefix of the stream goes (every id below the first recent event: an earlier
    commit may carry a later time), and never the newest event, which keeps the stream's
    position when nothing recent happened: see :func:`resumable`.
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    async with write_transaction(session):
        keep_from = (
            await session.execute(
                select(func.min(AvailabilityEvent.id)).where(
                    AvailabilityEvent.occurred_at >= cutoff
                )
            )
        ).scalar()
        if keep_from is None:
            keep_from = await last_event_id(session)
        result = await session.execute(
            delete(AvailabilityEvent).where(AvailabilityEvent.id < keep_from)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def event_payload(row: AvailabilityEvent | Row[Any]) -> dict[str, Any]:
    """The event as integrations see it (webhook ``data``): ids and times, nothing else."""
    payload: dict[str, Any] = {
        "event_id": str(row.id),
        "type": row.type,
        "occurred_at": format_timestamp(row.occurred_at),
        "provider_id": row.provider_id,
    }
    for name in (
        "slot_id",
        "previous_slot_id",
        "booking_id",
        "series_id",
        "hold_id",
        "time_off_id",
        "external_calendar_id",
        "waitlist_entry_id",
    ):
        value = getattr(row, name)
        if value is not None:
            payload[name] = value
    if row.start_time is not None:
        payload["start_time"] = format_timestamp(row.start_time)
    if row.end_time is not None:
        payload["end_time"] = format_timestamp(row.end_time)
    if row.request_id is not None:
        payload["request_id"] = row.request_id
    return payload
