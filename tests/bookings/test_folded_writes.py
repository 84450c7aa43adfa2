"""The folded write path (models.booking.claims, driver_writes) against the full path.

A plain booking, reschedule and slot creation are written by a few folded statements;
what they store (rows, audit entries, events) and answer must be what the full path
stores and answers, and their statement count must not grow with the waitlist.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.booking.bookings import (
    BookingInput,
    RescheduleInput,
    create_booking,
    reschedule_booking,
)
from models.booking.waitlist import WaitlistInput, create_entry
from models.platform.entities import AuditEntry, Booking
from models.platform.event_tables import AvailabilityEvent
from models.scheduling.slots import SlotInput, create_single_slot
from tests.bookings.helpers import stored_booking, stored_slot
from tests.factories import future
from tests.statements import counted_statements

BOOKING_FIELDS = (
    "available_slot_id",
    "rescheduled_from_slot_id",
    "patient_id",
    "appointment_type",
    "notes",
    "status",
    "reschedule_count",
    "resource_id",
    "pending_expires_at",
    "cancellation_reason",
    "cancelled_at",
)


def statements(session: AsyncSession) -> AbstractContextManager[list[str]]:
    """The statements the session's engine runs inside the block (BEGIN aside)."""
    return counted_statements(session.bind, begin=False)


async def _trail(session: AsyncSession, after: int) -> list[tuple[str, str, list[str]]]:
    """The entries after ``after`` naming a record. (The full path's Core seat updates
    also pass the ORM's bulk hook, which adds an entry naming none: not compared.)"""
    await session.rollback()
    rows = await session.execute(
        select(AuditEntry)
        .where(AuditEntry.id > after, AuditEntry.entity_id.is_not(None))
        .order_by(AuditEntry.id)
    )
    return [(e.action, e.entity, list(e.changed_fields)) for e in rows.scalars()]


async def _last_audit(session: AsyncSession) -> int:
    await session.rollback()
    found = (await session.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc()))).first()
    return found[0] if found else 0


async def _events_after(session: AsyncSession, after: int) -> list[AvailabilityEvent]:
    await session.rollback()
    rows = await session.execute(
        select(AvailabilityEvent).where(AvailabilityEvent.id > after).order_by(AvailabilityEvent.id)
    )
    return list(rows.scalars())


async def _last_event(session: AsyncSession) -> int:
    found = await _events_after(session, 0)
    return found[-1].id if found else 0


async def _slot(session: AsyncSession, provider_id: int, hours: float, **fields: Any) -> Any:
    start = future(hours)
    data = SlotInput(
        provider_id=provider_id, start_time=start, end_time=start + timedelta(hours=1), **fields
    )
    return await create_single_slot(session, data)


def _shape(booking: Booking) -> dict[str, Any]:
    return {name: getattr(booking, name) for name in BOOKING_FIELDS}


def _same_kind(shape: dict[str, Any]) -> dict[str, Any]:
    """What two bookings of different slots have in common."""
    return {
        k: v for k, v in shape.items() if k not in ("available_slot_id", "rescheduled_from_slot_id")
    }


async def test_a_folded_booking_stores_and_answers_as_the_full_path(factory, session):
    provider = (await factory.provider()).id
    patient = (await factory.patient()).id
    folded_slot = await _slot(session, provider, 30, appointment_type="therapy")
    full_slot = await _slot(session, provider, 40, appointment_type="therapy")
    outcomes: list[tuple[dict[str, Any], list[Any], int]] = []
    for slot, full in ((folded_slot, False), (full_slot, True)):
        audit_mark, event_mark = await _last_audit(session), await _last_event(session)
        data = BookingInput(available_slot_id=slot.id, patient_id=patient, notes="n")
        with statements(session) as seen:
            booking = await create_booking(session, data, full=full)
        booking_id, shape = booking.id, _shape(booking)
        stored = await stored_booking(session, booking_id)
        assert _shape(stored) == shape
        assert (await stored_slot(session, slot.id)).booked_count == 1
        trail = await _trail(session, audit_mark)
        events = await _events_after(session, event_mark)
        assert [(e.type, e.slot_id, e.booking_id, e.provider_id) for e in events] == [
            ("booking.created", slot.id, booking_id, provider)
        ]
        assert (events[0].start_time, events[0].end_time) == (slot.start_time, slot.end_time)
        outcomes.append((shape, trail, len(seen)))
    (folded, folded_trail, folded_count), (whole, whole_trail, whole_count) = outcomes
    assert folded_trail == whole_trail, (folded_trail, whole_trail)
    assert _same_kind(folded) == _same_kind(whole)
    assert folded_count < whole_count


