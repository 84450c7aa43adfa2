"""Update and delete with a scope: one slot, this and the following occurrences, or the series.

``following`` is the addressed occurrence and every later one; ``series`` is every
occurrence that has not started yet (the addressed one included). Occurrences with an
active booking are never moved or removed by a scoped change: they are kept and reported.
A slot outside any series is a series of one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from models.platform import audit, events, seat_watch
from models.platform.db import write_transaction
from models.platform.entities import AvailableSlot, Booking, SlotSeries
from models.platform.errors import (
    FieldErrors,
    NotFound,
    SlotConflict,
    SlotHasActiveBooking,
    ValidationFailed,
)
from models.platform.timeutil import format_timestamp, now_utc, parse_timestamp
from models.scheduling.appointment_types import check_appointment_type
from models.scheduling.availability import booking_is_active
from models.scheduling.bulk import (
    IntervalIndex,
    StoredInterval,
    is_slot_constraint,
    stored_intervals,
)
from models.scheduling.recurrence import Occurrence, check_no_self_overlap, to_instant, to_local
from models.scheduling.series import conflicts_of, find_clashes, series_zone
from models.scheduling.slots import (
    SlotInput,
    SlotView,
    active_hold_exists,
    check_capacity,
    delete_slot,
    delete_spent_claims,
    duration_minutes,
    update_slot,
)

# Fields that belong to one slot or to the rule itself; a scoped change cannot set them.
SINGLE_ONLY_FIELDS = (
    "provider_id",
    "recurring",
    "recurrence_pattern",
    "recurrence_rule",
    "recurrence_end_date",
)


class Scope(enum.StrEnum):
    SINGLE = "single"
    FOLLOWING = "following"
    SERIES = "series"


def parse_scope(value: Any) -> Scope:
    if value is None:
        return Scope.SINGLE
    try:
        return Scope(str(value).lower())
    except ValueError:
        raise ValidationFailed.one("scope", "is not included in the list") from None


@dataclass(frozen=True, slots=True)
class KeptSlot:
    """An occurrence a scoped change left as it was, and why."""

    id: int
    start_time: datetime
    end_time: datetime
    reason: str = SlotHasActiveBooking.message

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_time": format_timestamp(self.start_time),
            "end_time": format_timestamp(self.end_time),
            "errors": self.reason,
        }


@dataclass(slots=True)
class ScopedChange:
    scope: Scope
    series_id: int | None
    slot_ids: list[int] = field(default_factory=list)
    kept: list[KeptSlot] = field(default_factory=list)
    # After an update: the addressed slot and the changed ones, providers loaded.
    slot: SlotView | None = None
    slots: list[SlotView] = field(default_factory=list)


async def _targets(
    session: AsyncSession, slot: AvailableSlot, scope: Scope, now: datetime
) -> list[AvailableSlot]:
    """The occurrences a scope covers, locked (PostgreSQL) against concurrent bookings."""
    if slot.series_id is None:
        return [slot]
    conditions: list[Any] = [
        AvailableSlot.series_id == slot.series_id,
        or_(AvailableSlot.start_time > now, AvailableSlot.id == slot.id),
    ]
    if scope is Scope.FOLLOWING:
        conditions.append(AvailableSlot.start_time >= slot.start_time)
    stmt = (
        select(AvailableSlot)
        .where(*conditions)
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def _booked_ids(session: AsyncSession, slot_ids: list[int]) -> set[int]:
    if not slot_ids:
        return set()
    stmt = select(Booking.available_slot_id).where(
        Booking.available_slot_id.in_(slot_ids), booking_is_active()
    )
    # A slot with an unexpired hold is kept like a booked one.
    held = select(AvailableSlot.id).where(
        AvailableSlot.id.in_(slot_ids), active_hold_exists(AvailableSlot.id)
    )
    return set((await session.execute(stmt.union(held))).scalars())


def _kept(slot: AvailableSlot) -> KeptSlot:
    return KeptSlot(slot.id, slot.start_time, slot.end_time)


async def _lock_addressed(
    session: AsyncSession, slot_id: int
) -> tuple[AvailableSlot, SlotSeries | None]:
    slot = await session.get(AvailableSlot, slot_id, with_for_update=True, populate_existing=True)
    if slot is None:
        raise NotFound()
    series = None
    if slot.series_id is not None:
        series = await session.get(
            SlotSeries, slot.series_id, with_for_update=True, populate_existing=True
        )
    return slot, series


def _sent_time(errors: FieldErrors, data: SlotInput, name: str) -> datetime | None:
    if not data.sent(name):
        return None
    value = getattr(data, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add(name, "can't be blank")
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.add(name, "is invalid")
    return parsed


async def _check_fields(
    session: AsyncSession, data: SlotInput
) -> tuple[FieldErrors, datetime | None, datetime | None]:
    errors = FieldErrors()
    for name in SINGLE_ONLY_FIELDS:
        if data.sent(name):
            errors.add(name, "can't be changed for more than one slot; use scope single")
    if data.sent("appointment_type"):
        await check_appointment_type(session, errors, data.appointment_type)
    if data.sent("available") and not isinstance(data.available, bool):
        errors.add("available", "is invalid")
    if data.sent("capacity"):
        if data.capacity is None:
            errors.add("capacity", "can't be blank")
        else:
            check_capacity(errors, data.capacity)
    return errors, _sent_time(errors, data, "start_time"), _sent_time(errors, data, "end_time")


@dataclass(slots=True)
class _Move:
    slot: AvailableSlot
    start: datetime
    end: datetime


def _plan_moves(
    errors: FieldErrors,
    slot: AvailableSlot,
    series: SlotSeries | None,
    movable: list[AvailableSlot],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[_Move]:
    """Shift every movable occurrence by the addressed one's change in local wall-clock time."""
    zone = series_zone(series.time_zone if series is not None else "UTC")
    delta_local = to_local(start, zone) - to_local(slot.start_time, zone)
    length = end - start
    if (
        series is not None
        and series.recurrence_pattern == "custom"
        and to_local(start, zone).date() != to_local(slot.start_time, zone).date()
    ):
        errors.add("start_time", "must stay on the same day for a custom recurrence rule")
        return []
    moves = []
    for target in movable:
        begins = to_instant(to_local(target.start_time, zone) + delta_local, zone)
        moves.append(_Move(target, begins, begins + length))
    if any(move.start <= now for move in moves):
        errors.add("start_time", "must be in the future")
    check_no_self_overlap(errors, [Occurrence(move.start, move.end) for move in moves])
    return moves


