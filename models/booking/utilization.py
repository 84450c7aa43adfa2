"""How much of the published availability is booked, per provider, over clinic days.

A slot counts on the clinic day its start falls on. It is *booked* when it has an active
booking (confirmed, or a request not yet expired), *open* when it is available and
unbooked, and *blocked* when it is closed (by an admin, a time off or holds) without a
booking. Seat counts add what group sessions have: seats taken by bookings, and free seats
on open slots. The rate is booked minutes over bookable minutes (booked + open); blocked
time is not capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.entities import AvailableSlot, Provider
from models.platform.errors import FieldErrors
from models.platform.timeutil import day_end, day_start
from models.scheduling.availability import active_holds, seats_booked, slot_open_clause
from models.scheduling.slots import check_filters


@dataclass(frozen=True, slots=True)
class UtilizationNumbers:
    total_slots: int = 0
    booked_slots: int = 0
    open_slots: int = 0
    blocked_slots: int = 0
    booked_minutes: int = 0
    open_minutes: int = 0
    # Seats: taken by active bookings, and free on open slots (group sessions have many).
    booked_seats: int = 0
    open_seats: int = 0

    @property
    def utilization_rate(self) -> float:
        """Booked share of bookable minutes, 0 to 1 (4 decimals); 0 when nothing is bookable."""
        bookable = self.booked_minutes + self.open_minutes
        return round(self.booked_minutes / bookable, 4) if bookable else 0.0

    def __add__(self, other: UtilizationNumbers) -> UtilizationNumbers:
        return UtilizationNumbers(
            total_slots=self.total_slots + other.total_slots,
            booked_slots=self.booked_slots + other.booked_slots,
            open_slots=self.open_slots + other.open_slots,
            blocked_slots=self.blocked_slots + other.blocked_slots,
            booked_minutes=self.booked_minutes + other.booked_minutes,
            open_minutes=self.open_minutes + other.open_minutes,
            booked_seats=self.booked_seats + other.booked_seats,
            open_seats=self.open_seats + other.open_seats,
        )


@dataclass(frozen=True, slots=True)
class ProviderUtilization:
    provider_id: int
    first_name: str
    last_name: str
    numbers: UtilizationNumbers


@dataclass(frozen=True, slots=True)
class UtilizationReport:
    start_date: date
    end_date: date
    time_zone: str
    providers: list[ProviderUtilization]
    totals: UtilizationNumbers


def check_range(
    errors: FieldErrors, start_date: Any, end_date: Any, max_range_days: int
) -> tuple[date | None, date | None]:
    if start_date is None:
        errors.add("start_date", "can't be blank")
    if end_date is None:
        errors.add("end_date", "can't be blank")
    return check_filters(
        errors, start_date=start_date, end_date=end_date, max_range_days=max_range_days
    )


_slots = AvailableSlot.__table__
_providers = Provider.__table__
_PROVIDER_EXISTS = select(_providers.c.id).where(_providers.c.id == bindparam("provider_id"))


@lru_cache(maxsize=4)
def _statement(one_provider: bool) -> Select[Any]:
    """Counts per provider over the window: one aggregate statement.

    For one provider it is driven from the provider, so the provider comes back (with
    zeros) even without a slot, and not at all when it does not exist.
    """
    booked = seats_booked(_slots.c) > 0
    is_open = slot_open_clause()
    open_ = and_(seats_booked(_slots.c) == 0, is_open)
    free_seats = _slots.c.capacity - _slots.c.booked_count - active_holds()
    minutes = _slots.c.duration_minutes
    window = and_(
        _slots.c.start_time >= bindparam("window_start", type_=_slots.c.start_time.type),
        _slots.c.start_time < bindparam("window_end", type_=_slots.c.start_time.type),
    )
    columns = (
        _providers.c.id,
        _providers.c.first_name,
        _providers.c.last_name,
        func.count(_slots.c.id),
        func.sum(case((booked, 1), else_=0)),
        func.sum(case((open_, 1), else_=0)),
        func.sum(case((booked, minutes), else_=0)),
        func.sum(case((open_, minutes), else_=0)),
        func.sum(seats_booked(_slots.c)),
        func.sum(case((is_open, free_seats), else_=0)),
    )
    if one_provider:
        source = _providers.outerjoin(_slots, and_(_slots.c.provider_id == _providers.c.id, window))
        stmt = (
            select(*columns).select_from(source).where(_providers.c.id == bindparam("provider_id"))
        )
    else:
        source = _slots.join(_providers, _providers.c.id == _slots.c.provider_id)
        stmt = select(*columns).select_from(source).where(window)
    return stmt.group_by(_providers.c.id, _providers.c.first_name, _providers.c.last_name).order_by(
        _providers.c.last_name, _providers.c.first_name, _providers.c.id
    )


async def utilization(
    session: AsyncSession,
    *,
    start_date: Any,
    end_date: Any,
    provider_id: int | None,
    zone: ZoneInfo,
    max_range_days: int,
) -> UtilizationReport:
    """One aggregate statement over the range, grouped by provider, whatever the data size."""
    errors = FieldErrors()
    start, end = check_range(errors, start_date, end_date, max_range_days)
    if errors:
        if provider_id is not None and not await read_rows(
            session, _PROVIDER_EXISTS, {"provider_id": provider_id}
        ):
            errors.add("provider_id", "must exist")
        errors.raise_if_any()
    assert start is not None and end is not None
    params: dict[str, Any] = {
        "window_start": day_start(start, zone),
        "window_end": day_end(end, zone),
    }
    if provider_id is not None:
        params["provider_id"] = provider_id
    found = await read_rows(session, _statement(provider_id is not None), params)
    if provider_id is not None and not found:
        errors.add("provider_id", "must exist")
        errors.raise_if_any()
    rows = []
    for row in found:
        pid, first, last, total, n_booked, n_open, m_booked, m_open, s_booked, s_open = tuple(row)
        numbers = UtilizationNumbers(
            total_slots=int(total),
            booked_slots=int(n_booked or 0),
            open_slots=int(n_open or 0),
            blocked_slots=int(total) - int(n_booked or 0) - int(n_open or 0),
            booked_minutes=int(m_booked or 0),
            open_minutes=int(m_open or 0),
            booked_seats=int(s_booked or 0),
            open_seats=int(s_open or 0),
        )
        rows.append(ProviderUtilization(pid, first, last, numbers))
    totals = sum((row.numbers for row in rows), UtilizationNumbers())
    return UtilizationReport(
        start_date=start,
        end_date=end,
        time_zone=zone.key,
        providers=rows,
        totals=totals,
    )
