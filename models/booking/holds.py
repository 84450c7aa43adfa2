"""Holds: a seat kept for a few minutes while a patient fills in a form.

A hold takes a seat until it expires, is released or becomes a booking (models.booking.bookings,
``hold_id``). Taking one runs like a booking's seat claim: the slot row is locked first
(PostgreSQL; SQLite serialises write transactions), then the free seats are counted in a
fresh statement, so two holds never share the last seat. A row still ``held`` past its
``expires_at`` is expired for every reader (models.scheduling.availability compares the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.booking import waitlist
from models.booking.resources import give_back_unused, take_resource
from models.platform import events, seat_watch
from models.platform.base import UTCDateTime
from models.platform.db import read_rows, write_transaction
from models.platform.entities import AvailableSlot, Hold, HoldStatus, Patient
from models.platform.errors import Conflict, FieldErrors, NotFound, SlotNotAvailable
from models.platform.field_checks import bounded_whole, enum_field, id_field
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import now_utc
from models.scheduling.availability import hold_is_active, slot_open_clause

DEFAULT_SECONDS = 300
MIN_SECONDS = 30
MAX_SECONDS = 3600


class HoldAlreadyBooked(Conflict):
    message = "Hold has become a booking"


@dataclass(slots=True)
class HoldInput:
    available_slot_id: Any = None
    patient_id: Any = None
    duration_seconds: Any = None


@dataclass(frozen=True, slots=True)
class HoldFilters:
    available_slot_id: int | None = None
    patient_id: int | None = None
    status: HoldStatus | None = None


def status_at(hold: Hold, now: datetime) -> HoldStatus:
    """The hold's status as every reader sees it: ``held`` turns ``expired`` at expiry."""
    if hold.status is HoldStatus.HELD and hold.expires_at <= now:
        return HoldStatus.EXPIRED
    return hold.status


def check_status(errors: FieldErrors, value: Any) -> HoldStatus | None:
    return enum_field(errors, value, HoldStatus)