async def test_a_folded_move_stores_and_answers_as_the_full_path(factory, session):
    provider = (await factory.provider()).id
    other = (await factory.provider("Ann", "Lee")).id
    patient = (await factory.patient()).id
    outcomes: list[tuple[dict[str, Any], list[Any], int]] = []
    for hours, full in ((30, False), (60, True)):
        old = await _slot(session, provider, hours)
        new = await _slot(session, other, hours + 5)
        booked = await create_booking(
            session, BookingInput(available_slot_id=old.id, patient_id=patient), full=True
        )
        booked_id = booked.id
        audit_mark, event_mark = await _last_audit(session), await _last_event(session)
        with statements(session) as seen:
            moved = await reschedule_booking(
                session, booked_id, RescheduleInput(available_slot_id=new.id), full=full
            )
        assert (moved.id, moved.available_slot_id, moved.rescheduled_from_slot_id) == (
            booked_id,
            new.id,
            old.id,
        )
        shape = _shape(moved)
        assert _shape(await stored_booking(session, booked_id)) == shape
        assert (await stored_slot(session, old.id)).booked_count == 0
        assert (await stored_slot(session, new.id)).booked_count == 1
        events = await _events_after(session, event_mark)
        assert [(e.type, e.slot_id, e.previous_slot_id, e.booking_id) for e in events] == [
            ("booking.rescheduled", new.id, old.id, booked_id)
        ]
        outcomes.append((shape, await _trail(session, audit_mark), len(seen)))
    (folded, folded_trail, folded_count), (whole, whole_trail, whole_count) = outcomes
    assert folded_trail == whole_trail
    assert _same_kind(folded) == _same_kind(whole)
    assert folded_count < whole_count


async def test_a_folded_refusal_is_the_full_paths(factory, session):
    provider = (await factory.provider()).id
    first = (await factory.patient()).id
    second = (await factory.patient("Bo", "Ng")).id
    slot = await _slot(session, provider, 30)
    await create_booking(session, BookingInput(available_slot_id=slot.id, patient_id=first))
    mark = await _last_audit(session)
    for full in (False, True):
        data = BookingInput(available_slot_id=slot.id, patient_id=second)
        try:
            await create_booking(session, data, full=full)
        except Exception as exc:  # the same refusal, both ways
            assert type(exc).__name__ == "SlotNotAvailable"
        else:
            raise AssertionError("a full slot took a second booking")
    assert await _trail(session, mark) == []
    assert (await stored_slot(session, slot.id)).booked_count == 1


async def test_statements_do_not_grow_with_the_waitlist(factory, session):
    provider_id = (await factory.provider()).id
    # Waiting for days far from the seats below: they match none of them.
    later = date.today() + timedelta(days=60)
    counts: list[tuple[int, int, int]] = []
    for waiting in (0, 25):
        for index in range(waiting):
            await create_entry(
                session,
                WaitlistInput(
                    patient_id=(await factory.patient(f"W{index}", "Q")).id,
                    start_date=later,
                    end_date=later + timedelta(days=1),
                ),
                zone=ZoneInfo("UTC"),
            )
        patient = (await factory.patient()).id
        start = future(100 + 10 * len(counts))
        with statements(session) as created:
            slot = await create_single_slot(
                session,
                SlotInput(
                    provider_id=provider_id,
                    start_time=start,
                    end_time=future(101 + 10 * len(counts)),
                ),
            )
        other = await _slot(session, provider_id, 103 + 10 * len(counts))
        with statements(session) as booked:
            booking = await create_booking(
                session, BookingInput(available_slot_id=slot.id, patient_id=patient)
            )
        booking_id = booking.id
        with statements(session) as moved:
            await reschedule_booking(
                session, booking_id, RescheduleInput(available_slot_id=other.id)
            )
        counts.append((len(created), len(booked), len(moved)))
    assert counts[0] == counts[1]