async def _raise_if_moves_clash(
    session: AsyncSession, provider_id: int, moves: list[_Move], moving_ids: list[int]
) -> None:
    stored: IntervalIndex[StoredInterval] = await stored_intervals(
        session,
        provider_id,
        min(move.start for move in moves),
        max(move.end for move in moves),
        exclude_ids=moving_ids,
    )
    clashes = find_clashes([Occurrence(move.start, move.end) for move in moves], stored)
    if clashes:
        raise SlotConflict(conflicts=conflicts_of(clashes))


def _update_rows(
    moves: list[_Move], movable: list[AvailableSlot], data: SlotInput, forward: bool
) -> list[dict[str, Any]]:
    """One parameter set per occurrence, ordered so that no intermediate state overlaps.

    Occurrences shift together; moving the latest first when shifting later (the earliest
    first when shifting earlier) keeps each row clear of those not yet moved, which
    PostgreSQL's exclusion constraint checks statement by statement.
    """
    stamp = now_utc()
    by_id = {move.slot.id: move for move in moves}
    rows = []
    for target in movable:
        row: dict[str, Any] = {"id": target.id, "updated_at": stamp}
        move = by_id.get(target.id)
        if move is not None:
            row.update(
                start_time=move.start,
                end_time=move.end,
                duration_minutes=duration_minutes(move.start, move.end),
            )
        if data.sent("appointment_type"):
            row["appointment_type"] = data.appointment_type
        if data.sent("available"):
            row["admin_closed"] = not data.available
        if data.sent("capacity"):
            row["capacity"] = data.capacity
        rows.append(row)
    rows.sort(key=lambda row: by_id[row["id"]].start if row["id"] in by_id else stamp)
    return list(reversed(rows)) if forward else rows


def _carry_into_series(
    series: SlotSeries, old_start: datetime, data: SlotInput, start: datetime, end: datetime
) -> None:
    """Future occurrences follow the change: shift the anchor, the horizon, the rule."""
    zone = series_zone(series.time_zone)
    delta_local = to_local(start, zone) - to_local(old_start, zone)
    if delta_local or end - start != timedelta(minutes=series.duration_minutes):
        series.dtstart_local = series.dtstart_local + delta_local
        series.duration_minutes = duration_minutes(start, end)
        series.generated_until = series.generated_until + (start - old_start)
        if series.recurrence_pattern == "monthly":
            series.recurrence_rule = f"FREQ=MONTHLY;BYMONTHDAY={series.dtstart_local.day}"
    if data.sent("appointment_type"):
        series.appointment_type = data.appointment_type
    if data.sent("capacity"):
        series.capacity = data.capacity


