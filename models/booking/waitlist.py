"""Waitlists: patients waiting for a seat; a seat that opens is offered through a hold.

An entry asks for a seat of a provider (or any), an appointment type (or any), on clinic
days ``start_date``..``end_date``. When a matching seat opens, the earliest waiting entry
(first come, first served) whose patient holds no other offer gets a hold on it for
``offer_seconds`` and becomes ``offered`` (event ``waitlist.offered``: entry, hold and slot
ids). Booking with that hold fulfils the entry; if the hold expires or is released the
entry lapses and the seat goes to the next matching entry.

Offers are made by :func:`offer_freed_seats`, run just before the commit of every write
transaction that freed a seat (``models.platform.seat_watch``): the cancellation, decline,
reschedule or hold release in the request's own transaction, the hold sweeper's for what
time frees. It locks the slots (ids in order), then takes the waitlist's one lock
(PostgreSQL: a transaction advisory lock; SQLite serialises writers anyway), so offers
are made one transaction at a time: a seat goes to one entry, an entry gets one offer,
a patient holds one offer at a time, whatever number of processes and sweepers run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.booking.resources import take_resource
from models.platform import audit, events, seat_watch
from models.platform.base import UTCDateTime, utcnow
from models.platform.db import write_transaction
from models.platform.driver_writes import WritePlan
from models.platform.entities import (
    AvailableSlot,
    Booking,
    Hold,
    HoldStatus,
    Patient,
    Provider,
    WaitlistEntry,
    WaitlistStatus,
)
from models.platform.errors import FieldErrors, NoResourceAvailable, NotFound
from models.platform.field_checks import bounded_whole, enum_field, id_field
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import day_end, day_start, now_utc
from models.scheduling.appointment_types import check_appointment_type
from models.scheduling.availability import (
    booking_is_active,
    hold_is_active,
    slot_bookable_clause,
)
from models.scheduling.booking_rules import rule_conditions
from models.scheduling.provider_matching import offers_type
from models.scheduling.slots import check_filters

DEFAULT_OFFER_SECONDS = 900
MIN_OFFER_SECONDS = 60
MAX_OFFER_SECONDS = 86_400
MAX_RANGE_DAYS = 366
# PostgreSQL: the transaction advisory lock under which offers are made.
OFFER_LOCK_KEY = 210_406
# Offers one transaction makes on one slot at most (its capacity bounds it anyway).
MAX_OFFERS_PER_SLOT = 100


@dataclass(slots=True)
class WaitlistInput:
    patient_id: Any = None
    provider_id: Any = None
    appointment_type: Any = None
    start_date: Any = None
    end_date: Any = None
    offer_seconds: Any = None


@dataclass(frozen=True, slots=True)
class WaitlistFilters:
    patient_id: int | None = None
    provider_id: int | None = None
    status: WaitlistStatus | None = None


def check_status(errors: FieldErrors, value: Any) -> WaitlistStatus | None:
    return enum_field(errors, value, WaitlistStatus)


async def create_entry(
    session: AsyncSession, data: WaitlistInput, *, zone: ZoneInfo, now: datetime | None = None
) -> WaitlistEntry:
    """Put a patient on the waitlist (422 on bad fields). Seats open now are not offered:
    the entry waits for the next seat that opens."""
    errors = FieldErrors()
    patient_id = id_field(errors, "patient_id", data.patient_id, required=True)
    provider_id = id_field(errors, "provider_id", data.provider_id, required=False)
    for name in ("start_date", "end_date"):
        if getattr(data, name) is None:
            errors.add(name, "can't be blank")
    start, end = check_filters(
        errors, start_date=data.start_date, end_date=data.end_date, max_range_days=MAX_RANGE_DAYS
    )
    seconds = bounded_whole(
        errors,
        "offer_seconds",
        data.offer_seconds,
        default=DEFAULT_OFFER_SECONDS,
        lowest=MIN_OFFER_SECONDS,
        highest=MAX_OFFER_SECONDS,
    )
    await check_appointment_type(session, errors, data.appointment_type)
    async with write_transaction(session):
        moment = now or now_utc()
        if end is not None and day_end(end, zone) <= moment:
            errors.add("end_date", "must not be in the past")
        if patient_id is not None:
            patient = await session.get(Patient, patient_id)
            if patient is None:
                errors.add("patient_id", "must exist")
            elif not patient.active:
                errors.add("patient_id", "is inactive")
        if provider_id is not None and await session.get(Provider, provider_id) is None:
            errors.add("provider_id", "must exist")
        errors.raise_if_any()
        assert patient_id is not None and start is not None and end is not None
        entry = WaitlistEntry(
            patient_id=patient_id,
            provider_id=provider_id,
            appointment_type=data.appointment_type,
            start_date=start,
            end_date=end,
            window_start=day_start(start, zone),
            window_end=day_end(end, zone),
            offer_seconds=seconds,
            status=WaitlistStatus.WAITING,
            offer_count=0,
            created_at=moment,
            updated_at=moment,
        )
        session.add(entry)
        await session.flush()
    return entry


async def get_entry(session: AsyncSession, entry_id: int) -> WaitlistEntry:
    entry = (
        await session.execute(
            select(WaitlistEntry)
            .where(WaitlistEntry.id == entry_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound()
    return entry


async def list_entries(
    session: AsyncSession,
    filters: WaitlistFilters,
    *,
    page: PageRequest,
    after_id: int | None = None,
    backward: bool = False,
) -> Page[WaitlistEntry]:
    """Entries in queue order (first come first); ``after_id`` continues after a cursor
    instead of the offset, ``backward`` reads the other way (ids below it, latest first)."""
    conditions: list[Any] = []
    if filters.patient_id is not None:
        conditions.append(WaitlistEntry.patient_id == filters.patient_id)
    if filters.provider_id is not None:
        conditions.append(WaitlistEntry.provider_id == filters.provider_id)
    if filters.status is not None:
        conditions.append(WaitlistEntry.status == filters.status)
    total = (
        await session.execute(select(func.count()).select_from(WaitlistEntry).where(*conditions))
    ).scalar_one()
    stmt = (
        select(WaitlistEntry)
        .where(*conditions)
        .order_by(*keyset_order((WaitlistEntry.id,), backward=backward))
        .limit(page.page_size)
        .execution_options(populate_existing=True)
    )
    if after_id is not None:
        stmt = stmt.where(keyset_past((WaitlistEntry.id,), (after_id,), backward=backward))
    else:
        stmt = stmt.offset(page.offset)
    items = list((await session.execute(stmt)).scalars())
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


async def cancel_entry(
    session: AsyncSession, entry_id: int, *, now: datetime | None = None
) -> WaitlistEntry:
    """Take the entry off the waitlist; an offer it holds is released and passes on."""
    for _attempt in range(5):
        seen = await get_entry(session, entry_id)
        offered_slot = seen.offered_slot_id if seen.status is WaitlistStatus.OFFERED else None
        async with write_transaction(session):
            moment = now or now_utc()
            # The offer's slot first, then the waitlist's lock: the order offers take.
            await _lock_for_offers(session, [] if offered_slot is None else [offered_slot])
            entry = await session.get(
                WaitlistEntry, entry_id, with_for_update=True, populate_existing=True
            )
            if entry is None:
                raise NotFound()
            if entry.status is WaitlistStatus.OFFERED and entry.offered_slot_id != offered_slot:
                continue  # offered another seat meanwhile: start again with its slot
            if entry.status in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED):
                if entry.status is WaitlistStatus.OFFERED and entry.hold_id is not None:
                    await _release_offer(session, entry, moment)
                entry.status = WaitlistStatus.CANCELLED
                entry.updated_at = moment
                await session.flush()
            return entry
    raise NotFound()  # pragma: no cover - an entry offered five new seats in a row


async def _release_offer(session: AsyncSession, entry: WaitlistEntry, now: datetime) -> None:
    released = await session.execute(
        update(Hold)
        .where(Hold.id == entry.hold_id, Hold.status == HoldStatus.HELD, Hold.expires_at > now)
        .values(status=HoldStatus.RELEASED, updated_at=now)
        .returning(Hold.available_slot_id)
        .execution_options(synchronize_session=False)
    )
    slot_id = released.scalar()
    if slot_id is None:
        return
    assert entry.hold_id is not None
    audit.record(session, audit.UPDATE, "hold", [entry.hold_id], ["status"])
    slot = await session.get(AvailableSlot, slot_id)
    assert slot is not None
    events.record_event(
        session,
        type=events.HOLD_RELEASED,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        hold_id=entry.hold_id,
        start_time=slot.start_time,
        end_time=slot.end_time,
    )
    seat_watch.seats_opened(session, [slot_id])


async def hold_booked(session: AsyncSession, hold_id: int) -> None:
    """A booking used this hold: the entry it was offered to is fulfilled."""
    await _offer_ended(session, [hold_id], WaitlistStatus.FULFILLED)


async def holds_ended(session: AsyncSession, hold_ids: list[int]) -> None:
    """These holds were released or expired: the entries they were offered to lapse (the
    seats themselves pass on through ``seat_watch``)."""
    await _offer_ended(session, hold_ids, WaitlistStatus.LAPSED)


async def _offer_ended(session: AsyncSession, hold_ids: list[int], status: WaitlistStatus) -> None:
    if not hold_ids:
        return
    result = await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.hold_id.in_(hold_ids), WaitlistEntry.status == WaitlistStatus.OFFERED)
        .values(status=status, updated_at=now_utc())
        .returning(WaitlistEntry.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, audit.UPDATE, "waitlist_entry", list(result.scalars()), ["status"])


async def _lock_for_offers(session: AsyncSession, slot_ids: list[int]) -> None:
    """The slots (in id order), then the waitlist's one lock (PostgreSQL)."""
    if slot_ids:
        await session.execute(
            select(AvailableSlot.id)
            .where(AvailableSlot.id.in_(sorted(set(slot_ids))))
            .order_by(AvailableSlot.id)
            .with_for_update()
        )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OFFER_LOCK_KEY})


