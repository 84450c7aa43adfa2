"""Per-provider booking rules: minimum notice, booking window, buffers, bookings per day.

Booking checks a slot against its provider's rules in Python (``rule_errors``); search
keeps only the slots a patient could take with one SQL condition over every provider's
rules (``rule_conditions``), days in each provider's time zone included, so a search
stays one statement whatever the page size. An appointment's buffer zone is
``[start - before, end + after)``: no other appointment of the provider may overlap it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import FunctionElement

from models.platform.base import UTCDateTime
from models.platform.db import LOCAL_DAY_FUNCTION
from models.platform.entities import AvailableSlot, Provider
from models.platform.errors import FieldErrors
from models.platform.timeutil import day_end, day_start, zone_or_none

RULES: tuple[str, ...] = (
    "minimum_notice_minutes",
    "booking_window_days",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "max_bookings_per_day",
)
# How late a booking may be cancelled or rescheduled (minutes before it starts). They
# guard changes to bookings, not which slots a patient may take, so search ignores them.
CUTOFFS: tuple[str, ...] = ("cancellation_cutoff_minutes", "reschedule_cutoff_minutes")
# Upper bounds keep date arithmetic inside the calendar on both databases.
RULE_LIMITS: dict[str, int] = {
    "cancellation_cutoff_minutes": 525_600,
    "reschedule_cutoff_minutes": 525_600,
    "minimum_notice_minutes": 525_600,
    "booking_window_days": 3650,
    "buffer_before_minutes": 1440,
    "buffer_after_minutes": 1440,
    "max_bookings_per_day": 10_000,
}


@dataclass(frozen=True, slots=True)
class BookingRules:
    minimum_notice_minutes: int | None = None
    booking_window_days: int | None = None
    buffer_before_minutes: int | None = None
    buffer_after_minutes: int | None = None
    max_bookings_per_day: int | None = None

    @classmethod
    def of(cls, provider: Provider) -> BookingRules:
        return cls(**{name: getattr(provider, name) for name in RULES})

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in RULES)


class add_minutes(FunctionElement[datetime]):
    """``instant + minutes``, on both databases (minutes may be a column)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(add_minutes, "postgresql")
def _add_minutes_pg(element: add_minutes, compiler: Any, **kw: Any) -> str:
    instant, minutes = list(element.clauses)
    return (
        f"({compiler.process(instant, **kw)} + "
        f"make_interval(mins => CAST({compiler.process(minutes, **kw)} AS INTEGER)))"
    )


@compiles(add_minutes, "sqlite")
def _add_minutes_sqlite(element: add_minutes, compiler: Any, **kw: Any) -> str:
    instant, minutes = list(element.clauses)
    # Same fixed-width text as stored instants, so comparisons stay in time order.
    return (
        f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(instant, **kw)}, "
        f"({compiler.process(minutes, **kw)}) || ' minutes')"
    )


