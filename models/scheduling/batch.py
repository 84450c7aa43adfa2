"""Batch create and batch delete of one provider's slots.

Batch create checks every slot in Python, against the database with ONE overlap query
over the batch's time span, and against the earlier slots of the same batch; the good
ones go in with ONE bulk insert. The number of statements does not grow with the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import events
from models.platform.db import is_constraint_violation, write_transaction
from models.platform.entities import MAX_ID, AvailableSlot, Provider
from models.platform.errors import (
    Conflict,
    FieldErrors,
    NotFound,
    SlotConflict,
    SlotHasActiveBooking,
    SlotHasActiveHold,
    TimeOffConflict,
)
from models.platform.timeutil import format_timestamp, now_utc, parse_timestamp
from models.scheduling.appointment_types import check_key_in, keys_for
from models.scheduling.availability import TimeOffSpans, time_off_intervals
from models.scheduling.bulk import (
    IntervalIndex,
    StoredInterval,
    insert_rows_guarded,
    slot_row,
    stored_intervals,
)
from models.scheduling.resources import active_kinds, check_kind_in
from models.scheduling.slots import (
    active_booking_exists,
    active_hold_exists,
    check_capacity,
    delete_spent_claims,
)

INTRA_BATCH_CONFLICT = "Time slot conflicts with another slot of this batch"


@dataclass(frozen=True, slots=True)
class BatchSlot:
    """One validated slot of a batch, with its position in the request."""

    index: int
    start: datetime
    end: datetime
    appointment_type: str | None
    capacity: int = 1
    resource_kind: str | None = None


@dataclass(slots=True)
class BatchFailure:
    index: int
    start_time: Any
    errors: dict[str, list[str]] | str

    def summary(self) -> dict[str, Any]:
        return {"index": self.index, "start_time": self.start_time, "errors": self.errors}


@dataclass(slots=True)
class BatchCreation:
    slot_ids: list[int] = field(default_factory=list)
    failures: list[BatchFailure] = field(default_factory=list)
    # With dry_run: the slots that would be created; nothing is written.
    would_create: list[BatchSlot] = field(default_factory=list)
    dry_run: bool = False


@dataclass(slots=True)
class BatchDeletion:
    slot_ids: list[int] = field(default_factory=list)
    failures: list[tuple[Any, str]] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    """An id from an int or digits; None if it is neither or beyond any id."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    return number if number is not None and abs(number) <= MAX_ID else None


async def _provider(session: AsyncSession, errors: FieldErrors, raw: Any) -> Provider | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.add("provider_id", "can't be blank")
        return None
    provider_id = _int_or_none(raw)
    if provider_id is None or not 1 <= provider_id < 2**63:
        errors.add("provider_id", "is invalid")
        return None
    provider = await session.get(Provider, provider_id)
    if provider is None:
        errors.add("provider_id", "must exist")
    elif not provider.active:
        errors.add("provider_id", "is inactive")
    return provider


def _check_list(errors: FieldErrors, name: str, value: Any, max_size: int) -> list[Any]:
    if value is None:
        errors.add(name, "can't be blank")
        return []
    if not isinstance(value, list):
        errors.add(name, "is invalid")
        return []
    if len(value) > max_size:
        errors.add(name, f"is too long (maximum is {max_size} slots)")
    return value


def _echo_start(item: Any) -> Any:
    """The failed slot's start time: normalised when it parses, else as sent (if text)."""
    raw = item.get("start_time") if isinstance(item, dict) else None
    parsed = parse_timestamp(raw)
    if parsed is not None:
        return format_timestamp(parsed)
    return raw if isinstance(raw, str) and len(raw) <= 64 else None


def _validate_item(
    index: int, item: Any, now: datetime, type_keys: frozenset[str], kinds: frozenset[str]
) -> BatchSlot | BatchFailure:
    errors = FieldErrors()
    if not isinstance(item, dict):
        return BatchFailure(index, None, {"slot": ["is invalid"]})
    times: dict[str, datetime | None] = {}
    for name in ("start_time", "end_time"):
        raw = item.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            errors.add(name, "can't be blank")
            times[name] = None
            continue
        times[name] = parse_timestamp(raw)
        if times[name] is None:
            errors.add(name, "is invalid")
    start, end = times["start_time"], times["end_time"]
    if start is not None and start <= now:
        errors.add("start_time", "must be in the future")
    if start is not None and end is not None and end <= start:
        errors.add("end_time", "must be after start time")
    appointment_type = item.get("appointment_type")
    check_key_in(errors, appointment_type, type_keys)
    capacity = check_capacity(errors, item.get("capacity"))
    resource_kind = item.get("resource_kind")
    check_kind_in(errors, resource_kind, kinds)
    if errors:
        return BatchFailure(index, _echo_start(item), errors.fields)
    assert start is not None and end is not None
    return BatchSlot(index, start, end, appointment_type, capacity or 1, resource_kind)


def _place(
    candidates: list[BatchSlot],
    stored: IntervalIndex[StoredInterval],
    away: TimeOffSpans,
) -> tuple[list[BatchSlot], list[BatchFailure]]:
    """Slots clear of the database and of the batch's earlier accepted slots, in order."""
    accepted: IntervalIndex[BatchSlot] = IntervalIndex()
    placed: list[BatchSlot] = []
    failures: list[BatchFailure] = []
    for slot in candidates:
        stamp = format_timestamp(slot.start)
        if stored.overlapping(slot.start, slot.end):
            failures.append(BatchFailure(slot.index, stamp, SlotConflict.message))
        elif away.covers(slot.start, slot.end):
            failures.append(BatchFailure(slot.index, stamp, TimeOffConflict.message))
        elif accepted.overlapping(slot.start, slot.end):
            failures.append(BatchFailure(slot.index, stamp, INTRA_BATCH_CONFLICT))
        else:
            accepted.add(slot.start, slot.end, slot)
            placed.append(slot)
    return placed, failures


