"""Many slots at once: one overlap query, in-memory conflict checks, one bulk insert."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import audit, events, seat_watch
from models.platform.base import utcnow
from models.platform.db import is_constraint_violation
from models.platform.entities import AvailableSlot
from models.platform.timeutil import format_timestamp
from models.scheduling.slots import OVERLAP_CONSTRAINT

T = TypeVar("T")
SERIES_START_INDEX = "uq_available_slots_series_start"


@dataclass(frozen=True, slots=True)
class StoredInterval:
    """An existing slot, as much of it as conflict checks and reports need."""

    id: int
    start_time: datetime
    end_time: datetime
    series_id: int | None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_time": format_timestamp(self.start_time),
            "end_time": format_timestamp(self.end_time),
        }


class IntervalIndex(Generic[T]):
    """Mutually non-overlapping half-open intervals, answering which ones overlap a query.

    One provider's slots never overlap, so sorted by start they are also sorted by end,
    and a bisection on the ends finds the first candidate.
    """

    def __init__(self) -> None:
        self._starts: list[datetime] = []
        self._ends: list[datetime] = []
        self._items: list[T] = []

    def add(self, start: datetime, end: datetime, item: T) -> None:
        at = bisect.bisect_left(self._starts, start)
        self._starts.insert(at, start)
        self._ends.insert(at, end)
        self._items.insert(at, item)

    def overlapping(self, start: datetime, end: datetime) -> list[T]:
        found: list[T] = []
        at = bisect.bisect_right(self._ends, start)
        while at < len(self._starts) and self._starts[at] < end:
            found.append(self._items[at])
            at += 1
        return found


async def stored_intervals(
    session: AsyncSession,
    provider_id: int,
    start: datetime,
    end: datetime,
    *,
    exclude_ids: Sequence[int] = (),
) -> IntervalIndex[StoredInterval]:
    """The provider's slots overlapping ``[start, end)``, in one query."""
    stmt = (
        select(
            AvailableSlot.id,
            AvailableSlot.start_time,
            AvailableSlot.end_time,
            AvailableSlot.series_id,
        )
        .where(
            AvailableSlot.provider_id == provider_id,
            AvailableSlot.start_time < end,
            AvailableSlot.end_time > start,
        )
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
    )
    if exclude_ids:
        stmt = stmt.where(AvailableSlot.id.not_in(list(exclude_ids)))
    index: IntervalIndex[StoredInterval] = IntervalIndex()
    for row in await session.execute(stmt):
        stored = StoredInterval(row.id, row.start_time, row.end_time, row.series_id)
        index.add(stored.start_time, stored.end_time, stored)
    return index


def slot_row(
    *,
    provider_id: int,
    start: datetime,
    end: datetime,
    appointment_type: str | None,
    available: bool = True,
    capacity: int = 1,
    recurrence_pattern: str | None = None,
    recurrence_rule: str | None = None,
    series_id: int | None = None,
    now: datetime | None = None,
    resource_kind: str | None = None,
) -> dict[str, Any]:
    """One row for a bulk insert, every column filled (``duration_minutes`` included)."""
    stamp = now or utcnow()
    return {
        "provider_id": provider_id,
        "start_time": start,
        "end_time": end,
        "duration_minutes": int((end - start).total_seconds() // 60),
        "appointment_type": appointment_type,
        "admin_closed": not available,
        "capacity": capacity,
        "booked_count": 0,
        "recurring": series_id is not None,
        "recurrence_pattern": recurrence_pattern,
        "recurrence_rule": recurrence_rule,
        "series_id": series_id,
        "resource_kind": resource_kind,
        "created_at": stamp,
        "updated_at": stamp,
    }


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert all rows of one provider in one statement; their ids in the rows' order.

    RETURNING order is not guaranteed (asking SQLAlchemy to keep it makes SQLite insert
    row by row), so ids are matched back by start time, unique among one provider's
    non-overlapping slots.
    """
    if not rows:
        return []
    # A Core insert: the ORM's per-row bookkeeping buys nothing for rows never loaded.
    table = cast(Table, AvailableSlot.__table__)
    stmt = insert(table).returning(table.c.id, table.c.start_time)
    by_start = {start: ident for ident, start in (await session.execute(stmt, rows)).tuples()}
    ids = [by_start[row["start_time"]] for row in rows]
    # A Core insert passes no ORM flush: the audit entries are added here, same transaction.
    fields = {key for row in rows for key, value in row.items() if value is not None}
    await audit.record_many(session, audit.CREATE, "available_slot", ids, fields)
    events.slot_events(session, events.SLOT_CREATED, _facts(rows, ids))
    seat_watch.seats_opened(session, ids)
    return ids


def _facts(rows: list[dict[str, Any]], ids: list[int]) -> list[events.SlotFacts]:
    return [
        events.SlotFacts(
            ident, row["provider_id"], row["start_time"], row["end_time"], row["series_id"]
        )
        for row, ident in zip(rows, ids, strict=True)
    ]


def is_slot_constraint(exc: BaseException) -> bool:
    return is_constraint_violation(exc, OVERLAP_CONSTRAINT, SERIES_START_INDEX)


async def insert_rows_guarded(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[int | None]:
    """Insert the rows; a row the database refuses (overlap, duplicate occurrence) gets None.

    The fast path is one bulk insert. If a concurrent writer won a race and PostgreSQL's
    constraint fires, each row is retried in its own savepoint so the others still land.
    SQLite needs no fallback: its write transaction holds the lock from the first read.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        return list(await insert_rows(session, rows))
    try:
        async with session.begin_nested():
            return list(await insert_rows(session, rows))
    except IntegrityError as exc:
        if not is_slot_constraint(exc):
            raise
    ids: list[int | None] = []
    for row in rows:
        try:
            async with session.begin_nested():
                ids.append((await insert_rows(session, [row]))[0])
        except IntegrityError as exc:
            if not is_slot_constraint(exc):
                raise
            ids.append(None)
    return ids
