"""What a slot's state is called where the outside world sees it (calendar feed, FHIR)."""

from __future__ import annotations

from dataclasses import dataclass

FREE, BUSY, BUSY_UNAVAILABLE = "free", "busy", "busy-unavailable"


@dataclass(frozen=True, slots=True)
class SlotState:
    # "Open", "Booked 1 of 1", "Closed": the calendar's SUMMARY.
    label: str
    # FHIR Slot.status: free, busy or busy-unavailable.
    fhir_status: str
    # Calendar TRANSP: booked time is OPAQUE (busy), the rest TRANSPARENT.
    busy: bool


def slot_state(*, available: bool, booked: int, capacity: int = 1) -> SlotState:
    """The one place a slot's state is named; ``capacity`` is 1 until slots hold more."""
    if booked > 0:
        status = BUSY if booked >= capacity or not available else FREE
        return SlotState(f"Booked {booked} of {capacity}", status, busy=True)
    if not available:
        return SlotState("Closed", BUSY_UNAVAILABLE, busy=False)
    return SlotState("Open", FREE, busy=False)
