"""Bookings: up to ``capacity`` active bookings per slot, and the booking lifecycle.

A booking takes a seat with a compare-and-set on ``available_slots.booked_count`` (only
while the slot is open: models.scheduling.availability) in the same write transaction that inserts
the booking. On PostgreSQL concurrent claims queue on the slot's row lock, taken first,
so each sees the seats and holds the previous one committed; on SQLite write
transactions are serialised (``BEGIN IMMEDIATE``). The partial unique index
``uq_bookings_active_slot_patient`` refuses a second active booking of one patient on
one slot. The loser of a race gets ``SlotNotAvailable``, never a database error.

Booking notes are health information: they are never put in log messages or reprs, and
lists load them only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from models.booking import claims, requests, waitlist
from models.booking.resources import give_back_unused, take_resource
from models.platform import audit, events, seat_watch
from models.platform.base import UTCDateTime, utcnow
from models.platform.db import is_constraint_violation, read_rows, write_transaction
from models.platform.driver_writes import DriverConflict
from models.platform.entities import (
    MAX_ID,
    AvailableSlot,
    Booking,
    BookingStatus,
    Hold,
    HoldStatus,
    Patient,
    Provider,
)
from models.platform.errors import (
    FieldErrors,
    HoldNotActive,
    NotFound,
    SlotNotAvailable,
    ValidationFailed,
)
from models.platform.join_order import LeftFirstJoin
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import day_end, day_start, now_utc
from models.scheduling.appointment_types import (
    check_appointment_type,
    cutoff_minutes,
    type_buffers,
)
from models.scheduling.availability import booking_is_active, slot_open_clause
from models.scheduling.booking_rules import BookingRules, cutoff_error, rule_errors
from models.scheduling.slots import (
    UNSET,
    check_filters,
)

ACTIVE_SLOT_INDEX = "uq_bookings_active_slot_patient"
# SQLite names the columns of the unique index instead of the index.
ACTIVE_SLOT_COLUMNS = "bookings.available_slot_id, bookings.patient_id"
NOTES_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 500
STATUSES: tuple[str, ...] = tuple(status.value for status in BookingStatus)
# Where a confirmed booking may go; no_show and completed only once the slot has started.
TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.CONFIRMED: frozenset(
        {BookingStatus.CANCELLED, BookingStatus.NO_SHOW, BookingStatus.COMPLETED}
    ),
}
AFTER_START_ONLY = frozenset({BookingStatus.NO_SHOW, BookingStatus.COMPLETED})


@dataclass(slots=True)
class BookingInput:
    """A new booking as a caller sent it. ``appointment_type`` defaults to the slot's."""

    available_slot_id: Any = None
    patient_id: Any = None
    appointment_type: Any = None
    notes: Any = field(default=None, repr=False)
    hold_id: Any = None
    override_rules: Any = False
    # A booking request: "pending" (the one status taken on create), kept until then.
    status: Any = None
    pending_expires_at: Any = None


@dataclass(slots=True)
class BookingChange:
    """Fields of a booking update; ``UNSET`` marks a field not sent."""

    status: Any = UNSET
    cancellation_reason: Any = UNSET
    notes: Any = field(default=UNSET, repr=False)
    # Past the provider's cancellation cutoff (recorded in the audit trail).
    override_rules: Any = UNSET

    def sent(self, name: str) -> bool:
        return getattr(self, name) is not UNSET


@dataclass(slots=True)
class RescheduleInput:
    """Where to move a booking: another slot, optionally through a hold on it."""

    available_slot_id: Any = None
    hold_id: Any = None
    override_rules: Any = False


@dataclass(frozen=True, slots=True)
class BookingFilters:
    provider_id: int | None = None
    patient_id: int | None = None
    available_slot_id: int | None = None
    status: BookingStatus | None = None
    start_date: date | None = None
    end_date: date | None = None


def _blank(value: Any) -> bool:
    return value is None or value is UNSET or (isinstance(value, str) and not value.strip())


