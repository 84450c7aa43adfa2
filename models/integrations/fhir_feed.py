"""What the FHIR face publishes: active providers' schedules and their slots' states.

No patient data: a slot says only when it is and whether it is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.entities import AvailableSlot, Booking, BookingStatus, Provider
from models.scheduling.slot_states import BUSY, BUSY_UNAVAILABLE, FREE, SlotState, slot_state

STATUSES = (FREE, BUSY, BUSY_UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class PublishedSlot:
    id: int
    provider_id: int
    start_time: datetime
    end_time: datetime
    appointment_type: str | None
    state: SlotState


@dataclass(frozen=True, slots=True)
class SlotQuery:
    provider_id: int | None = None
    # (operator, instant) pairs on the slot start: ge, gt, le, lt.
    start_bounds: tuple[tuple[str, datetime], ...] = ()
    statuses: tuple[str, ...] = ()


async def active_providers(session: AsyncSession) -> list[Provider]:
    stmt = select(Provider).where(Provider.active.is_(True)).order_by(Provider.id)
    return list((await session.execute(stmt)).scalars())


def _booked() -> Any:
    return (
        select(func.count())
        .where(
            Booking.available_slot_id == AvailableSlot.id,
            Booking.status != BookingStatus.CANCELLED,
        )
        .correlate(AvailableSlot)
        .scalar_subquery()
    )


def _status_condition(status: str, booked: Any) -> Any:
    """SQL for the status ``slot_state`` gives (one booking fills a slot)."""
    if status == FREE:
        return and_(AvailableSlot.available.is_(True), booked == 0)
    if status == BUSY:
        return booked > 0
    return and_(not_(AvailableSlot.available), booked == 0)


_OPERATORS = {
    "ge": lambda column, value: column >= value,
    "gt": lambda column, value: column > value,
    "le": lambda column, value: column <= value,
    "lt": lambda column, value: column < value,
}


async def published_slots(
    session: AsyncSession, query: SlotQuery, *, limit: int, offset: int = 0
) -> tuple[list[PublishedSlot], int]:
    """One page of slots (start order) of active providers, and how many match in all."""
    booked = _booked()
    conditions: list[Any] = [Provider.active.is_(True)]
    if query.provider_id is not None:
        conditions.append(AvailableSlot.provider_id == query.provider_id)
    for operator, instant in query.start_bounds:
        conditions.append(_OPERATORS[operator](AvailableSlot.start_time, instant))
    if query.statuses:
        conditions.append(or_(*(_status_condition(s, booked) for s in query.statuses)))
    joined = select(AvailableSlot.id).join(Provider, Provider.id == AvailableSlot.provider_id)
    total = (
        await session.execute(
            select(func.count()).select_from(joined.where(*conditions).subquery())
        )
    ).scalar_one()
    rows = await session.execute(
        select(
            AvailableSlot.id,
            AvailableSlot.provider_id,
            AvailableSlot.start_time,
            AvailableSlot.end_time,
            AvailableSlot.appointment_type,
            AvailableSlot.available,
            booked,
        )
        .join(Provider, Provider.id == AvailableSlot.provider_id)
        .where(*conditions)
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
        .limit(limit)
        .offset(offset)
    )
    slots = [
        PublishedSlot(
            ident, provider, begins, ends, kind, slot_state(available=available, booked=count)
        )
        for ident, provider, begins, ends, kind, available, count in rows.tuples()
    ]
    return slots, int(total)