async def _loaded(session: AsyncSession, slot_ids: list[int]) -> list[AvailableSlot]:
    if not slot_ids:
        return []
    stmt = (
        select(AvailableSlot)
        .options(joinedload(AvailableSlot.provider))
        .where(AvailableSlot.id.in_(slot_ids))
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


def _announce_updates(
    session: AsyncSession, loaded: list[AvailableSlot], was_available: dict[int, bool]
) -> None:
    for slot in loaded:
        if slot.id in was_available:
            kind = events.slot_change_type(was_available[slot.id], slot)
            events.slot_event(session, kind, slot)
    # More seats or reopened: the waitlist is offered what is free.
    seat_watch.seats_opened(session, [slot.id for slot in loaded])


async def update_scoped(
    session: AsyncSession,
    slot_id: int,
    data: SlotInput,
    *,
    scope: Scope,
    now: datetime | None = None,
) -> ScopedChange:
    """Apply ``data`` to the occurrences ``scope`` covers; all of them or none (409)."""
    now = now or now_utc()
    if scope is Scope.SINGLE:
        updated = await update_slot(session, slot_id, data, now=now)
        return ScopedChange(scope, updated.series_id, [updated.id], slot=updated, slots=[updated])
    errors, new_start, new_end = await _check_fields(session, data)
    errors.raise_if_any()
    try:
        async with write_transaction(session):
            slot, series = await _lock_addressed(session, slot_id)
            targets = await _targets(session, slot, scope, now)
            booked = await _booked_ids(session, [target.id for target in targets])
            movable = [target for target in targets if target.id not in booked]
            kept = [_kept(target) for target in targets if target.id in booked]
            old_start = slot.start_time
            start, end = new_start or old_start, new_end or slot.end_time
            if new_start is not None and new_start <= now:
                errors.add("start_time", "must be in the future")
            if end <= start:
                errors.add("end_time", "must be after start time")
            errors.raise_if_any()
            moved = (start, end) != (old_start, slot.end_time)
            moves = _plan_moves(errors, slot, series, movable, start, end, now) if moved else []
            errors.raise_if_any()
            if moves:
                await _raise_if_moves_clash(
                    session, slot.provider_id, moves, [target.id for target in movable]
                )
            was_available = {target.id: target.available for target in movable}
            rows = _update_rows(moves, movable, data, forward=start >= old_start)
            if rows:
                await session.execute(update(AvailableSlot), rows)
                changed_fields = {key for row in rows for key in row} - {"id"}
                ids = [row["id"] for row in rows]
                await audit.record_many(
                    session, audit.UPDATE, "available_slot", ids, changed_fields
                )
            if series is not None:
                _carry_into_series(series, old_start, data, start, end)
            await session.flush()
            # Read back before the commit, so the reply never depends on a later read.
            changed = [target.id for target in movable]
            loaded = await _loaded(session, sorted({*changed, slot_id}))
            _announce_updates(session, loaded, was_available)
    except IntegrityError as exc:
        if not is_slot_constraint(exc):
            raise
        await session.rollback()
        raise SlotConflict() from None
    addressed = next(item for item in loaded if item.id == slot_id)
    return ScopedChange(
        scope,
        slot.series_id,
        changed,
        kept,
        slot=addressed,
        slots=[item for item in loaded if item.id in set(changed)],
    )


async def delete_scoped(
    session: AsyncSession, slot_id: int, *, scope: Scope, now: datetime | None = None
) -> ScopedChange:
    """Delete the unbooked occurrences ``scope`` covers; a series stops generating."""
    now = now or now_utc()
    if scope is Scope.SINGLE:
        await delete_slot(session, slot_id)
        return ScopedChange(scope, None, [slot_id])
    async with write_transaction(session):
        slot, series = await _lock_addressed(session, slot_id)
        targets = await _targets(session, slot, scope, now)
        booked = await _booked_ids(session, [target.id for target in targets])
        doomed = [target.id for target in targets if target.id not in booked]
        kept = [_kept(target) for target in targets if target.id in booked]
        if doomed:
            await delete_spent_claims(session, doomed)
            await session.execute(
                delete(AvailableSlot)
                .where(AvailableSlot.id.in_(doomed))
                .execution_options(synchronize_session=False)
            )
        if series is not None:
            series.exhausted = True
        await session.flush()
        events.slot_events(session, events.SLOT_DELETED, [t for t in targets if t.id in doomed])
    for target in targets:
        if target.id in doomed:
            session.expunge(target)
    return ScopedChange(scope, slot.series_id, doomed, kept)