def _id_field(errors: FieldErrors, name: str, value: Any) -> int | None:
    if _blank(value):
        errors.add(name, "can't be blank")
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is not None and abs(number) <= MAX_ID:
        return number
    errors.add(name, "is invalid")
    return None


def _override_flag(errors: FieldErrors, value: Any) -> bool:
    if value is None or value is UNSET:
        return False
    if not isinstance(value, bool):
        errors.add("override_rules", "is invalid")
        return False
    return value


def _text_field(errors: FieldErrors, name: str, value: Any, max_length: int) -> str | None:
    """Optional free text; the value itself never appears in a message."""
    if value is None or value is UNSET:
        return None
    if not isinstance(value, str):
        errors.add(name, "is invalid")
        return None
    if len(value) > max_length:
        errors.add(name, f"is too long (maximum is {max_length} characters)")
    return value


def check_status(errors: FieldErrors, value: Any, name: str = "status") -> BookingStatus | None:
    if value is None:
        return None
    if isinstance(value, BookingStatus):
        return value
    if not isinstance(value, str) or value not in STATUSES:
        errors.add(name, "is not included in the list")
        return None
    return BookingStatus(value)


_slot_table = cast(Table, AvailableSlot.__table__)
_patient_table = cast(Table, Patient.__table__)
# The slot a booking claims and the patient's state, read in one statement.
_BOOKING_TARGETS = select(
    _slot_table.c.id,
    _slot_table.c.start_time,
    slot_open_clause().label("available"),
    _slot_table.c.appointment_type,
).where(_slot_table.c.id == bindparam("slot_id"))
_PATIENT_ACTIVE = (
    select(_patient_table.c.active)
    .where(_patient_table.c.id == bindparam("patient_id"))
    .scalar_subquery()
    .label("patient_active")
)
_PATIENT_ONLY = select(_PATIENT_ACTIVE)


async def _fresh_slot(session: AsyncSession, slot_id: int) -> Row[Any] | None:
    rows = await read_rows(session, _BOOKING_TARGETS, {"slot_id": slot_id})
    return rows[0] if rows else None


async def _patient_active(session: AsyncSession, patient_id: int | None) -> Any:
    """The patient's ``active`` (None if there is no such patient)."""
    if patient_id is None:
        return None
    rows = await read_rows(session, _PATIENT_ONLY, {"patient_id": patient_id})
    return rows[0].patient_active


def _check_slot(errors: FieldErrors, slot: Any, slot_id: int | None, now: datetime) -> None:
    if slot_id is not None and slot is None:
        errors.add("available_slot_id", "must exist")
    elif slot is not None and slot.start_time <= now:
        errors.add("available_slot_id", "has already started")


def _check_patient(errors: FieldErrors, patient_id: int | None, active: Any) -> None:
    if patient_id is None:
        return
    if active is None:
        errors.add("patient_id", "must exist")
    elif not active:
        errors.add("patient_id", "is inactive")


