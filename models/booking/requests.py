"""Booking requests: a booking made ``pending`` keeps its seat until it is confirmed,
declined or reaches ``pending_expires_at``.

The seat is kept the way a hold keeps one: a hold naming the booking (``booking_id``) and
expiring with it, so every reader of seats (availability, search, find, utilization) sees
it and stops counting it at expiry with no job needed; caps and buffers count it through
``models.scheduling.availability.seats_booked``. Confirming turns that hold into a seat of
``booked_count``; declining releases it. Both are compare-and-set updates
(``... WHERE status = 'pending' AND pending_expires_at > now``): of any number of
simultaneous confirms and declines exactly one wins, the others are 409
``BookingNotPending``. The sweeper writes ``expired`` later, for the event stream only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from models.platform import audit, events, seat_watch
from models.platform.base import UTCDateTime
from models.platform.db import read_rows, write_transaction
from models.platform.entities import (
    AvailableSlot,
    Booking,
    BookingStatus,
    Hold,
    HoldStatus,
)
from models.platform.errors import BookingNotPending, FieldErrors, NotFound
from models.platform.timeutil import now_utc, parse_timestamp

DEFAULT_PENDING = timedelta(hours=24)
MAX_PENDING = timedelta(days=7)


def status_at(booking: Any, now: datetime) -> BookingStatus:
    """The status every reader sees: a request past ``pending_expires_at`` is expired."""
    status = BookingStatus(booking.status)
    expires = getattr(booking, "pending_expires_at", None)
    if status is BookingStatus.PENDING and expires is not None and expires <= now:
        return BookingStatus.EXPIRED
    return status


def check_create_status(errors: FieldErrors, value: Any) -> bool:
    """Whether the new booking is a request. ``pending`` is the one status taken on create;
    any other is ignored, as the contract has it for every server-owned field."""
    return value is BookingStatus.PENDING or value == BookingStatus.PENDING.value


def check_expiry(errors: FieldErrors, value: Any, *, pending: bool) -> datetime | None:
    """A given ``pending_expires_at`` parsed (checked against the clock by :func:`expiry`)."""
    if value is None:
        return None
    if not pending:
        errors.add("pending_expires_at", "is only allowed with status pending")
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.add("pending_expires_at", "is invalid")
    return parsed


def expiry(given: datetime | None, starts: datetime, now: datetime) -> datetime:
    """When the request lapses: ``given``, or 24 hours on (never past the appointment's
    start); 422 on ``pending_expires_at`` when ``given`` is not in the next 7 days or not
    before the start."""
    if given is None:
        return min(now + DEFAULT_PENDING, starts)
    errors = FieldErrors()
    if given <= now:
        errors.add("pending_expires_at", "must be in the future")
    elif given > now + MAX_PENDING:
        errors.add("pending_expires_at", "must be at most 7 days from now")
    elif given > starts:
        errors.add("pending_expires_at", "must not be after the appointment starts")
    errors.raise_if_any()
    return given


async def seat_free(session: AsyncSession, slot_id: int, now: datetime) -> bool:
    """A fresh read, after the slot's lock: a seat is free for a request now."""
    from models.scheduling.availability import slot_open_clause

    found = await session.execute(
        select(exists().where(AvailableSlot.id == slot_id, slot_open_clause(now)))
    )
    return bool(found.scalar())


def keep_seat(session: AsyncSession, booking: Booking, patient_id: int, expires: datetime) -> Hold:
    """The hold that keeps the request's seat (flushed with the booking)."""
    hold = Hold(
        available_slot_id=booking.available_slot_id,
        patient_id=patient_id,
        status=HoldStatus.HELD,
        expires_at=expires,
        booking_id=booking.id,
        created_at=booking.created_at,
        updated_at=booking.created_at,
    )
    session.add(hold)
    return hold


