"""Time off: a provider away closes every slot of theirs it overlaps.

The closing is computed (models.scheduling.availability), never written on the slots, so time offs
may overlap and deleting one lifts its cause only. Creating one locks the provider's
slots in the range (PostgreSQL) before reporting them: a booking racing it either
committed first (and is reported in ``booked_slot_ids``) or runs after it and is refused.
``reason`` is health-adjacent: never logged, never in an error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import events, seat_watch
from models.platform.db import write_transaction
from models.platform.entities import MAX_ID, AvailableSlot, Provider, TimeOff
from models.platform.errors import FieldErrors, NotFound
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import day_end, day_start, now_utc, parse_timestamp
from models.scheduling.series import fill_series_gap

REASON_MAX_LENGTH = 500


@dataclass(slots=True)
class TimeOffInput:
    provider_id: Any = None
    start_time: Any = None
    end_time: Any = None
    reason: Any = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TimeOffFilters:
    provider_id: int | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass(slots=True)
class TimeOffSlots:
    """The provider's slots a time off overlaps: without an active booking, and with one."""

    blocked_slot_ids: list[int] = field(default_factory=list)
    booked_slot_ids: list[int] = field(default_factory=list)


def _provider_id(errors: FieldErrors, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add("provider_id", "can't be blank")
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is not None and 0 <= number <= MAX_ID:
        return number
    errors.add("provider_id", "is invalid")
    return None


def _instant(errors: FieldErrors, name: str, value: Any) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(name, "can't be blank")
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.add(name, "is invalid")
    return parsed


def _reason(errors: FieldErrors, value: Any) -> str | None:
    """Optional text; the value itself never appears in a message."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add("reason", "is invalid")
        return None
    if len(value) > REASON_MAX_LENGTH:
        errors.add("reason", f"is too long (maximum is {REASON_MAX_LENGTH} characters)")
    return value


def _overlapping_slots(provider_id: int, start: datetime, end: datetime) -> Any:
    return (
        select(AvailableSlot.id, AvailableSlot.booked_count)
        .where(
            AvailableSlot.provider_id == provider_id,
            AvailableSlot.start_time < end,
            AvailableSlot.end_time > start,
        )
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
    )


def _split(rows: Any) -> TimeOffSlots:
    found = TimeOffSlots()
    for slot_id, booked in rows:
        (found.booked_slot_ids if booked > 0 else found.blocked_slot_ids).append(slot_id)
    return found


async def create_time_off(
    session: AsyncSession, data: TimeOffInput
) -> tuple[TimeOff, TimeOffSlots]:
    """Store the time off; 422 on bad fields. Overlapping time offs are allowed."""
    errors = FieldErrors()
    provider_id = _provider_id(errors, data.provider_id)
    start = _instant(errors, "start_time", data.start_time)
    end = _instant(errors, "end_time", data.end_time)
    if start is not None and end is not None and end <= start:
        errors.add("end_time", "must be after start time")
    reason = _reason(errors, data.reason)
    async with write_transaction(session):
        if provider_id is not None and await session.get(Provider, provider_id) is None:
            errors.add("provider_id", "must exist")
        errors.raise_if_any()
        assert provider_id is not None and start is not None and end is not None
        moment = now_utc()
        time_off = TimeOff(
            provider_id=provider_id,
            start_time=start,
            end_time=end,
            reason=reason,
            created_at=moment,
            updated_at=moment,
        )
        session.add(time_off)
        await session.flush()
        locked = _overlapping_slots(provider_id, start, end).with_for_update()
        slots = _split((await session.execute(locked)).tuples())
        _time_off_event(session, events.TIME_OFF_CREATED, time_off)
    return time_off, slots


def _time_off_event(session: AsyncSession, type: str, time_off: TimeOff) -> None:
    # The range only: the reason is health data and never leaves the record.
    events.record_event(
        session,
        type=type,
        provider_id=time_off.provider_id,
        time_off_id=time_off.id,
        start_time=time_off.start_time,
        end_time=time_off.end_time,
    )


async def get_time_off(session: AsyncSession, time_off_id: int) -> TimeOff:
    time_off = (
        await session.execute(
            select(TimeOff)
            .where(TimeOff.id == time_off_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if time_off is None:
        raise NotFound()
    return time_off


async def slots_of(session: AsyncSession, time_offs: list[TimeOff]) -> dict[int, TimeOffSlots]:
    """Each time off's overlapped slots as they are now: one statement for the whole page."""
    found: dict[int, TimeOffSlots] = {time_off.id: TimeOffSlots() for time_off in time_offs}
    if not time_offs:
        return found
    stmt = (
        select(TimeOff.id, AvailableSlot.id, AvailableSlot.booked_count)
        .join(
            AvailableSlot,
            and_(
                AvailableSlot.provider_id == TimeOff.provider_id,
                AvailableSlot.start_time < TimeOff.end_time,
                AvailableSlot.end_time > TimeOff.start_time,
            ),
        )
        .where(TimeOff.id.in_(list(found)))
        .order_by(TimeOff.id, AvailableSlot.start_time, AvailableSlot.id)
    )
    for time_off_id, slot_id, booked in (await session.execute(stmt)).tuples():
        slots = found[time_off_id]
        (slots.booked_slot_ids if booked > 0 else slots.blocked_slot_ids).append(slot_id)
    return found


async def delete_time_off(
    session: AsyncSession, time_off_id: int, *, now: datetime | None = None
) -> None:
    """Lift this cause only; series occurrences it skipped are created now where they fit."""
    async with write_transaction(session):
        time_off = await session.get(
            TimeOff, time_off_id, with_for_update=True, populate_existing=True
        )
        if time_off is None:
            raise NotFound()
        provider_id, start, end = time_off.provider_id, time_off.start_time, time_off.end_time
        _time_off_event(session, events.TIME_OFF_DELETED, time_off)
        await session.delete(time_off)
        await session.flush()
        await fill_series_gap(session, provider_id, start, end, now=now or now_utc())
        # The slots it closed may take bookings again: the waitlist is offered them.
        lifted = await session.execute(
            select(AvailableSlot.id).where(
                AvailableSlot.provider_id == provider_id,
                AvailableSlot.start_time < end,
                AvailableSlot.end_time > start,
            )
        )
        seat_watch.seats_opened(session, lifted.scalars())


async def list_time_offs(
    session: AsyncSession,
    filters: TimeOffFilters,
    *,
    page: PageRequest,
    zone: ZoneInfo,
    after: tuple[datetime, int] | None = None,
    backward: bool = False,
) -> Page[TimeOff]:
    """Time offs in time order; the day filters keep those overlapping the days.

    ``backward`` reads the other way (the rows before ``after``, latest first).
    """
    conditions: list[Any] = []
    if filters.provider_id is not None:
        conditions.append(TimeOff.provider_id == filters.provider_id)
    if filters.start_date is not None:
        conditions.append(TimeOff.end_time > day_start(filters.start_date, zone))
    if filters.end_date is not None:
        conditions.append(TimeOff.start_time < day_end(filters.end_date, zone))
    total = (
        await session.execute(select(func.count()).select_from(TimeOff).where(*conditions))
    ).scalar_one()
    key = (TimeOff.start_time, TimeOff.id)
    stmt = (
        select(TimeOff)
        .where(*conditions)
        .order_by(*keyset_order(key, backward=backward))
        .limit(page.page_size)
        .execution_options(populate_existing=True)
    )
    if after is not None:
        stmt = stmt.where(keyset_past(key, after, backward=backward))
    else:
        stmt = stmt.offset(page.offset)
    items = list((await session.execute(stmt)).scalars())
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)
