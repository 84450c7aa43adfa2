"""What the FHIR face publishes: active providers' schedules and their slots' states.

No patient data: a slot says only when it is and whether it is free.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.entities import AvailableSlot, Provider
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
    """A FHIR Slot search: each group is one occurrence of a parameter (its values ORed), and
    the groups are ANDed, as FHIR combines repeated parameters."""

    provider_ids: tuple[frozenset[int], ...] = ()
    # (operator, instant) pairs on the slot start: ge, gt, le, lt.
    start_bounds: tuple[tuple[str, datetime], ...] = ()
    statuses: tuple[frozenset[str], ...] = ()
    slot_id: int | None = None


async def active_providers(session: AsyncSession) -> list[Provider]:
    stmt = select(Provider).where(Provider.active.is_(True)).order_by(Provider.id)
    return list((await session.execute(stmt)).scalars())


async def offered_types(
    session: AsyncSession, *, since: datetime, until: datetime
) -> dict[int, list[str]]:
    """The appointment types each active provider's slots in ``[since, until)`` offer."""
    rows = await session.execute(
        select(AvailableSlot.provider_id, AvailableSlot.appointment_type)
        .join(Provider, Provider.id == AvailableSlot.provider_id)
        .where(
            Provider.active.is_(True),
            AvailableSlot.appointment_type.is_not(None),
            AvailableSlot.start_time >= since,
            AvailableSlot.start_time < until,
        )
        .distinct()
    )
    offered: dict[int, list[str]] = defaultdict(list)
    for provider_id, kind in rows.tuples():
        if kind is not None:
            offered[provider_id].append(kind)
    return {provider_id: sorted(kinds) for provider_id, kinds in offered.items()}


def _status_condition(status: str) -> Any:
    """SQL for the status ``slot_state`` gives."""
    if status == FREE:
        return AvailableSlot.available.is_(True)
    if status == BUSY:
        return and_(not_(AvailableSlot.available), AvailableSlot.booked_count > 0)
    return and_(not_(AvailableSlot.available), AvailableSlot.booked_count == 0)


_OPERATORS = {
    "ge": lambda column, value: column >= value,
    "gt": lambda column, value: column > value,
    "le": lambda column, value: column <= value,
    "lt": lambda column, value: column < value,
}


def _conditions(query: SlotQuery) -> list[Any]:
    conditions: list[Any] = [Provider.active.is_(True)]
    if query.slot_id is not None:
        conditions.append(AvailableSlot.id == query.slot_id)
    for group in query.provider_ids:
        conditions.append(AvailableSlot.provider_id.in_(sorted(group)) if group else false())
    for operator, instant in query.start_bounds:
        conditions.append(_OPERATORS[operator](AvailableSlot.start_time, instant))
    for statuses in query.statuses:
        conditions.append(or_(false(), *(_status_condition(s) for s in sorted(statuses))))
    return conditions


async def published_slots(
    session: AsyncSession, query: SlotQuery, *, limit: int, offset: int = 0, count: bool = True
) -> tuple[list[PublishedSlot], int]:
    """One page of slots (start order) of active providers, and how many match in all
    (``-1`` when ``count`` is off)."""
    conditions = _conditions(query)
    joined = select(AvailableSlot.id).join(Provider, Provider.id == AvailableSlot.provider_id)
    total = -1
    if count:
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
            AvailableSlot.booked_count,
            AvailableSlot.capacity,
        )
        .join(Provider, Provider.id == AvailableSlot.provider_id)
        .where(*conditions)
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
        .limit(limit)
        .offset(offset)
    )
    slots = [
        PublishedSlot(
            ident,
            provider,
            begins,
            ends,
            kind,
            slot_state(available=available, booked=booked, capacity=capacity),
        )
        for ident, provider, begins, ends, kind, available, booked, capacity in rows.tuples()
    ]
    return slots, int(total)