async def _settle(
    session: AsyncSession, booking_id: int, target: BookingStatus, now: datetime
) -> Booking:
    """Compare-and-set a pending, unexpired booking to ``target``; 409 if it is not one."""
    result = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking_id,
            Booking.status == BookingStatus.PENDING,
            Booking.pending_expires_at > now,
        )
        .values(status=target, updated_at=now)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is None:
        if await session.get(Booking, booking_id) is None:
            raise NotFound()
        raise BookingNotPending()
    audit.record(session, audit.UPDATE, "booking", [booking_id], ["status"])
    booking = (
        await session.execute(
            select(Booking)
            .where(Booking.id == booking_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    slot = await session.get(AvailableSlot, booking.available_slot_id, populate_existing=True)
    assert slot is not None
    set_committed_value(booking, "slot", slot)
    hold_status = HoldStatus.BOOKED if target is BookingStatus.CONFIRMED else HoldStatus.RELEASED
    held = await session.execute(
        update(Hold)
        .where(Hold.booking_id == booking_id, Hold.status == HoldStatus.HELD)
        .values(status=hold_status, updated_at=now)
        .returning(Hold.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, audit.UPDATE, "hold", list(held.scalars()), ["status"])
    return booking


async def confirm_booking(
    session: AsyncSession, booking_id: int, *, now: datetime | None = None
) -> Booking:
    """pending → confirmed: the request's seat becomes a booked one (409 if not pending)."""
    async with write_transaction(session):
        moment = now or now_utc()
        booking = await _settle(session, booking_id, BookingStatus.CONFIRMED, moment)
        slot = booking.slot
        await session.execute(
            update(AvailableSlot.__table__)  # type: ignore[arg-type]
            .where(AvailableSlot.id == slot.id)
            .values(booked_count=AvailableSlot.booked_count + 1, updated_at=moment)
        )
        set_committed_value(slot, "booked_count", slot.booked_count + 1)
        audit.record(session, audit.UPDATE, "available_slot", [slot.id], ["booked_count"])
        events.booking_event(session, events.BOOKING_CONFIRMED, booking, slot)
    return booking


async def decline_booking(
    session: AsyncSession, booking_id: int, *, now: datetime | None = None
) -> Booking:
    """pending → declined: the seat is freed at once (409 if not pending)."""
    async with write_transaction(session):
        moment = now or now_utc()
        booking = await _settle(session, booking_id, BookingStatus.DECLINED, moment)
        seat_watch.seats_opened(session, [booking.available_slot_id])
        events.booking_event(session, events.BOOKING_DECLINED, booking, booking.slot)
    return booking


_EXPIRED_REQUEST = (
    select(Booking.id)
    .where(
        Booking.status == BookingStatus.PENDING,
        Booking.pending_expires_at <= bindparam("expired_at", type_=UTCDateTime()),
    )
    .limit(1)
)


async def expire_requests(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Write ``expired`` on requests past ``pending_expires_at`` and announce each.

    Readers never need it (a request stops counting at its expiry); it tells subscribers
    and webhooks. Concurrent sweeps mark each request once (the update re-checks).
    """
    moment = now or now_utc()
    if not await read_rows(session, _EXPIRED_REQUEST, {"expired_at": moment}):
        return 0
    async with write_transaction(session):
        rows = await session.execute(
            update(Booking)
            .where(Booking.status == BookingStatus.PENDING, Booking.pending_expires_at <= moment)
            .values(status=BookingStatus.EXPIRED, updated_at=moment)
            .returning(Booking.id, Booking.available_slot_id)
            .execution_options(synchronize_session=False)
        )
        expired = rows.tuples().all()
        if not expired:
            return 0
        audit.record(session, audit.UPDATE, "booking", [row[0] for row in expired], ["status"])
        slots = {
            slot.id: slot
            for slot in (
                await session.scalars(
                    select(AvailableSlot).where(AvailableSlot.id.in_({row[1] for row in expired}))
                )
            ).all()
        }
        for booking_id, slot_id in expired:
            slot = slots[slot_id]
            events.record_event(
                session,
                type=events.BOOKING_EXPIRED,
                provider_id=slot.provider_id,
                slot_id=slot.id,
                booking_id=booking_id,
                start_time=slot.start_time,
                end_time=slot.end_time,
            )
        # Their holds stopped counting at the same moment; a later sweep marks them.
        seat_watch.seats_opened(session, slots)
    return len(expired)
