"""Per-provider booking rules: minimum notice, booking window, buffers, bookings per day,
week (from Monday) and calendar month.

Booking checks a slot against its provider's rules in Python (``rule_errors``); search
keeps only the slots a patient could take with one SQL condition over every provider's
rules (``rule_conditions``), days in each provider's time zone included, so a search
stays one statement whatever the page size. An appointment's buffer zone is
``[start - before, end + after)``: no other appointment of the provider may overlap it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import FunctionElement

from models.platform.base import UTCDateTime
from models.platform.db import LOCAL_DAY_FUNCTION
from models.platform.entities import AppointmentType, AvailableSlot, Provider
from models.platform.errors import FieldErrors
from models.platform.timeutil import day_end, day_start, zone_or_none
from models.scheduling.availability import seats_booked
from models.scheduling.instant_sql import add_minutes

RULES: tuple[str, ...] = (
    "minimum_notice_minutes",
    "booking_window_days",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "max_bookings_per_day",
    "max_bookings_per_week",
    "max_bookings_per_month",
)
# Caps on bookings over a period of the provider's calendar: (rule, period name).
CAPS: tuple[tuple[str, str], ...] = (
    ("max_bookings_per_day", "day"),
    ("max_bookings_per_week", "week"),
    ("max_bookings_per_month", "month"),
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
    "max_bookings_per_week": 70_000,
    "max_bookings_per_month": 310_000,
}


@dataclass(frozen=True, slots=True)
class BookingRules:
    minimum_notice_minutes: int | None = None
    booking_window_days: int | None = None
    buffer_before_minutes: int | None = None
    buffer_after_minutes: int | None = None
    max_bookings_per_day: int | None = None
    max_bookings_per_week: int | None = None
    max_bookings_per_month: int | None = None

    @classmethod
    def of(cls, provider: Provider) -> BookingRules:
        return cls(**{name: getattr(provider, name) for name in RULES})

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in RULES)


BUFFERS = ("buffer_before_minutes", "buffer_after_minutes")


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
        low = 0 if name in ("minimum_notice_minutes", *BUFFERS) else 1
        if value < low:
            errors.add(name, f"must be greater than or equal to {low}")
        elif value > RULE_LIMITS[name]:
            errors.add(name, f"must be less than or equal to {RULE_LIMITS[name]}")
        else:
            checked[name] = value
    return checked


def _buffer_clash(type_key: Any = None) -> ColumnElement[bool]:
    """Another booked slot of the provider inside the slot's buffer zone (by its rules).

    ``type_key``: an expression naming the appointment type booked, whose buffers replace
    the provider's where it sets them (as booking checks them); None: the provider's.
    """
    other = aliased(AvailableSlot)
    rules = aliased(Provider)
    if type_key is None:
        before = func.coalesce(rules.buffer_before_minutes, 0)
        after = func.coalesce(rules.buffer_after_minutes, 0)
        any_buffer = or_(
            rules.buffer_before_minutes.is_not(None), rules.buffer_after_minutes.is_not(None)
        )
        clash = exists().correlate(AvailableSlot)
    else:
        by_type = [
            select(column)
            .where(AppointmentType.key == type_key)
            .correlate_except(AppointmentType)
            .scalar_subquery()
            for column in (
                AppointmentType.buffer_before_minutes,
                AppointmentType.buffer_after_minutes,
            )
        ]
        before = func.coalesce(by_type[0], rules.buffer_before_minutes, 0)
        after = func.coalesce(by_type[1], rules.buffer_after_minutes, 0)
        any_buffer = or_(
            *(term.is_not(None) for term in by_type),
            rules.buffer_before_minutes.is_not(None),
            rules.buffer_after_minutes.is_not(None),
        )
        # The type may come from an enclosing statement's row (a waitlist entry's).
        clash = exists().correlate_except(other, rules)
    return clash.where(
        rules.id == AvailableSlot.provider_id,
        any_buffer,
        other.provider_id == AvailableSlot.provider_id,
        other.id != AvailableSlot.id,
        seats_booked(other) > 0,
        other.end_time > add_minutes(AvailableSlot.start_time, -after),
        other.start_time < add_minutes(AvailableSlot.end_time, before),
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


class local_week(FunctionElement[Any]):
    """The Monday starting the week of an instant in a time zone."""

    inherit_cache = True


class local_month(FunctionElement[Any]):
    """The calendar month of an instant in a time zone (comparable for equality)."""

    inherit_cache = True


@compiles(local_week, "postgresql")
def _local_week_pg(element: local_week, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    return (
        f"CAST(date_trunc('week', {compiler.process(instant, **kw)} AT TIME ZONE "
        f"{compiler.process(zone, **kw)}) AS DATE)"
    )


@compiles(local_week, "sqlite")
def _local_week_sqlite(element: local_week, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    day = f"{LOCAL_DAY_FUNCTION}({compiler.process(instant, **kw)}, {compiler.process(zone, **kw)})"
    return f"date({day}, '-6 days', 'weekday 1')"


@compiles(local_month, "postgresql")
def _local_month_pg(element: local_month, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    return (
        f"CAST(date_trunc('month', {compiler.process(instant, **kw)} AT TIME ZONE "
        f"{compiler.process(zone, **kw)}) AS DATE)"
    )


@compiles(local_month, "sqlite")
def _local_month_sqlite(element: local_month, compiler: Any, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    day = f"{LOCAL_DAY_FUNCTION}({compiler.process(instant, **kw)}, {compiler.process(zone, **kw)})"
    return f"substr({day}, 1, 7)"


# Each period's calendar key, and how far apart (minutes) two instants of one period can
# be at most (a day lasts up to 25 hours): the range keeps the provider index in use.
PERIODS: dict[str, tuple[type[FunctionElement[Any]], int]] = {
    "day": (local_day, 26 * 60),
    "week": (local_week, 8 * 1440),
    "month": (local_month, 32 * 1440),
}


def period_at_limit(rule: str, period: str) -> ColumnElement[bool]:
    """The provider already has ``rule`` seats booked in the slot's ``period``."""
    rules = aliased(Provider)
    other = aliased(AvailableSlot)
    key, near = PERIODS[period]
    limit = getattr(rules, rule)
    return (
        select(rules.id)
        .where(
            rules.id == AvailableSlot.provider_id,
            limit.is_not(None),
            other.provider_id == AvailableSlot.provider_id,
            seats_booked(other) > 0,
            other.start_time > add_minutes(AvailableSlot.start_time, -near),
            other.start_time < add_minutes(AvailableSlot.start_time, near),
            key(other.start_time, rules.time_zone)
            == key(AvailableSlot.start_time, rules.time_zone),
        )
        .group_by(rules.id, limit)
        .having(func.sum(seats_booked(other)) >= limit)
        .correlate(AvailableSlot)
        .exists()
    )


