"""Factories for test records, built through the domain operations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.booking.bookings import BookingInput, create_booking
from models.platform.entities import Booking, Patient, Provider
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.slots import SlotInput, SlotView, create_single_slot

BASE = "/v1/admin/clinic/availability"
SLOTS = f"{BASE}/available_slots"
BOOKS = f"{BASE}/books"


def future(hours: float = 24, *, minute: int = 0) -> datetime:
    """A whole-minute instant ``hours`` from now, in UTC."""
    base = datetime.now(UTC).replace(second=0, microsecond=0, minute=minute)
    return base + timedelta(hours=hours)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Factory:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def token(self, *, role: str = "admin", expires_in: timedelta | None = None) -> str:
        _user, token = await create_user(
            self.session,
            role=role,
            first_name="Test",
            last_name=role.title(),
            expires_in=expires_in,
        )
        return token

    async def provider(
        self, first_name: str = "Jane", last_name: str = "Smith", time_zone: str = "UTC"
    ) -> Provider:
        return await people.create_provider(
            self.session, first_name=first_name, last_name=last_name, time_zone=time_zone
        )

    async def patient(self, first_name: str = "Alex", last_name: str = "Rivera") -> Patient:
        return await people.create_patient(self.session, first_name=first_name, last_name=last_name)

    async def slot(
        self,
        provider: Provider | None = None,
        *,
        start: datetime | None = None,
        minutes: int = 60,
        **fields: Any,
    ) -> SlotView:
        provider = provider or await self.provider()
        start = start or future(24)
        data = SlotInput(
            provider_id=provider.id,
            start_time=start,
            end_time=start + timedelta(minutes=minutes),
            **fields,
        )
        return await create_single_slot(self.session, data)

    async def booking(
        self,
        slot: SlotView | None = None,
        patient: Patient | None = None,
        *,
        notes: str | None = None,
        appointment_type: str | None = None,
    ) -> Booking:
        slot = slot or await self.slot()
        patient = patient or await self.patient()
        data = BookingInput(
            available_slot_id=slot.id,
            patient_id=patient.id,
            appointment_type=appointment_type,
            notes=notes,
        )
        return await create_booking(self.session, data)