async def create_hold(
    session: AsyncSession, data: HoldInput, *, now: datetime | None = None
) -> Hold:
    """Keep a seat: 422 on bad fields, 409 "Slot is not available" when none is free."""
    errors = FieldErrors()
    slot_id = id_field(errors, "available_slot_id", data.available_slot_id, required=True, lowest=0)
    patient_id = id_field(errors, "patient_id", data.patient_id, required=False, lowest=0)
    seconds = bounded_whole(
        errors,
        "duration_seconds",
        data.duration_seconds,
        default=DEFAULT_SECONDS,
        lowest=MIN_SECONDS,
        highest=MAX_SECONDS,
    )
    async with write_transaction(session):
        moment = now or now_utc()
        slot = None
        if slot_id is not None:
            slot = (
                await session.execute(
                    select(AvailableSlot)
                    .where(AvailableSlot.id == slot_id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if slot is None:
                errors.add("available_slot_id", "must exist")
            elif slot.start_time <= moment:
                errors.add("available_slot_id", "has already started")
        if patient_id is not None:
            patient = await session.get(Patient, patient_id)
            if patient is None:
                errors.add("patient_id", "must exist")
            elif not patient.active:
                errors.add("patient_id", "is inactive")
        errors.raise_if_any()
        # A fresh statement after the lock: it sees the seats the previous holder took.
        free = await session.execute(
            select(exists().where(AvailableSlot.id == slot_id, slot_open_clause(moment)))
        )
        if not free.scalar():
            raise SlotNotAvailable()
        assert slot is not None
        resource_id = await take_resource(session, slot, moment)
        hold = Hold(
            available_slot_id=slot_id,
            patient_id=patient_id,
            status=HoldStatus.HELD,
            expires_at=moment + timedelta(seconds=seconds),
            created_at=moment,
            updated_at=moment,
            resource_id=resource_id,
        )
        session.add(hold)
        await session.flush()
        _hold_event(session, events.HOLD_CREATED, hold, slot)
    return hold


def _hold_event(session: AsyncSession, type: str, hold: Hold, slot: AvailableSlot) -> None:
    events.record_event(
        session,
        type=type,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        hold_id=hold.id,
        start_time=slot.start_time,
        end_time=slot.end_time,
    )


async def get_hold(session: AsyncSession, hold_id: int) -> Hold:
    hold = (
        await session.execute(
            select(Hold).where(Hold.id == hold_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if hold is None:
        raise NotFound()
    return hold


async def release_hold(session: AsyncSession, hold_id: int, *, now: datetime | None = None) -> None:
    """Free the seat (204); releasing a released or expired hold changes nothing; 409 if booked."""
    async with write_transaction(session):
        moment = now or now_utc()
        # The slot's lock first, as bookings take it, then the hold's.
        slot_id = (
            await session.execute(select(Hold.available_slot_id).where(Hold.id == hold_id))
        ).scalar()
        if slot_id is not None:
            await session.get(AvailableSlot, slot_id, with_for_update=True)
        hold = await session.get(Hold, hold_id, with_for_update=True, populate_existing=True)
        if hold is None:
            raise NotFound()
        current = status_at(hold, moment)
        # A booking request's hold goes with the request (confirm or decline it).
        if current is HoldStatus.BOOKED or (current is HoldStatus.HELD and hold.booking_id):
            raise HoldAlreadyBooked()
        announce = None
        if current is HoldStatus.HELD:
            hold.status = HoldStatus.RELEASED
            hold.updated_at = moment
            announce = events.HOLD_RELEASED
            seat_watch.seats_opened(session, [hold.available_slot_id])
        elif current is HoldStatus.EXPIRED and hold.status is HoldStatus.HELD:
            hold.status = HoldStatus.EXPIRED
            hold.updated_at = moment
            announce = events.HOLD_EXPIRED
        await session.flush()
        if announce is not None:
            # An offer from the waitlist that was not taken lapses.
            await waitlist.holds_ended(session, [hold.id])
            slot = await session.get(AvailableSlot, hold.available_slot_id, populate_existing=True)
            assert slot is not None
            await give_back_unused(session, [slot], moment)
            _hold_event(session, announce, hold, slot)


_EXPIRED_HOLD = (
    select(Hold.id)
    .where(
        Hold.status == HoldStatus.HELD,
        Hold.expires_at <= bindparam("expired_at", type_=UTCDateTime()),
    )
    .limit(1)
)


async def expire_holds(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Mark the holds past ``expires_at`` expired and announce each; returns how many.

    Readers never need this (an expired hold stops counting at ``expires_at``); it tells
    subscribers and webhooks. Concurrent sweeps (several processes) mark each hold once:
    the second update finds it no longer held.
    """
    moment = now or now_utc()
    # A read first (no transaction, no write lock): most sweeps find nothing to mark, and
    # on SQLite a write transaction every interval would queue behind real writers.
    due = await read_rows(session, _EXPIRED_HOLD, {"expired_at": moment})
    if not due:
        return 0
    async with write_transaction(session):
        rows = await session.execute(
            update(Hold)
            .where(Hold.status == HoldStatus.HELD, Hold.expires_at <= moment)
            .values(status=HoldStatus.EXPIRED, updated_at=moment)
            .returning(Hold.id, Hold.available_slot_id)
            .execution_options(synchronize_session=False)
        )
        expired = rows.tuples().all()
        if not expired:
            return 0
        slots = {
            slot.id: slot
            for slot in (
                await session.scalars(
                    select(AvailableSlot)
                    .where(AvailableSlot.id.in_({slot_id for _hold, slot_id in expired}))
                    .execution_options(populate_existing=True)
                )
            ).all()
        }
        await give_back_unused(session, slots.values(), moment)
        # Their seats go to the waitlist before this commits (models.booking.waitlist).
        seat_watch.seats_opened(session, slots)
        await waitlist.holds_ended(session, [hold_id for hold_id, _slot in expired])
        for hold_id, slot_id in expired:
            slot = slots[slot_id]
            events.record_event(
                session,
                type=events.HOLD_EXPIRED,
                provider_id=slot.provider_id,
                slot_id=slot.id,
                hold_id=hold_id,
                start_time=slot.start_time,
                end_time=slot.end_time,
            )
    return len(expired)


def _conditions(filters: HoldFilters, now: datetime) -> list[Any]:
    conditions: list[Any] = []
    if filters.available_slot_id is not None:
        conditions.append(Hold.available_slot_id == filters.available_slot_id)
    if filters.patient_id is not None:
        conditions.append(Hold.patient_id == filters.patient_id)
    if filters.status is HoldStatus.HELD:
        conditions.append(hold_is_active(now))
    elif filters.status is HoldStatus.EXPIRED:
        conditions.append(
            or_(
                Hold.status == HoldStatus.EXPIRED,
                (Hold.status == HoldStatus.HELD) & (Hold.expires_at <= now),
            )
        )
    elif filters.status is not None:
        conditions.append(Hold.status == filters.status)
    return conditions


async def list_holds(
    session: AsyncSession,
    filters: HoldFilters,
    *,
    page: PageRequest,
    now: datetime | None = None,
    before_id: int | None = None,
    backward: bool = False,
) -> Page[Hold]:
    """Holds, newest first; ``before_id`` continues after a cursor instead of the offset.

    ``backward`` reads the other way: oldest first, ids above ``before_id``.
    """
    conditions = _conditions(filters, now or now_utc())
    total = (
        await session.execute(select(func.count()).select_from(Hold).where(*conditions))
    ).scalar_one()
    stmt = (
        select(Hold)
        .where(*conditions)
        .order_by(*keyset_order((Hold.id,), backward=not backward))
        .limit(page.page_size)
        .execution_options(populate_existing=True)
    )
    if before_id is not None:
        stmt = stmt.where(keyset_past((Hold.id,), (before_id,), backward=not backward))
    else:
        stmt = stmt.offset(page.offset)
    items = list((await session.execute(stmt)).scalars())
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)
