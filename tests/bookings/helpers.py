"""Shared steps of the booking tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.entities import AvailableSlot, Booking

BOOK_KEYS = [
    "id",
    "available_slot_id",
    "patient_id",
    "appointment_type",
    "notes",
    "status",
    "created_at",
    "updated_at",
    # Additive keys after the documented ones: where a reschedule moved the booking from.
    "rescheduled_from_slot_id",
    "reschedule_count",
    # The resource (a room) the booking's slot took for it.
    "resource_id",
    # A booking request's expiry (null for other bookings).
    "pending_expires_at",
]
LIST_KEYS = [key for key in BOOK_KEYS if key != "notes"]


def book_body(slot_id: Any, patient_id: Any, **fields: Any) -> dict[str, Any]:
    return {"book": {"available_slot_id": slot_id, "patient_id": patient_id, **fields}}


async def move_slot_to_past(session: AsyncSession, slot_id: int, *, hours_ago: int = 2) -> None:
    """Put a slot's start behind us, past the API's own rules, as time passing would."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    await session.execute(
        update(AvailableSlot)
        .where(AvailableSlot.id == slot_id)
        .values(start_time=start, end_time=start + timedelta(hours=1), duration_minutes=60)
    )
    await session.commit()


async def stored_slot(session: AsyncSession, slot_id: int) -> AvailableSlot:
    """The slot as the database holds it now; it must exist."""
    await session.rollback()
    slot = await session.get(AvailableSlot, slot_id, populate_existing=True)
    assert slot is not None
    return slot


async def stored_booking(session: AsyncSession, booking_id: int) -> Booking:
    """The booking as the database holds it now; it must exist."""
    await session.rollback()
    booking = await session.get(Booking, booking_id, populate_existing=True)
    assert booking is not None
    return booking
