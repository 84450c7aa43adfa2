"""What a slot's state is called where the outside world sees it (calendar feed, FHIR)."""

from __future__ import annotations

from dataclasses import dataclass

FREE, BUSY, BUSY_UNAVAILABLE = "free", "busy", "busy-unavailable"


@dataclass(frozen=True, slots=True)
class SlotState:
    # "Open", "Booked 2 of 3", "Closed": the calendar's SUMMARY.
    label: str
    # FHIR Slot.status: free while a seat can be taken, busy when booked seats close it,
    # busy-unavailable when it is closed with none booked.
    fhir_status: str
    # Calendar TRANSP: OPAQUE exactly when the slot is busy; time with an open seat stays
    # TRANSPARENT, as does closed time nobody booked.
    busy: bool

    @property
    def published_status(self) -> str:
        """The status of SMART Scheduling Links bulk files, which know only free and busy."""
        return FREE if self.fhir_status == FREE else BUSY


def slot_state(*, available: bool, booked: int, capacity: int) -> SlotState:
    """The one place a slot's state is named.

    ``available`` is the slot's computed openness (no admin close, no time off, a free seat
    once holds are counted), ``booked`` its active bookings, ``capacity`` its seats.
    """
    if available:
        label = f"Booked {booked} of {capacity}" if booked else "Open"
        return SlotState(label, FREE, busy=False)
    if booked:
        return SlotState(f"Booked {booked} of {capacity}", BUSY, busy=True)
    return SlotState("Closed", BUSY_UNAVAILABLE, busy=False)
