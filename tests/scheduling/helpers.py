"""Shared steps of the scheduling tests (capacity, holds, time off, booking rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.factories import BASE, iso

HOLDS = f"{BASE}/holds"
TIME_OFFS = f"{BASE}/time_offs"
NOT_AVAILABLE = {"errors": "Slot is not available"}


def hold_body(slot_id: Any, patient_id: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"available_slot_id": slot_id, **fields}
    if patient_id is not None:
        body["patient_id"] = patient_id
    return {"hold": body}


def time_off_body(
    provider_id: Any, start: datetime, end: datetime, reason: str | None = None
) -> dict[str, Any]:
    return {
        "time_off": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(end),
            "reason": reason,
        }
    }


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