_HOLD = aliased(Hold)
_OFFER_ACTIVE = (
    select(_HOLD.id)
    .where(_HOLD.id == WaitlistEntry.hold_id, _HOLD.status == HoldStatus.HELD)
    .correlate(WaitlistEntry)
)


async def _settle_offers(session: AsyncSession, now: datetime) -> None:
    """Offers whose hold became a booking are fulfilled; those whose hold expired or was
    released lapse (their patients may be offered another seat)."""
    booked = select(Hold.id).where(Hold.status == HoldStatus.BOOKED)
    done = await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.hold_id.in_(booked))
        .values(status=WaitlistStatus.FULFILLED, updated_at=now)
        .returning(WaitlistEntry.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, audit.UPDATE, "waitlist_entry", list(done.scalars()), ["status"])
    active = select(Hold.id).where(Hold.status == HoldStatus.HELD, Hold.expires_at > now)
    lapsed = await session.execute(
        update(WaitlistEntry)
        .where(
            WaitlistEntry.status == WaitlistStatus.OFFERED,
            or_(WaitlistEntry.hold_id.is_(None), WaitlistEntry.hold_id.not_in(active)),
        )
        .values(status=WaitlistStatus.LAPSED, updated_at=now)
        .returning(WaitlistEntry.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, audit.UPDATE, "waitlist_entry", list(lapsed.scalars()), ["status"])


def _bookable_for_entry(slot_id: int, now: datetime) -> ColumnElement[bool]:
    """The slot could be booked for the entry now under the provider's rules, as booking
    with the offered hold checks them (notice, window, caps, buffers: the type's where it
    sets them), and the provider offers the type. The type is the entry's, else the
    slot's (what a booking with the hold carries)."""
    kind = func.coalesce(WaitlistEntry.appointment_type, AvailableSlot.appointment_type)
    return exists(
        select(AvailableSlot.id)
        .join(Provider, Provider.id == AvailableSlot.provider_id)
        .where(
            AvailableSlot.id == slot_id,
            or_(kind.is_(None), offers_type(Provider.appointment_type_keys, kind)),
            rule_conditions(now, type_key=kind),
        )
    )


def _next_entry(slot: Any, now: datetime) -> Any:
    """The earliest waiting entry the slot matches whose patient holds no offer, has no
    seat on the slot already, and is active, for whom the booking rules let the seat be
    booked."""
    other = aliased(WaitlistEntry)
    return (
        select(WaitlistEntry)
        .join(Patient, Patient.id == WaitlistEntry.patient_id)
        .where(
            WaitlistEntry.status == WaitlistStatus.WAITING,
            WaitlistEntry.window_start <= slot.start_time,
            WaitlistEntry.window_end > slot.start_time,
            or_(WaitlistEntry.provider_id.is_(None), WaitlistEntry.provider_id == slot.provider_id),
            or_(
                WaitlistEntry.appointment_type.is_(None),
                WaitlistEntry.appointment_type == slot.appointment_type,
            ),
            Patient.active.is_(True),
            ~exists().where(
                other.patient_id == WaitlistEntry.patient_id,
                other.status == WaitlistStatus.OFFERED,
            ),
            ~exists().where(
                Booking.available_slot_id == slot.id,
                Booking.patient_id == WaitlistEntry.patient_id,
                booking_is_active(now),
            ),
            ~exists().where(
                Hold.available_slot_id == slot.id,
                Hold.patient_id == WaitlistEntry.patient_id,
                hold_is_active(now),
            ),
            _bookable_for_entry(slot.id, now),
        )
        .order_by(WaitlistEntry.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def _open_slot(session: AsyncSession, slot_id: int, now: datetime) -> AvailableSlot | None:
    """The slot if it takes a hold now (a fresh read: seats, time off, closed, future, a
    free resource where it needs one)."""
    return (
        await session.execute(
            select(AvailableSlot)
            .where(AvailableSlot.id == slot_id, AvailableSlot.start_time > now)
            .where(slot_bookable_clause(now))
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def _offer(
    session: AsyncSession, entry: WaitlistEntry, slot: AvailableSlot, now: datetime
) -> bool:
    """Hold the seat for the entry; False (nothing written) when the slot's resource kind
    has none free after all."""
    try:
        # The hold keeps the slot's resource as any hold does, so booking with it needs none.
        resource_id = await take_resource(session, slot, now)
    except NoResourceAvailable:
        return False
    hold = Hold(
        available_slot_id=slot.id,
        patient_id=entry.patient_id,
        status=HoldStatus.HELD,
        expires_at=now + timedelta(seconds=entry.offer_seconds),
        created_at=now,
        updated_at=now,
        resource_id=resource_id,
    )
    session.add(hold)
    await session.flush()
    entry.status = WaitlistStatus.OFFERED
    entry.hold_id = hold.id
    entry.offered_slot_id = slot.id
    entry.offer_count = entry.offer_count + 1
    entry.updated_at = now
    await session.flush()
    events.record_event(
        session,
        type=events.HOLD_CREATED,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        hold_id=hold.id,
        start_time=slot.start_time,
        end_time=slot.end_time,
    )
    # Ids only: the entry, the hold and the slot (and the provider every event names).
    events.record_event(
        session,
        type=events.WAITLIST_OFFERED,
        provider_id=slot.provider_id,
        slot_id=slot.id,
        hold_id=hold.id,
        waitlist_entry_id=entry.id,
    )
    return True


def _wanted(slot_test: Any) -> Select[Any]:
    """Slots passing ``slot_test``, open now, that some waiting entry matches."""
    entry = WaitlistEntry
    matching = exists().where(
        entry.status == WaitlistStatus.WAITING,
        entry.window_start <= AvailableSlot.start_time,
        entry.window_end > AvailableSlot.start_time,
        or_(entry.provider_id.is_(None), entry.provider_id == AvailableSlot.provider_id),
        or_(
            entry.appointment_type.is_(None),
            entry.appointment_type == AvailableSlot.appointment_type,
        ),
    )
    return (
        select(AvailableSlot.id)
        .where(slot_test, AvailableSlot.start_time > _WANTED_NOW, slot_bookable_clause(), matching)
        .order_by(AvailableSlot.id)
    )


# Built once: the same name as slot_bookable_clause's instant, given at execution.
_WANTED_NOW = bindparam("availability_now", callable_=utcnow, type_=UTCDateTime())
_WANTED_SLOTS = _wanted(AvailableSlot.id.in_(bindparam("wanted_ids", expanding=True)))
# One slot (``wanted_id``) at ``availability_now``: a writer that frees a seat may run it
# among its own statements and name the slot to ``seat_watch`` only when it returns a row.
WANTED_SLOT = _wanted(AvailableSlot.id == bindparam("wanted_id"))


async def _wanted_slots(session: AsyncSession, slot_ids: list[int], now: datetime) -> list[int]:
    """Those of ``slot_ids`` open now that some waiting entry matches (one statement per
    chunk of ids; a bulk creation of slots costs no statement per slot)."""
    wanted: list[int] = []
    for start in range(0, len(slot_ids), 5000):
        chunk = slot_ids[start : start + 5000]
        rows = await session.execute(_WANTED_SLOTS, {"wanted_ids": chunk, "availability_now": now})
        wanted.extend(rows.scalars())
    return wanted


async def offer_freed_seats(
    session: AsyncSession, slot_ids: set[int] | list[int], *, now: datetime | None = None
) -> int:
    """Offer the free seats of ``slot_ids`` to matching waiting entries; how many offers.

    Runs inside the caller's write transaction (``seat_watch`` calls it before commit).
    """
    if not slot_ids:
        return 0
    moment = now or now_utc()
    # One statement, and nothing else when nobody waits for these slots.
    wanted = await _wanted_slots(session, sorted(slot_ids), moment)
    if not wanted:
        return 0
    # Slot locks before the waitlist's lock, always; nothing is locked after it but entries.
    await _lock_for_offers(session, wanted)
    await _settle_offers(session, moment)
    made = 0
    for slot_id in wanted:
        for _seat in range(MAX_OFFERS_PER_SLOT):
            slot = await _open_slot(session, slot_id, moment)
            if slot is None:
                break
            entry = (await session.execute(_next_entry(slot, moment))).scalar_one_or_none()
            if entry is None:
                break
            if not await _offer(session, entry, slot, moment):
                break
            made += 1
    return made


async def _on_seats_opened(session: AsyncSession, slot_ids: set[int]) -> None:
    await offer_freed_seats(session, slot_ids)


seat_watch.on_seats_opened(_on_seats_opened, probe=WritePlan(WANTED_SLOT))