async def _lock_slot(session: AsyncSession, slot_id: int) -> AvailableSlot | None:
    """The slot, locked (PostgreSQL) so that seat claims on it queue one after another."""
    stmt = (
        select(AvailableSlot)
        .where(AvailableSlot.id == slot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _claim_seat(session: AsyncSession, slot: AvailableSlot, now: datetime) -> bool:
    """Compare-and-set: take a seat only if the slot is open now and in the future."""
    result = await session.execute(
        update(AvailableSlot.__table__)  # type: ignore[arg-type]
        .where(
            AvailableSlot.id == slot.id,
            AvailableSlot.start_time > now,
            slot_open_clause(now),
        )
        .values(booked_count=AvailableSlot.booked_count + 1, updated_at=now)
    )
    claimed = result.rowcount == 1  # type: ignore[attr-defined]
    if claimed:
        set_committed_value(slot, "booked_count", slot.booked_count + 1)
        set_committed_value(slot, "updated_at", now)
        # A Core statement passes the ORM audit hooks by; it is recorded here.
        audit.record(session, audit.UPDATE, "available_slot", [slot.id], ["booked_count"])
    return claimed


async def _check_hold(
    session: AsyncSession,
    errors: FieldErrors,
    hold_id: int | None,
    slot_id: int | None,
    patient_id: int | None,
) -> Hold | None:
    if hold_id is None:
        return None
    hold = await session.get(Hold, hold_id, with_for_update=True, populate_existing=True)
    if hold is None:
        errors.add("hold_id", "must exist")
    elif hold.available_slot_id != slot_id or (
        hold.patient_id is not None and hold.patient_id != patient_id
    ):
        errors.add("hold_id", "does not match")
    return hold


async def _use_hold(session: AsyncSession, hold: Hold, now: datetime) -> None:
    """Compare-and-set the hold to booked: its seat passes to the booking (409 if gone)."""
    result = await session.execute(
        update(Hold.__table__)  # type: ignore[arg-type]
        .where(
            Hold.id == hold.id,
            Hold.status == HoldStatus.HELD,
            Hold.expires_at > now,
            # A booking request's own hold is not for taking.
            Hold.booking_id.is_(None),
        )
        .values(status=HoldStatus.BOOKED, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise HoldNotActive()
    set_committed_value(hold, "status", HoldStatus.BOOKED)
    set_committed_value(hold, "updated_at", now)


async def _link_hold(
    session: AsyncSession, hold: Hold, booking: Booking, slot: AvailableSlot
) -> None:
    """The used hold names the booking it became; announced as ``hold.booked``."""
    await session.execute(
        update(Hold.__table__)  # type: ignore[arg-type]
        .where(Hold.id == hold.id)
        .values(booking_id=booking.id)
    )
    set_committed_value(hold, "booking_id", booking.id)
    audit.record(session, audit.UPDATE, "hold", [hold.id], ["status", "booking_id"])
    await waitlist.hold_booked(session, hold.id)
    events.record_event(
        session,
        type=events.HOLD_BOOKED,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        booking_id=booking.id,
        hold_id=hold.id,
        start_time=slot.start_time,
        end_time=slot.end_time,
    )


async def _patient_booked(session: AsyncSession, slot_id: int, patient_id: int) -> bool:
    stmt = select(
        exists().where(
            Booking.available_slot_id == slot_id,
            Booking.patient_id == patient_id,
            booking_is_active(),
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def _check_rules(
    session: AsyncSession,
    slot: AvailableSlot,
    now: datetime,
    appointment_type: str | None,
    seats_claimed: int = 1,
) -> None:
    """422 on ``available_slot_id`` for each booking rule of the provider this breaks
    (buffers: the appointment type's where it sets them).

    The provider row is locked (PostgreSQL), so concurrent bookings of one provider check
    buffers and the daily limit one after another.
    """
    provider = await session.get(Provider, slot.provider_id, populate_existing=True)
    assert provider is not None
    buffers = await type_buffers(session, appointment_type)
    if not BookingRules.of(provider).any and buffers == (None, None):
        return
    await session.get(Provider, slot.provider_id, with_for_update=True, populate_existing=True)
    # The seat was claimed just before: it is not yet one of the day's other bookings.
    messages = await rule_errors(
        session, slot, provider, now, seats_claimed=seats_claimed, buffers=buffers
    )
    if messages:
        raise ValidationFailed({"available_slot_id": messages})


async def _refusal(session: AsyncSession, slot_id: int, now: datetime) -> Exception:
    """Why a claim failed, read again after the competing writer committed."""
    errors = FieldErrors()
    _check_slot(errors, await _fresh_slot(session, slot_id), slot_id, now)
    if errors:
        return ValidationFailed(errors.fields)
    return SlotNotAvailable()


async def create_booking(
    session: AsyncSession,
    data: BookingInput,
    *,
    now: datetime | None = None,
    notes_max_length: int = NOTES_MAX_LENGTH,
    full: bool = False,
) -> Booking:
    """Book a patient into a slot: 422 on bad fields, 409 if the slot has no free seat.

    Refusals in order: field errors (422), a hold no longer active (409), no free seat
    (409), the patient already booked on the slot (422), a booking rule (422, unless
    ``override_rules``; an override is recorded in the audit trail).
    """
    errors = FieldErrors()
    slot_id = _id_field(errors, "available_slot_id", data.available_slot_id)
    patient_id = _id_field(errors, "patient_id", data.patient_id)
    hold_id = None if _blank(data.hold_id) else _id_field(errors, "hold_id", data.hold_id)
    await check_appointment_type(session, errors, data.appointment_type)
    notes = _text_field(errors, "notes", data.notes, notes_max_length)
    override = _override_flag(errors, data.override_rules)
    pending = requests.check_create_status(errors, data.status)
    given_expiry = requests.check_expiry(errors, data.pending_expires_at, pending=pending)
    plain = not errors and hold_id is None and not pending and not override and not full
    try:
        async with write_transaction(session):
            moment = now or now_utc()
            if plain:
                assert slot_id is not None and patient_id is not None
                # Claimed by one folded statement; if it claimed nothing, nothing was
                # written and the checks below find why, in this transaction.
                quick = await claims.quick_book(
                    session,
                    slot_id=slot_id,
                    patient_id=patient_id,
                    appointment_type=data.appointment_type,
                    notes=notes,
                    moment=moment,
                )
                if quick is not None:
                    return quick
            slot = await _lock_slot(session, slot_id) if slot_id is not None else None
            _check_slot(errors, slot, slot_id, moment)
            _check_patient(errors, patient_id, await _patient_active(session, patient_id))
            hold = await _check_hold(session, errors, hold_id, slot_id, patient_id)
            errors.raise_if_any()
            assert slot is not None and patient_id is not None
            expires = requests.expiry(given_expiry, slot.start_time, moment) if pending else None
            if hold is not None:
                await _use_hold(session, hold, moment)
            if pending:
                # A request keeps its seat through a hold (models.booking.requests).
                if not await requests.seat_free(session, slot.id, moment):
                    raise await _refusal(session, slot.id, moment)
            elif not await _claim_seat(session, slot, moment):
                raise await _refusal(session, slot.id, moment)
            if await _patient_booked(session, slot.id, patient_id):
                raise ValidationFailed.one("patient_id", "has already been taken")
            if not override:
                await _check_rules(
                    session,
                    slot,
                    moment,
                    data.appointment_type or slot.appointment_type,
                    seats_claimed=0 if pending else 1,
                )
            resource_id = await take_resource(session, slot, moment)
            booking = Booking(
                available_slot_id=slot.id,
                patient_id=patient_id,
                appointment_type=data.appointment_type or slot.appointment_type,
                notes=notes,
                status=BookingStatus.PENDING if pending else BookingStatus.CONFIRMED,
                pending_expires_at=expires,
                created_at=moment,
                updated_at=moment,
                resource_id=resource_id,
            )
            session.add(booking)
            await session.flush()
            if expires is not None:
                requests.keep_seat(session, booking, patient_id, expires)
                await session.flush()
            if hold is not None:
                await _link_hold(session, hold, booking, slot)
            if override:
                audit.record(session, audit.OVERRIDE_RULES, "booking", [booking.id], [])
            events.booking_event(session, events.BOOKING_CREATED, booking, slot)
    except DriverConflict:
        # A constraint refused the folded write (a race): the full path tells which.
        return await create_booking(
            session, data, now=now, notes_max_length=notes_max_length, full=True
        )
    except IntegrityError as exc:
        if not is_constraint_violation(exc, ACTIVE_SLOT_INDEX, ACTIVE_SLOT_COLUMNS):
            raise
        raise ValidationFailed.one("patient_id", "has already been taken") from None
    return booking


_bookings = Booking.__table__
_slots = AvailableSlot.__table__


def seen_status() -> ColumnElement[Any]:
    """The status as every reader sees it: a request past its expiry is expired."""
    b = _bookings.c
    lapsed = and_(
        b.status == BookingStatus.PENDING.value,
        b.pending_expires_at <= bindparam("status_now", callable_=utcnow, type_=UTCDateTime()),
    )
    return type_coerce(case((lapsed, BookingStatus.EXPIRED.value), else_=b.status), b.status.type)


# A booking as reads return it; ``notes`` only when the caller is shown them.
_BOOKING_COLUMNS = (
    _bookings.c.id,
    _bookings.c.available_slot_id,
    _bookings.c.patient_id,
    _bookings.c.appointment_type,
    seen_status().label("status"),
    _bookings.c.cancellation_reason,
    _bookings.c.cancelled_at,
    _bookings.c.rescheduled_from_slot_id,
    _bookings.c.reschedule_count,
    _bookings.c.resource_id,
    _bookings.c.pending_expires_at,
    _bookings.c.created_at,
    _bookings.c.updated_at,
)
BOOKING_BY_ID = select(*_BOOKING_COLUMNS, _bookings.c.notes).where(
    _bookings.c.id == bindparam("booking_id")
)


async def get_booking(session: AsyncSession, booking_id: int) -> Row[Any]:
    """One booking row, notes included."""
    rows = await read_rows(session, BOOKING_BY_ID, {"booking_id": booking_id})
    if not rows:
        raise NotFound()
    return rows[0]


def _check_transition(
    errors: FieldErrors, booking: Booking, target: BookingStatus, now: datetime
) -> None:
    current = booking.status
    if target == current:
        return
    if target not in TRANSITIONS.get(current, frozenset()):
        errors.add("status", f"can't change from {current.value} to {target.value}")
    elif target in AFTER_START_ONLY and booking.slot.start_time > now:
        errors.add("status", f"can't be {target.value} before the appointment starts")


async def _release_slot(session: AsyncSession, booking: Booking, now: datetime) -> None:
    """Give the booking's seat back at once (other causes of closing stay as they are)."""
    slot = booking.slot
    result = await session.execute(
        update(AvailableSlot.__table__)  # type: ignore[arg-type]
        .where(AvailableSlot.id == slot.id, AvailableSlot.booked_count > 0)
        .values(booked_count=AvailableSlot.booked_count - 1, updated_at=now)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        set_committed_value(slot, "booked_count", slot.booked_count - 1)
        set_committed_value(slot, "updated_at", now)
        audit.record(session, audit.UPDATE, "available_slot", [slot.id], ["booked_count"])
        seat_watch.seats_opened(session, [slot.id])


async def update_booking(
    session: AsyncSession,
    booking_id: int,
    change: BookingChange,
    *,
    now: datetime | None = None,
    notes_max_length: int = NOTES_MAX_LENGTH,
) -> Booking:
    """Change status (cancel, no-show, complete), cancellation reason or notes.

    Cancelling frees the slot in the same transaction.
    """
    errors = FieldErrors()
    async with write_transaction(session):
        moment = now or now_utc()
        # Locks the booking and its slot on PostgreSQL, so a concurrent cancel or
        # slot change waits and then sees this one's outcome.
        booking = (
            await session.execute(
                select(Booking)
                .join(Booking.slot)
                .options(contains_eager(Booking.slot))
                .where(Booking.id == booking_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if booking is None:
            raise NotFound()
        target = booking.status
        if change.sent("status"):
            if change.status is None:
                errors.add("status", "can't be blank")
            else:
                target = check_status(errors, change.status) or booking.status
                _check_transition(errors, booking, target, moment)
        reason = _text_field(
            errors, "cancellation_reason", change.cancellation_reason, REASON_MAX_LENGTH
        )
        if reason is not None and target is not BookingStatus.CANCELLED:
            errors.add("cancellation_reason", "is only allowed when cancelling")
        notes = _text_field(errors, "notes", change.notes, notes_max_length)
        override = _override_flag(errors, change.override_rules)
        errors.raise_if_any()

        cancelling = target is BookingStatus.CANCELLED and booking.status is not target
        if cancelling:
            cutoff = await _cutoff(session, booking, booking.slot, "cancellation", moment)
            if cutoff is not None and not override:
                raise ValidationFailed.one("status", cutoff)
            if cutoff is not None:
                audit.record(session, audit.OVERRIDE_RULES, "booking", [booking.id], [])
        booking.status = target
        if cancelling:
            booking.cancelled_at = moment
        if change.sent("cancellation_reason"):
            booking.cancellation_reason = reason
        if change.sent("notes"):
            booking.notes = notes
        booking.updated_at = moment
        await session.flush()
        if cancelling:
            await _release_slot(session, booking, moment)
            await give_back_unused(session, [booking.slot], moment)
        events.booking_event(session, events.booking_change_type(cancelling), booking, booking.slot)
    return booking


async def _cutoff(
    session: AsyncSession, booking: Booking, slot: AvailableSlot, kind: str, now: datetime
) -> str | None:
    """The message if the ``kind`` cutoff (cancellation, reschedule) has passed: the
    booking's type's where it sets one, the provider's otherwise."""
    minutes = await cutoff_minutes(session, kind, slot.provider_id, booking.appointment_type)
    return cutoff_error(minutes, kind, slot.start_time, now)


async def _lock_slots(session: AsyncSession, slot_ids: list[int]) -> dict[int, AvailableSlot]:
    """Several slots locked in id order (PostgreSQL), so crossing moves never deadlock."""
    locked: dict[int, AvailableSlot] = {}
    for slot_id in sorted(set(slot_ids)):
        slot = await _lock_slot(session, slot_id)
        if slot is not None:
            locked[slot_id] = slot
    return locked


async def reschedule_booking(
    session: AsyncSession,
    booking_id: int,
    data: RescheduleInput,
    *,
    now: datetime | None = None,
    full: bool = False,
) -> Booking:
    """Move an active booking to another slot (same or another provider) in one transaction.

    The new seat is claimed under every rule a new booking meets (seats, holds, time off,
    booking rules) and the old one freed; if anything refuses, nothing changes. The
    booking's own appointment is released first inside the transaction, so it never
    counts against buffers or limits while it moves. Refusals as ``create_booking``'s, after
    the booking's own: 404, a booking not confirmed or already started (422 on
    ``status``), the reschedule cutoff (422, unless ``override_rules``).
    """
    errors = FieldErrors()
    slot_id = _id_field(errors, "available_slot_id", data.available_slot_id)
    hold_id = None if _blank(data.hold_id) else _id_field(errors, "hold_id", data.hold_id)
    override = _override_flag(errors, data.override_rules)
    plain = not errors and hold_id is None and not override and not full
    try:
        async with write_transaction(session):
            moment = now or now_utc()
            if plain:
                assert slot_id is not None
                # As in create_booking: nothing written unless the move is done.
                quick = await claims.quick_move(session, booking_id, slot_id, moment=moment)
                if quick is not None:
                    return quick
            booking = (
                await session.execute(
                    select(Booking)
                    .where(Booking.id == booking_id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if booking is None:
                raise NotFound()
            errors.raise_if_any()
            assert slot_id is not None
            slots = await _lock_slots(session, [booking.available_slot_id, slot_id])
            old = slots[booking.available_slot_id]
            set_committed_value(booking, "slot", old)
            if booking.status is not BookingStatus.CONFIRMED:
                errors.add("status", f"can't be rescheduled when {booking.status.value}")
            elif old.start_time <= moment:
                errors.add("status", "can't be rescheduled once the appointment has started")
            target = slots.get(slot_id)
            if slot_id == old.id:
                errors.add("available_slot_id", "is the booking's current slot")
            else:
                _check_slot(errors, target, slot_id, moment)
            hold = await _check_hold(session, errors, hold_id, slot_id, booking.patient_id)
            errors.raise_if_any()
            assert target is not None
            cutoff = await _cutoff(session, booking, old, "reschedule", moment)
            if cutoff is not None and not override:
                raise ValidationFailed.one("available_slot_id", cutoff)
            await _release_slot(session, booking, moment)
            if hold is not None:
                await _use_hold(session, hold, moment)
            if not await _claim_seat(session, target, moment):
                raise await _refusal(session, target.id, moment)
            if await _patient_booked(session, target.id, booking.patient_id):
                raise ValidationFailed.one("patient_id", "has already been taken")
            if not override:
                await _check_rules(session, target, moment, booking.appointment_type)
            # The old slot's resource is given back first: the move may need it.
            await give_back_unused(session, [old], moment)
            booking.resource_id = await take_resource(session, target, moment)
            booking.available_slot_id = target.id
            booking.rescheduled_from_slot_id = old.id
            booking.reschedule_count = booking.reschedule_count + 1
            booking.updated_at = moment
            await session.flush()
            set_committed_value(booking, "slot", target)
            if hold is not None:
                await _link_hold(session, hold, booking, target)
            if override:
                audit.record(session, audit.OVERRIDE_RULES, "booking", [booking.id], [])
            events.record_event(
                session,
                type=events.BOOKING_RESCHEDULED,
                provider_id=target.provider_id,
                slot_id=target.id,
                previous_slot_id=old.id,
                booking_id=booking.id,
                series_id=target.series_id,
                start_time=target.start_time,
                end_time=target.end_time,
            )
    except (DriverConflict, claims.MoveUndone):
        # The folded move was refused by a constraint (a race): the full path decides.
        return await reschedule_booking(session, booking_id, data, now=now, full=True)
    except IntegrityError as exc:
        if not is_constraint_violation(exc, ACTIVE_SLOT_INDEX, ACTIVE_SLOT_COLUMNS):
            raise
        raise ValidationFailed.one("patient_id", "has already been taken") from None
    return booking


async def cancel_booking(
    session: AsyncSession,
    booking_id: int,
    *,
    reason: str | None = None,
    override_rules: Any = UNSET,
    now: datetime | None = None,
) -> Booking:
    change = BookingChange(status=BookingStatus.CANCELLED.value, override_rules=override_rules)
    if reason is not None:
        change.cancellation_reason = reason
    return await update_booking(session, booking_id, change, now=now)


def check_booking_filters(
    errors: FieldErrors,
    *,
    status: Any = None,
    start_date: Any = None,
    end_date: Any = None,
    max_range_days: int | None = None,
) -> tuple[BookingStatus | None, date | None, date | None]:
    """Parse the filter values that can be wrong; adds to ``errors``."""
    parsed_status = check_status(errors, status)
    start, end = check_filters(
        errors, start_date=start_date, end_date=end_date, max_range_days=max_range_days
    )
    return parsed_status, start, end


@dataclass(frozen=True, slots=True)
class _Shape:
    provider: bool
    patient: bool
    slot: bool
    status: bool
    start: bool
    end: bool
    keyset: bool
    notes: bool
    backward: bool = False

    @property
    def slot_filtered(self) -> bool:
        return self.provider or self.start or self.end


def _shape_conditions(shape: _Shape) -> list[Any]:
    b, s = _bookings.c, _slots.c
    conditions: list[Any] = []
    if shape.provider:
        conditions.append(s.provider_id == bindparam("provider_id"))
    if shape.patient:
        conditions.append(b.patient_id == bindparam("patient_id"))
    if shape.slot:
        conditions.append(b.available_slot_id == bindparam("available_slot_id"))
    if shape.status:
        # As readers see it: a request past its expiry is expired.
        conditions.append(seen_status() == bindparam("status", type_=b.status.type))
    if shape.start:
        conditions.append(s.start_time >= bindparam("window_start", type_=s.start_time.type))
    if shape.end:
        conditions.append(s.start_time < bindparam("window_end", type_=s.start_time.type))
    return conditions


def _count(shape: _Shape) -> Select[Any]:
    conditions = _shape_conditions(shape)
    count = select(func.count()).select_from(_bookings)
    if shape.slot_filtered:
        # Only slot filters need the join; without them counting bookings alone is the
        # same number (every booking has its slot) and avoids joining every slot.
        count = count.join(_slots, _slots.c.id == _bookings.c.available_slot_id)
    return count.where(*conditions)


@lru_cache(maxsize=512)
def count_statement(shape: _Shape) -> Select[Any]:
    """The number of bookings in the list of ``shape`` (all pages)."""
    return _count(shape)


def booking_page_rows(shape: _Shape) -> Select[Any]:
    """The bookings of a page of ``shape`` with ``slot_start_time`` (and ``notes`` when the
    shape has them), past the cursor in the page's reading order; not limited."""
    conditions = _shape_conditions(shape)
    key = (_slots.c.start_time, _bookings.c.id)
    columns = [*_BOOKING_COLUMNS, _slots.c.start_time.label("slot_start_time")]
    if shape.notes:
        columns.append(_bookings.c.notes)
    on_slot = _slots.c.id == _bookings.c.available_slot_id
    # Without a filter that picks out a few bookings, the page walks slots in start order
    # and stops after it, rather than reading and sorting every booking.
    joined = (
        _bookings.join(_slots, on_slot)
        if shape.patient or shape.slot or shape.status
        else LeftFirstJoin(_slots, _bookings, on_slot)
    )
    stmt = (
        select(*columns)
        .select_from(joined)
        .where(*conditions)
        .order_by(*keyset_order(key, backward=shape.backward))
    )
    if shape.keyset:
        after_start = bindparam("after_start", type_=_slots.c.start_time.type)
        stmt = stmt.where(
            keyset_past(key, (after_start, bindparam("after_id")), backward=shape.backward)
        )
    return stmt


@lru_cache(maxsize=512)
def _page_statement(shape: _Shape) -> Select[Any]:
    stmt = booking_page_rows(shape).add_columns(_count(shape).scalar_subquery().label("total"))
    stmt = stmt.limit(bindparam("page_limit"))
    if not shape.keyset:
        stmt = stmt.offset(bindparam("page_offset"))
    return stmt


BookingKey = tuple[datetime, int]


def booking_query(
    filters: BookingFilters,
    zone: ZoneInfo,
    *,
    include_notes: bool = False,
    after: BookingKey | None = None,
    backward: bool = False,
) -> tuple[_Shape, dict[str, Any]]:
    """The shape and parameters (but the page's sizes) of a list of bookings."""
    params: dict[str, Any] = {}
    if filters.provider_id is not None:
        params["provider_id"] = filters.provider_id
    if filters.patient_id is not None:
        params["patient_id"] = filters.patient_id
    if filters.available_slot_id is not None:
        params["available_slot_id"] = filters.available_slot_id
    if filters.status is not None:
        params["status"] = filters.status
    if filters.start_date is not None:
        params["window_start"] = day_start(filters.start_date, zone)
    if filters.end_date is not None:
        params["window_end"] = day_end(filters.end_date, zone)
    if after is not None:
        params["after_start"], params["after_id"] = after
    shape = _Shape(
        provider=filters.provider_id is not None,
        patient=filters.patient_id is not None,
        slot=filters.available_slot_id is not None,
        status=filters.status is not None,
        start=filters.start_date is not None,
        end=filters.end_date is not None,
        keyset=after is not None,
        notes=include_notes,
        backward=backward,
    )
    return shape, params


async def list_bookings(
    session: AsyncSession,
    filters: BookingFilters,
    *,
    page: PageRequest,
    zone: ZoneInfo,
    include_notes: bool = False,
    after: BookingKey | None = None,
    backward: bool = False,
    shown: int | None = None,
) -> Page[Row[Any]]:
    """Booking rows in appointment order (slot start, then id), with ``slot_start_time``.

    One statement (the total rides along as a column); without ``include_notes`` the
    notes column is not read. With it, the read is audited as one entry naming every
    booking shown. ``after`` continues after a (slot start_time, booking id) key;
    ``backward`` reads the other way (the rows before ``after``, latest first). ``shown``
    rows of those read are shown (the others only tell whether more follow): only they
    are named in the audit.
    """
    shape, params = booking_query(
        filters, zone, include_notes=include_notes, after=after, backward=backward
    )
    params["page_limit"] = page.page_size
    if after is None:
        params["page_offset"] = page.offset
    rows = list(await read_rows(session, _page_statement(shape), params))
    if rows:
        total = rows[0].total
    else:
        total = (await read_rows(session, count_statement(shape), params))[0][0]
    if include_notes:
        await audit.record_notes_read(session, [row.id for row in rows[:shown]])
    return Page(items=rows, total=total, page=page.page, page_size=page.page_size)
