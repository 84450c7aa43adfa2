"""The documented legacy JSON shapes, built straight from the rows."""

from __future__ import annotations

from typing import Any

from models.booking.requests import status_at
from models.platform.timeutil import format_timestamp, now_utc


def provider_json(provider: Any) -> dict[str, Any]:
    return {"id": provider.id, "first_name": provider.first_name, "last_name": provider.last_name}


def slot_json(slot: Any) -> dict[str, Any]:
    """The documented Available Slot Response, nested provider included.

    ``slot`` is a slot read row (``models.scheduling.slots.SLOT_COLUMNS``) or a slot entity.
    """
    return {
        "id": slot.id,
        "provider_id": slot.provider_id,
        "start_time": format_timestamp(slot.start_time),
        "end_time": format_timestamp(slot.end_time),
        "appointment_type": slot.appointment_type,
        "available": slot.available,
        "recurring": slot.recurring,
        "recurrence_pattern": slot.recurrence_pattern,
        "created_at": format_timestamp(slot.created_at),
        "updated_at": format_timestamp(slot.updated_at),
        "provider": {
            "id": slot.provider_id,
            "first_name": slot.provider_first_name,
            "last_name": slot.provider_last_name,
        },
        "capacity": slot.capacity,
        "booked_count": slot.booked_count,
        "resource_kind": slot.resource_kind,
        "resource_id": slot.resource_id,
    }


def book_json(booking: Any, *, include_notes: bool = True) -> dict[str, Any]:
    """The documented Book Response; without ``include_notes`` the ``notes`` key is left out.

    ``booking`` is a booking read row or a booking entity.
    """
    body: dict[str, Any] = {
        "id": booking.id,
        "available_slot_id": booking.available_slot_id,
        "patient_id": booking.patient_id,
        "appointment_type": booking.appointment_type,
    }
    if include_notes:
        body["notes"] = booking.notes
    body["status"] = str(status_at(booking, now_utc()))
    body["created_at"] = format_timestamp(booking.created_at)
    body["updated_at"] = format_timestamp(booking.updated_at)
    body["rescheduled_from_slot_id"] = booking.rescheduled_from_slot_id
    body["reschedule_count"] = booking.reschedule_count
    body["resource_id"] = booking.resource_id
    expires = booking.pending_expires_at
    body["pending_expires_at"] = None if expires is None else format_timestamp(expires)
    return body