def check_rules_input(errors: FieldErrors, values: dict[str, Any]) -> dict[str, int | None]:
    """Each rule or cutoff sent: a whole number from 0 (1 for the daily limit), or null to
    drop it."""
    checked: dict[str, int | None] = {}
    for name, value in values.items():
        if name not in RULES and name not in CUTOFFS:
            continue
        if value is None:
            checked[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(name, "is invalid")
            continue
        low = 1 if name in ("max_bookings_per_day", "booking_window_days") else 0
        if value < low:
            errors.add(name, f"must be greater than or equal to {low}")
        elif value > RULE_LIMITS[name]:
            errors.add(name, f"must be less than or equal to {RULE_LIMITS[name]}")
        else:
            checked[name] = value
    return checked


def _buffer_clash() -> ColumnElement[bool]:
    """Another booked slot of the provider inside the slot's buffer zone (by its rules)."""
    other = aliased(AvailableSlot)
    rules = aliased(Provider)
    before = func.coalesce(rules.buffer_before_minutes, 0)
    after = func.coalesce(rules.buffer_after_minutes, 0)
    return (
        exists()
        .where(
            rules.id == AvailableSlot.provider_id,
            or_(rules.buffer_before_minutes.is_not(None), rules.buffer_after_minutes.is_not(None)),
            other.provider_id == AvailableSlot.provider_id,
            other.id != AvailableSlot.id,
            other.booked_count > 0,
            other.end_time > add_minutes(AvailableSlot.start_time, -after),
            other.start_time < add_minutes(AvailableSlot.end_time, before),
        )
        .correlate(AvailableSlot)
    )


class local_day(FunctionElement[Any]):
    """The calendar day of an instant in a time zone (a column holding an IANA name)."""

    inherit_cache = True


@compiles(local_day, "postgresql")
def _local_day_pg(element: local_day, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    return (
        f"CAST(({compiler.process(instant, **kw)} AT TIME ZONE "
        f"{compiler.process(zone, **kw)}) AS DATE)"
    )


@compiles(local_day, "sqlite")
def _local_day_sqlite(element: local_day, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    # A Python function registered on every connection (models.platform.db).
    return (
        f"{LOCAL_DAY_FUNCTION}({compiler.process(instant, **kw)}, {compiler.process(zone, **kw)})"
    )


def _day_at_limit() -> ColumnElement[bool]:
    """The provider already has ``max_bookings_per_day`` seats booked on the slot's day."""
    rules = aliased(Provider)
    other = aliased(AvailableSlot)
    # A day lasts at most 25 hours: the range keeps the provider index in use.
    near = 26 * 60
    return (
        select(rules.id)
        .where(
            rules.id == AvailableSlot.provider_id,
            rules.max_bookings_per_day.is_not(None),
            other.provider_id == AvailableSlot.provider_id,
            other.booked_count > 0,
            other.start_time > add_minutes(AvailableSlot.start_time, -near),
            other.start_time < add_minutes(AvailableSlot.start_time, near),
            local_day(other.start_time, rules.time_zone)
            == local_day(AvailableSlot.start_time, rules.time_zone),
        )
        .group_by(rules.id, rules.max_bookings_per_day)
        .having(func.sum(other.booked_count) >= rules.max_bookings_per_day)
        .correlate(AvailableSlot)
        .exists()
    )


def rule_conditions(now: datetime | None = None, *, at: Any = None) -> ColumnElement[bool]:
    """Slots of ``AvailableSlot`` that the providers' rules let a patient take ``now``.

    ``at`` instead of ``now``: an expression for the time (a named bind parameter of a
    statement built once and executed many times).
    """
    rules = aliased(Provider)
    if at is None:
        at = bindparam("rules_now", value=now, type_=UTCDateTime(), unique=True)
    notice = and_(
        rules.minimum_notice_minutes.is_not(None),
        AvailableSlot.start_time < add_minutes(at, rules.minimum_notice_minutes),
    )
    window = and_(
        rules.booking_window_days.is_not(None),
        AvailableSlot.start_time >= add_minutes(at, rules.booking_window_days * 1440),
    )
    outside = not_(
        exists()
        .where(rules.id == AvailableSlot.provider_id, or_(notice, window))
        .correlate(AvailableSlot)
    )
    return and_(outside, not_(_buffer_clash()), not_(_day_at_limit()))


async def rule_errors(
    session: AsyncSession,
    slot: AvailableSlot,
    provider: Provider,
    now: datetime,
    *,
    seats_claimed: int = 0,
) -> list[str]:
    """Messages for ``available_slot_id`` of every rule booking ``slot`` now would break.

    ``seats_claimed``: seats of this booking already counted in ``booked_count``.
    """
    rules = BookingRules.of(provider)
    messages: list[str] = []
    notice = rules.minimum_notice_minutes
    if notice is not None and slot.start_time < now + timedelta(minutes=notice):
        messages.append(f"is within the minimum notice of {notice} minutes")
    window = rules.booking_window_days
    if window is not None and slot.start_time >= now + timedelta(days=window):
        messages.append(f"is beyond the booking window of {window} days")
    if rules.buffer_before_minutes is not None or rules.buffer_after_minutes is not None:
        before = timedelta(minutes=rules.buffer_before_minutes or 0)
        after = timedelta(minutes=rules.buffer_after_minutes or 0)
        clash = await session.execute(
            select(AvailableSlot.id)
            .where(
                AvailableSlot.provider_id == slot.provider_id,
                AvailableSlot.id != slot.id,
                AvailableSlot.booked_count > 0,
                AvailableSlot.end_time > slot.start_time - after,
                AvailableSlot.start_time < slot.end_time + before,
            )
            .limit(1)
        )
        if clash.first() is not None:
            messages.append("is within the buffer of another appointment")
    limit = rules.max_bookings_per_day
    if limit is not None:
        zone = zone_or_none(provider.time_zone) or zone_or_none("UTC")
        assert zone is not None
        day = slot.start_time.astimezone(zone).date()
        booked = (
            await session.execute(
                select(func.coalesce(func.sum(AvailableSlot.booked_count), 0)).where(
                    AvailableSlot.provider_id == slot.provider_id,
                    AvailableSlot.start_time >= day_start(day, zone),
                    AvailableSlot.start_time < day_end(day, zone),
                )
            )
        ).scalar_one()
        if int(booked) - seats_claimed >= limit:
            messages.append(f"exceeds the limit of {limit} bookings per day")
    return messages


def cutoff_error(cutoff: int | None, kind: str, starts: datetime, now: datetime) -> str | None:
    """The message when changing an appointment starting at ``starts`` is too late now.

    ``kind`` is ``cancellation`` or ``reschedule``; the cutoff counts back from the start.
    """
    if cutoff is None or starts - timedelta(minutes=cutoff) > now:
        return None
    return f"is within the {kind} cutoff of {cutoff} minutes"