async def create_batch(
    session: AsyncSession,
    *,
    provider_id: Any,
    slots: Any,
    max_batch_size: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
) -> BatchCreation:
    """Create the good slots of a batch and report the bad ones (index order)."""
    now = now or now_utc()
    errors = FieldErrors()
    provider = await _provider(session, errors, provider_id)
    items = _check_list(errors, "slots", slots, max_batch_size)
    errors.raise_if_any()
    assert provider is not None
    type_keys = await keys_for(
        session, [item.get("appointment_type") for item in items if isinstance(item, dict)]
    )
    wants_kind = any(isinstance(item, dict) and item.get("resource_kind") for item in items)
    kinds = await active_kinds(session) if wants_kind else frozenset()
    checked = [
        _validate_item(index, item, now, type_keys, kinds) for index, item in enumerate(items)
    ]
    candidates = [item for item in checked if isinstance(item, BatchSlot)]
    failures = [item for item in checked if isinstance(item, BatchFailure)]
    result = BatchCreation(dry_run=dry_run)

    async def place() -> list[BatchSlot]:
        if not candidates:
            return []
        stored = await stored_intervals(
            session,
            provider.id,
            min(slot.start for slot in candidates),
            max(slot.end for slot in candidates),
        )
        away = await time_off_intervals(
            session,
            provider.id,
            min(slot.start for slot in candidates),
            max(slot.end for slot in candidates),
        )
        placed, clashes = _place(candidates, stored, away)
        failures.extend(clashes)
        return placed

    if dry_run:
        result.would_create = await place()
        await session.rollback()
    else:
        async with write_transaction(session):
            placed = await place()
            stamp = now_utc()
            rows = [
                slot_row(
                    provider_id=provider.id,
                    start=slot.start,
                    end=slot.end,
                    appointment_type=slot.appointment_type,
                    capacity=slot.capacity,
                    now=stamp,
                    resource_kind=slot.resource_kind,
                )
                for slot in placed
            ]
            ids = await insert_rows_guarded(session, rows)
        for slot, ident in zip(placed, ids, strict=True):
            if ident is None:
                # A concurrent writer took the time between the check and the insert.
                failures.append(
                    BatchFailure(slot.index, format_timestamp(slot.start), SlotConflict.message)
                )
            else:
                result.slot_ids.append(ident)
    result.failures = sorted(failures, key=lambda failure: failure.index)
    return result


async def delete_batch(
    session: AsyncSession,
    *,
    provider_id: Any,
    slot_ids: Any,
    max_batch_size: int = 500,
) -> BatchDeletion:
    """Delete the provider's listed slots that have no active booking; report the rest."""
    errors = FieldErrors()
    provider = await _provider(session, errors, provider_id)
    raw_ids = _check_list(errors, "slot_ids", slot_ids, max_batch_size)
    errors.raise_if_any()
    assert provider is not None
    wanted: dict[int, None] = {}
    result = BatchDeletion()
    for raw in raw_ids:
        ident = _int_or_none(raw)
        if ident is None or not 1 <= ident < 2**63:
            result.failures.append((raw, NotFound.message))
        else:
            wanted.setdefault(ident, None)
    if not wanted:
        await session.rollback()
        return result
    try:
        async with write_transaction(session):
            rows = await session.execute(
                select(
                    AvailableSlot.id,
                    active_booking_exists(AvailableSlot.id),
                    active_hold_exists(AvailableSlot.id),
                    AvailableSlot.start_time,
                    AvailableSlot.end_time,
                    AvailableSlot.series_id,
                )
                .where(
                    AvailableSlot.id.in_(list(wanted)),
                    AvailableSlot.provider_id == provider.id,
                )
                .with_for_update(of=AvailableSlot)
            )
            stored = {row[0]: row for row in rows.tuples()}
            found: dict[int, str | None] = {
                ident: (
                    SlotHasActiveBooking.message
                    if booked
                    else SlotHasActiveHold.message
                    if held
                    else None
                )
                for ident, (_id, booked, held, *_times) in stored.items()
            }
            doomed = [ident for ident in wanted if ident in found and not found[ident]]
            events.slot_events(
                session,
                events.SLOT_DELETED,
                [events.SlotFacts(i, provider.id, *stored[i][3:]) for i in doomed],
            )
            if doomed:
                await delete_spent_claims(session, doomed)
                await session.execute(
                    delete(AvailableSlot)
                    .where(AvailableSlot.id.in_(doomed))
                    .execution_options(synchronize_session=False)
                )
    except IntegrityError as exc:
        # A booking arrived for one of the slots after it was read: nothing was deleted.
        if not is_constraint_violation(exc, "bookings", "available_slot_id"):
            raise
        raise Conflict(SlotHasActiveBooking.message) from None
    for ident in wanted:
        if ident not in found:
            result.failures.append((ident, NotFound.message))
        elif found[ident]:
            result.failures.append((ident, found[ident] or ""))
        else:
            result.slot_ids.append(ident)
    return result
