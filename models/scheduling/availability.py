"""What "available" means: the one SQL expression every reader of a slot uses.

A slot is closed for four independent reasons, each kept on its own so that lifting one
never lifts another: an admin closed it (``admin_closed``), a time off of its provider
covers it (computed from ``time_offs``), busy time read from one of the provider's
external calendars covers it (computed from ``external_busy``), or it has no free seat
(``booked_count`` plus the unexpired holds reach ``capacity``). A hold stops counting at
its ``expires_at``: the expression compares the time, so no background job is needed for
correctness.

Importing this module maps ``AvailableSlot.available`` to :func:`slot_open_clause`, so
every ORM load of a slot carries it, evaluated at the statement's execution.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import column_property

from models.platform.base import UTCDateTime, utcnow
from models.platform.calendar_tables import MAX_BUSY_MINUTES
from models.platform.entities import (
    ENDED_BOOKING_STATUSES,
    AvailableSlot,
    Booking,
    BookingStatus,
    ExternalBusy,
    Hold,
    HoldStatus,
    TimeOff,
)
from models.scheduling.instant_sql import add_minutes
from models.scheduling.resources import no_free_resource


def _instant(now: datetime | None) -> Any:
    if now is None:
        # Evaluated at each execution, cached statements included.
        return bindparam("availability_now", callable_=utcnow, type_=UTCDateTime())
    return bindparam("availability_at", value=now, type_=UTCDateTime(), unique=True)


def hold_is_active(now: datetime | None = None) -> ColumnElement[bool]:
    """A hold that still takes its seat at ``now``."""
    return and_(Hold.status == HoldStatus.HELD, Hold.expires_at > _instant(now))


def active_holds(now: datetime | None = None, *, slot_id: Any = None) -> Any:
    """The number of unexpired holds on the slot (correlated to ``AvailableSlot`` by default)."""
    target = AvailableSlot.id if slot_id is None else slot_id
    return (
        select(func.count(Hold.id))
        .where(Hold.available_slot_id == target, hold_is_active(now))
        .correlate_except(Hold)
        .scalar_subquery()
    )


def booking_is_active(now: datetime | None = None) -> ColumnElement[bool]:
    """A booking that keeps its seat at ``now``: not ended, and a request not yet expired.

    A pending booking (a request) stops counting at ``pending_expires_at`` for every
    reader, whether or not the sweeper has written ``expired`` yet.
    """
    return and_(
        Booking.status.not_in(ENDED_BOOKING_STATUSES),
        or_(Booking.status != BookingStatus.PENDING, Booking.pending_expires_at > _instant(now)),
    )


def pending_seats(slot_id: Any, now: datetime | None = None) -> Any:
    """Seats of unexpired booking requests on the slot: each keeps its seat through a hold
    that names it (``booking_id``) and expires with it, so seat counts see it as a hold."""
    return (
        select(func.count(Hold.id))
        .where(Hold.available_slot_id == slot_id, hold_is_active(now), Hold.booking_id.is_not(None))
        .correlate_except(Hold)
        .scalar_subquery()
    )


def seats_booked(slot: Any, now: datetime | None = None) -> Any:
    """Seats of active bookings on ``slot`` (a slot entity or alias): confirmed ones in
    ``booked_count``, pending ones through their holds. Caps, buffers and utilization."""
    return slot.booked_count + pending_seats(slot.id, now)


def time_off_covers(
    provider_id: Any = None, start: Any = None, end: Any = None
) -> ColumnElement[bool]:
    """A time off of the provider overlaps ``[start, end)`` (the slot's, by default)."""
    return exists().where(
        TimeOff.provider_id == (AvailableSlot.provider_id if provider_id is None else provider_id),
        TimeOff.start_time < (AvailableSlot.end_time if end is None else end),
        TimeOff.end_time > (AvailableSlot.start_time if start is None else start),
    )


def external_busy_covers() -> ColumnElement[bool]:
    """Busy time of the slot's provider, read from an external calendar, overlaps the slot.

    Stored intervals last at most ``MAX_BUSY_MINUTES``: the lower bound on their start
    keeps the index range short however much busy time lies before the slot. ``OFFSET 0``
    keeps PostgreSQL from turning the test into a hash anti-join on the provider alone
    (every slot against every busy interval of the provider): it stays one index probe
    per slot. Where no provider has any busy time stored (no calendar connected, the usual
    case), an uncorrelated test the database evaluates once per statement answers first.
    """
    any_busy = exists(select(literal(1)).select_from(ExternalBusy).correlate(None))
    probe = (
        select(literal(1))
        .where(
            ExternalBusy.provider_id == AvailableSlot.provider_id,
            ExternalBusy.start_time < AvailableSlot.end_time,
            ExternalBusy.start_time > add_minutes(AvailableSlot.start_time, -MAX_BUSY_MINUTES),
            ExternalBusy.end_time > AvailableSlot.start_time,
        )
        .offset(0)
    )
    return and_(any_busy, exists(probe))


class TimeOffSpans:
    """Time off merged into disjoint, sorted spans: which ``[start, end)`` they touch."""

    def __init__(self, starts: list[datetime], ends: list[datetime]) -> None:
        self._starts, self._ends = starts, ends

    def covers(self, start: datetime, end: datetime) -> bool:
        at = bisect.bisect_right(self._ends, start)
        return at < len(self._starts) and self._starts[at] < end


async def time_off_intervals(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime
) -> TimeOffSpans:
    """The provider's time off over ``[start, end)``."""
    rows = await session.execute(
        select(TimeOff.start_time, TimeOff.end_time)
        .where(
            TimeOff.provider_id == provider_id,
            TimeOff.start_time < end,
            TimeOff.end_time > start,
        )
        .order_by(TimeOff.start_time)
    )
    merged: list[list[datetime]] = []
    for begins, ends in rows.tuples():
        if merged and begins <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], ends)
        else:
            merged.append([begins, ends])
    return TimeOffSpans([begins for begins, _ in merged], [ends for _, ends in merged])


def has_free_seat(now: datetime | None = None) -> ColumnElement[bool]:
    return AvailableSlot.booked_count + active_holds(now) < AvailableSlot.capacity


def slot_open_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """True when the slot takes a new booking or hold at ``now`` (the execution time if None).

    Start time is not part of it: a past slot keeps ``available`` as it was, and search and
    booking add their own "in the future" condition.
    """
    return and_(
        AvailableSlot.admin_closed.is_(False),
        ~time_off_covers(),
        ~external_busy_covers(),
        has_free_seat(now),
    )


def slot_bookable_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """Open at the execution time, and where the slot needs a resource kind, one is free
    for it (or it keeps one): what the ``available`` filter of lists and search means, so
    a slot listed as available can be booked. Claims keep :func:`slot_open_clause` and
    report a missing resource on their own (409)."""
    return and_(slot_open_clause(now), ~no_free_resource(_instant(now)))


AvailableSlot.available = column_property(slot_open_clause())  # type: ignore[assignment]