def rule_conditions(
    now: datetime | None = None, *, at: Any = None, type_key: Any = None
) -> ColumnElement[bool]:
    """Slots of ``AvailableSlot`` that the providers' rules let a patient take ``now``.

    ``at`` instead of ``now``: an expression for the time (a named bind parameter of a
    statement built once and executed many times). ``type_key``: an expression naming the
    appointment type to be booked, whose buffers replace the provider's where set.
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
    caps = [not_(period_at_limit(rule, period)) for rule, period in CAPS]
    checks = and_(outside, not_(_buffer_clash(type_key)), *caps)
    if type_key is not None:
        return checks  # the type's buffers apply whatever the provider's rules
    # Most providers set no rule: one look at the provider answers for all of them, where
    # each check would look it up again (once per slot and rule).
    ruled = aliased(Provider)
    has_rules = (
        exists()
        .where(
            ruled.id == AvailableSlot.provider_id,
            or_(*(getattr(ruled, rule).is_not(None) for rule in RULES)),
        )
        .correlate(AvailableSlot)
    )
    return or_(not_(has_rules), checks)


async def rule_errors(
    session: AsyncSession,
    slot: AvailableSlot,
    provider: Provider,
    now: datetime,
    *,
    seats_claimed: int = 0,
    buffers: tuple[int | None, int | None] = (None, None),
) -> list[str]:
    """Messages for ``available_slot_id`` of every rule booking ``slot`` now would break.

    ``seats_claimed``: seats of this booking already counted (``seats_booked``: booked_count
    and unexpired booking requests);
    ``buffers``: (before, after) of the appointment type, each replacing the provider's.
    """
    rules = BookingRules.of(provider)
    messages: list[str] = []
    notice = rules.minimum_notice_minutes
    if notice is not None and slot.start_time < now + timedelta(minutes=notice):
        messages.append(f"is within the minimum notice of {notice} minutes")
    window = rules.booking_window_days
    if window is not None and slot.start_time >= now + timedelta(days=window):
        messages.append(f"is beyond the booking window of {window} days")
    type_before, type_after = buffers
    buffer_before = type_before if type_before is not None else rules.buffer_before_minutes
    buffer_after = type_after if type_after is not None else rules.buffer_after_minutes
    if buffer_before is not None or buffer_after is not None:
        before = timedelta(minutes=buffer_before or 0)
        after = timedelta(minutes=buffer_after or 0)
        clash = await session.execute(
            select(AvailableSlot.id)
            .where(
                AvailableSlot.provider_id == slot.provider_id,
                AvailableSlot.id != slot.id,
                seats_booked(AvailableSlot) > 0,
                AvailableSlot.end_time > slot.start_time - after,
                AvailableSlot.start_time < slot.end_time + before,
            )
            .limit(1)
        )
        if clash.first() is not None:
            messages.append("is within the buffer of another appointment")
    zone = zone_or_none(provider.time_zone) or zone_or_none("UTC")
    assert zone is not None
    for rule, period in CAPS:
        limit = getattr(rules, rule)
        if limit is None:
            continue
        first, last = period_days(slot.start_time.astimezone(zone).date(), period)
        booked = (
            await session.execute(
                select(func.coalesce(func.sum(seats_booked(AvailableSlot)), 0)).where(
                    AvailableSlot.provider_id == slot.provider_id,
                    AvailableSlot.start_time >= day_start(first, zone),
                    AvailableSlot.start_time < day_end(last, zone),
                )
            )
        ).scalar_one()
        if int(booked) - seats_claimed >= limit:
            messages.append(f"exceeds the limit of {limit} bookings per {period}")
    return messages


def cutoff_error(cutoff: int | None, kind: str, starts: datetime, now: datetime) -> str | None:
    """The message when changing an appointment starting at ``starts`` is too late now.

    ``kind`` is ``cancellation`` or ``reschedule``; the cutoff counts back from the start.
    """
    if cutoff is None or starts - timedelta(minutes=cutoff) > now:
        return None
    return f"is within the {kind} cutoff of {cutoff} minutes"


def period_days(day: date, period: str) -> tuple[date, date]:
    """First and last day of the day's ``period`` (weeks start on Monday)."""
    if period == "day":
        return day, day
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)
