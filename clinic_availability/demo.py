"""A small demo clinic to explore: providers, patients, a week of slots, an admin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from common.settings import Settings
from models import people
from models.bookings import BookingInput, create_booking
from models.entities import Patient, Role
from models.slots import SlotInput, SlotView, create_single_slot
from models.users import create_user

PROVIDERS = (
    ("Dr. Jane", "Smith", "America/New_York"),
    ("Dr. Omar", "Haddad", "Europe/London"),
    ("Dr. Mei", "Chen", "America/Los_Angeles"),
)
PATIENTS = (("Alex", "Rivera"), ("Sam", "Okafor"), ("Priya", "Nair"), ("Jordan", "Lee"))
TYPES = ("therapy", "consultation", "follow_up", "medication_review")


async def seed_demo(session: AsyncSession, settings: Settings) -> tuple[str, str]:
    """Creates the demo records; returns a summary line and a new admin token."""
    _admin, token = await create_user(
        session, role=Role.ADMIN, first_name="Demo", last_name="Admin"
    )
    providers = [
        await people.create_provider(session, first_name=first, last_name=last, time_zone=tz)
        for first, last, tz in PROVIDERS
    ]
    patients = [
        await people.create_patient(session, first_name=first, last_name=last)
        for first, last in PATIENTS
    ]
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    slots = []
    for day in range(7):
        for index, provider in enumerate(providers):
            for hour in (14, 15, 16):
                start = datetime.combine(tomorrow + timedelta(days=day), time(hour), tzinfo=UTC)
                data = SlotInput(
                    provider_id=provider.id,
                    start_time=start,
                    end_time=start + timedelta(minutes=50),
                    appointment_type=TYPES[(day + index + hour) % len(TYPES)],
                )
                slots.append(await create_single_slot(session, data))
    booked = await _book_a_few(session, slots, patients)
    summary = (
        f"seeded {len(providers)} providers, {len(patients)} patients, "
        f"{len(slots)} slots, {booked} bookings"
    )
    return summary, token


async def _book_a_few(
    session: AsyncSession, slots: Sequence[SlotView], patients: list[Patient]
) -> int:
    """Books one patient into every seventh slot, so some days show bookings."""
    count = 0
    for slot, patient in zip(slots[::7], patients, strict=False):
        await create_booking(
            session, BookingInput(available_slot_id=slot.id, patient_id=patient.id, notes=None)
        )
        count += 1
    return count
