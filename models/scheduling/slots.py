"""Available slots: validation, conflict rules, and the operations on single slots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import audit, events, seat_watch
from models.platform.base import UTCDateTime
from models.platform.db import is_constraint_violation, read_rows, write_transaction
from models.platform.driver_writes import (
    DriverConflict,
    Program,
    WritePlan,
    recorded_rows,
    run_program,
)
from models.platform.entities import (
    MAX_ID,
    RECURRENCE_PATTERNS,
    AvailableSlot,
    Booking,
    Hold,
    Provider,
)
from models.platform.errors import (
    FieldErrors,
    NotFound,
    ResourceInUse,
    SlotConflict,
    SlotHasActiveBooking,
    SlotHasActiveHold,
    TimeOffConflict,
)
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import (
    DAY_OUT_OF_RANGE,
    calendar_day,
    day_end,
    day_start,
    format_timestamp,
    now_utc,
    parse_date,
    parse_timestamp,
)
from models.scheduling.appointment_types import check_appointment_type
from models.scheduling.availability import (
    active_holds,
    booking_is_active,
    slot_bookable_clause,
    slot_open_clause,
    time_off_covers,
)
from models.scheduling.booking_rules import rule_conditions
from models.scheduling.resources import (
    RESOURCE_OVERLAP_CONSTRAINT,
    check_resource_kind,
    keep_resource_through_change,
)

OVERLAP_CONSTRAINT = "ex_available_slots_no_overlap"
_provider_table = cast(Table, Provider.__table__)
# A provider's booking rules, as the flat ``provider_*`` columns of a slot row carry them.
RULE_COLUMNS = (
    "minimum_notice_minutes",
    "booking_window_days",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "max_bookings_per_day",
    "cancellation_cutoff_minutes",
    "reschedule_cutoff_minutes",
    "max_bookings_per_week",
    "max_bookings_per_month",
)
_PROVIDER_BY_ID = select(
    _provider_table.c.id,
    _provider_table.c.first_name,
    _provider_table.c.last_name,
    _provider_table.c.time_zone,
    _provider_table.c.active,
    *(_provider_table.c[name] for name in RULE_COLUMNS),
).where(_provider_table.c.id == bindparam("provider_id"))
MAX_CONFLICTS_REPORTED = 20
UNSET: Any = object()


@dataclass(slots=True)
class SlotInput:
    """Raw slot fields as a caller sent them; ``UNSET`` marks a field not sent.

    Times may be datetimes or ISO 8601 text; text that does not parse is ``is invalid``.
    """

    provider_id: Any = UNSET
    start_time: Any = UNSET
    end_time: Any = UNSET
    appointment_type: Any = UNSET
    available: Any = UNSET
    recurring: Any = UNSET
    recurrence_pattern: Any = UNSET
    recurrence_rule: Any = UNSET
    recurrence_end_date: Any = UNSET
    capacity: Any = UNSET
    resource_kind: Any = UNSET

    def sent(self, name: str) -> bool:
        return getattr(self, name) is not UNSET

    def value(self, name: str, default: Any = None) -> Any:
        current = getattr(self, name)
        return default if current is UNSET else current


@dataclass(slots=True)
class ValidSlot:
    """Slot fields after validation, ready to store."""

    provider_id: int
    start_time: datetime
    end_time: datetime
    appointment_type: str | None = None
    available: bool = True
    recurring: bool = False
    recurrence_pattern: str | None = None
    recurrence_rule: str | None = None
    recurrence_end_date: date | None = None
    capacity: int = 1
    resource_kind: str | None = None
    # The provider's row (id, names, time zone, active, booking rules) or entity.
    provider: Any = field(default=None, repr=False)

    @property
    def duration_minutes(self) -> int:
        return duration_minutes(self.start_time, self.end_time)


@dataclass(frozen=True, slots=True)
class SlotFilters:
    provider_id: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    available: bool | None = None
    appointment_type: str | None = None

    @property
    def few(self) -> bool:
        """One provider's week at most: a few rows whatever the clinic's size, read as a
        quick read (``read_rows``)."""
        if self.provider_id is None or self.start_date is None or self.end_date is None:
            return False
        return (self.end_date - self.start_date).days < QUICK_DAYS


# The longest span of one provider's slots read as a quick read.
QUICK_DAYS = 7


# A day that does not parse: the message names the format expected.
INVALID_DAY = "is invalid (expected YYYY-MM-DD)"


def duration_minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def _blank(value: Any) -> bool:
    return value is None or value is UNSET or (isinstance(value, str) and not value.strip())


def _int_field(errors: FieldErrors, name: str, value: Any) -> int | None:
    if _blank(value):
        errors.add(name, "can't be blank")
        return None
    if isinstance(value, bool):
        errors.add(name, "is invalid")
        return None
    number = value if isinstance(value, int) else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is not None and abs(number) <= MAX_ID:
        return number
    errors.add(name, "is invalid")
    return None


def _time_field(errors: FieldErrors, name: str, value: Any) -> datetime | None:
    if _blank(value):
        errors.add(name, "can't be blank")
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        errors.add(name, "is invalid")
    return parsed


MAX_CAPACITY = 100


def check_capacity(errors: FieldErrors, value: Any, name: str = "capacity") -> int | None:
    """Seats of a slot, 1 to 100; None (not sent) is the default of 1."""
    if value is None or value is UNSET:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "is invalid")
        return None
    if value < 1:
        errors.add(name, "must be greater than or equal to 1")
    elif value > MAX_CAPACITY:
        errors.add(name, f"must be less than or equal to {MAX_CAPACITY}")
    else:
        return value
    return None


def check_recurrence_fields(errors: FieldErrors, data: SlotInput) -> None:
    """Shape checks for the recurrence fields; the rule itself is checked on expansion."""
    recurring = data.value("recurring", False)
    if recurring is not None and not isinstance(recurring, bool):
        errors.add("recurring", "is invalid")
        return
    pattern = data.value("recurrence_pattern")
    if pattern is not None and pattern not in RECURRENCE_PATTERNS:
        errors.add("recurrence_pattern", "is not included in the list")
    if recurring and _blank(pattern):
        errors.add("recurrence_pattern", "can't be blank")
    rule = data.value("recurrence_rule")
    if rule is not None and not isinstance(rule, str):
        errors.add("recurrence_rule", "is invalid")
    if recurring and pattern == "custom" and _blank(rule):
        errors.add("recurrence_rule", "can't be blank")
    end_date = data.value("recurrence_end_date")
    if end_date is not None and parse_date(end_date) is None:
        errors.add("recurrence_end_date", INVALID_DAY)


async def _load_provider(
    session: AsyncSession, errors: FieldErrors, provider_id: int | None
) -> Row[Any] | None:
    """The provider's row (id, names, time zone, active), or None with the error noted."""
    if provider_id is None:
        return None
    rows = await read_rows(session, _PROVIDER_BY_ID, {"provider_id": provider_id})
    provider = rows[0] if rows else None
    if provider is None:
        errors.add("provider_id", "must exist")
    elif not provider.active:
        errors.add("provider_id", "is inactive")
    return provider


async def validate_new_slot(
    session: AsyncSession,
    data: SlotInput,
    *,
    now: datetime | None = None,
    provider_later: bool = False,
) -> ValidSlot:
    """All field checks of a new slot, reported together; raises ValidationFailed.

    ``provider_later``: when every other field is right, the provider is not read (the
    ``provider`` of the result is None): the caller's write checks it and reads it, and
    calls :func:`check_provider` if that write refuses.
    """
    now = now or now_utc()
    errors = FieldErrors()
    provider_id = _int_field(errors, "provider_id", data.provider_id)
    start = _time_field(errors, "start_time", data.start_time)
    end = _time_field(errors, "end_time", data.end_time)
    if start is not None and start <= now:
        errors.add("start_time", "must be in the future")
    if start is not None and end is not None and end <= start:
        errors.add("end_time", "must be after start time")
    appointment_type = data.value("appointment_type")
    await check_appointment_type(session, errors, appointment_type)
    available = data.value("available", True)
    if not isinstance(available, bool):
        errors.add("available", "is invalid")
    check_recurrence_fields(errors, data)
    capacity = check_capacity(errors, data.value("capacity"))
    resource_kind = data.value("resource_kind")
    await check_resource_kind(session, errors, resource_kind)
    provider = None
    if errors or not provider_later:
        provider = await _load_provider(session, errors, provider_id)
    errors.raise_if_any()
    assert provider_id is not None and start is not None and end is not None
    recurring = bool(data.value("recurring", False))
    return ValidSlot(
        provider_id=provider_id,
        start_time=start,
        end_time=end,
        appointment_type=appointment_type,
        available=bool(available),
        recurring=recurring,
        recurrence_pattern=data.value("recurrence_pattern") if recurring else None,
        recurrence_rule=data.value("recurrence_rule") if recurring else None,
        recurrence_end_date=parse_date(data.value("recurrence_end_date")) if recurring else None,
        capacity=capacity or 1,
        resource_kind=resource_kind,
        provider=provider,
    )


def overlapping(
    provider_id: int, start: datetime, end: datetime, *, exclude_ids: tuple[int, ...] = ()
) -> Select[AvailableSlot]:
    """Slots of ``provider_id`` whose half-open interval overlaps ``[start, end)``."""
    stmt = (
        select(AvailableSlot)
        .where(
            AvailableSlot.provider_id == provider_id,
            AvailableSlot.start_time < end,
            AvailableSlot.end_time > start,
        )
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
        .limit(MAX_CONFLICTS_REPORTED)
    )
    if exclude_ids:
        stmt = stmt.where(AvailableSlot.id.not_in(exclude_ids))
    return stmt


def conflict_summary(slots: list[AvailableSlot]) -> list[dict[str, Any]]:
    return [
        {
            "id": slot.id,
            "start_time": format_timestamp(slot.start_time),
            "end_time": format_timestamp(slot.end_time),
        }
        for slot in slots
    ]


async def raise_if_overlapping(
    session: AsyncSession,
    provider_id: int,
    start: datetime,
    end: datetime,
    *,
    exclude_ids: tuple[int, ...] = (),
) -> None:
    clashes = list(
        (
            await session.execute(overlapping(provider_id, start, end, exclude_ids=exclude_ids))
        ).scalars()
    )
    if clashes:
        raise SlotConflict(conflicts=conflict_summary(clashes))


async def _conflict_from_database(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime, exclude_id: int | None
) -> SlotConflict:
    """The 409 for a write the database refused: a concurrent writer won the race."""
    await session.rollback()
    exclude = (exclude_id,) if exclude_id is not None else ()
    clashes = list(
        (await session.execute(overlapping(provider_id, start, end, exclude_ids=exclude))).scalars()
    )
    conflict = SlotConflict(conflicts=conflict_summary(clashes))  # before rollback expires rows
    await session.rollback()
    return conflict


def new_slot_row(valid: ValidSlot, *, series_id: int | None = None) -> AvailableSlot:
    return AvailableSlot(
        provider_id=valid.provider_id,
        start_time=valid.start_time,
        end_time=valid.end_time,
        duration_minutes=valid.duration_minutes,
        appointment_type=valid.appointment_type,
        admin_closed=not valid.available,
        capacity=valid.capacity,
        recurring=valid.recurring,
        recurrence_pattern=valid.recurrence_pattern,
        recurrence_rule=valid.recurrence_rule,
        series_id=series_id,
        resource_kind=valid.resource_kind,
    )


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """A slot just written, with the attributes of a slot read row (``SLOT_COLUMNS``)."""

    id: int
    provider_id: int
    start_time: datetime
    end_time: datetime
    duration_minutes: int
    appointment_type: str | None
    available: bool
    recurring: bool
    recurrence_pattern: str | None
    recurrence_rule: str | None
    series_id: int | None
    created_at: datetime
    updated_at: datetime
    capacity: int
    booked_count: int
    resource_kind: str | None
    resource_id: int | None
    provider_first_name: str
    provider_last_name: str
    provider_time_zone: str
    provider_active: bool
    provider_minimum_notice_minutes: int | None
    provider_booking_window_days: int | None
    provider_buffer_before_minutes: int | None
    provider_buffer_after_minutes: int | None
    provider_max_bookings_per_day: int | None
    provider_cancellation_cutoff_minutes: int | None
    provider_reschedule_cutoff_minutes: int | None
    provider_max_bookings_per_week: int | None
    provider_max_bookings_per_month: int | None


def created_record(slot: AvailableSlot, valid: ValidSlot) -> SlotRecord:
    provider = valid.provider
    assert provider is not None
    return SlotRecord(
        id=slot.id,
        provider_id=slot.provider_id,
        start_time=slot.start_time,
        end_time=slot.end_time,
        duration_minutes=slot.duration_minutes,
        appointment_type=slot.appointment_type,
        # Open unless the admin closed it: a new slot has no booking or hold, and one
        # inside a time off was refused.
        available=valid.available,
        recurring=slot.recurring,
        recurrence_pattern=slot.recurrence_pattern,
        recurrence_rule=slot.recurrence_rule,
        series_id=slot.series_id,
        created_at=slot.created_at,
        updated_at=slot.updated_at,
        capacity=valid.capacity,
        booked_count=0,
        resource_kind=slot.resource_kind,
        resource_id=None,
        provider_first_name=provider.first_name,
        provider_last_name=provider.last_name,
        provider_time_zone=provider.time_zone,
        provider_active=provider.active,
        provider_minimum_notice_minutes=provider.minimum_notice_minutes,
        provider_booking_window_days=provider.booking_window_days,
        provider_buffer_before_minutes=provider.buffer_before_minutes,
        provider_buffer_after_minutes=provider.buffer_after_minutes,
        provider_max_bookings_per_day=provider.max_bookings_per_day,
        provider_cancellation_cutoff_minutes=provider.cancellation_cutoff_minutes,
        provider_reschedule_cutoff_minutes=provider.reschedule_cutoff_minutes,
        provider_max_bookings_per_week=provider.max_bookings_per_week,
        provider_max_bookings_per_month=provider.max_bookings_per_month,
    )


# The columns a new slot is written with (``new_slot_row``'s, the seat count and times).
_NEW_SLOT_COLUMNS = (
    "provider_id",
    "start_time",
    "end_time",
    "duration_minutes",
    "appointment_type",
    "admin_closed",
    "capacity",
    "booked_count",
    "recurring",
    "recurrence_pattern",
    "recurrence_rule",
    "series_id",
    "resource_kind",
    "created_at",
    "updated_at",
)


_new_slots = cast(Table, AvailableSlot.__table__)


async def check_provider(session: AsyncSession, valid: ValidSlot) -> None:
    """The provider ``validate_new_slot(provider_later=True)`` left unread: its errors
    (as that check reports them), or its row in ``valid.provider``."""
    if valid.provider is None:
        errors = FieldErrors()
        valid.provider = await _load_provider(session, errors, valid.provider_id)
        errors.raise_if_any()


def _new_value(name: str) -> Any:
    return bindparam(f"new_{name}", type_=_new_slots.c[name].type)


# One statement: the slot is inserted only where it overlaps no slot and no time off of
# its provider (a refusal inserts nothing, and the full path then says which).
_INSERT_IF_FREE = (
    _new_slots.insert()
    .from_select(
        list(_NEW_SLOT_COLUMNS),
        select(*(_new_value(name) for name in _NEW_SLOT_COLUMNS)).where(
            ~exists().where(
                _new_slots.c.provider_id == _new_value("provider_id"),
                _new_slots.c.start_time < _new_value("end_time"),
                _new_slots.c.end_time > _new_value("start_time"),
            ),
            ~time_off_covers(
                _new_value("provider_id"), _new_value("start_time"), _new_value("end_time")
            ),
            exists().where(
                _provider_table.c.id == _new_value("provider_id"),
                _provider_table.c.active.is_(True),
            ),
        ),
    )
    .returning(_new_slots.c.id)
)


_INSERTED = _INSERT_IF_FREE.cte("inserted_slot")
# PostgreSQL: the insert and, beside the new slot's id, its provider's row (as
# _PROVIDER_BY_ID reads it), in one statement.
_INSERT_WITH_PROVIDER = select(
    _INSERTED.c.id.label("new_slot_id"), *_PROVIDER_BY_ID.selected_columns
).where(_provider_table.c.id == _new_value("provider_id"))

INSERT_IF_FREE = WritePlan(_INSERT_IF_FREE)
INSERT_WITH_PROVIDER = WritePlan(_INSERT_WITH_PROVIDER)
PROVIDER_ROW = WritePlan(_PROVIDER_BY_ID)


def _insert_program(session: AsyncSession, slot: AvailableSlot, valid: ValidSlot) -> Program:
    params = {f"new_{name}": getattr(slot, name) for name in _NEW_SLOT_COLUMNS}
    if valid.provider is None and session.get_bind().dialect.name == "postgresql":
        rows = yield INSERT_WITH_PROVIDER, params
        if not rows:
            return None
        slot.id = rows[0].new_slot_id
        valid.provider = rows[0]
    else:
        inserted = yield INSERT_IF_FREE, params
        if not inserted:
            return None
        slot.id = inserted[0].id
    if valid.provider is None:
        valid.provider = (yield PROVIDER_ROW, {"provider_id": slot.provider_id})[0]
    fields = [name for name in _NEW_SLOT_COLUMNS[:-2] if getattr(slot, name) is not None]
    audit.record(session, audit.CREATE, "available_slot", [slot.id], fields)
    events.slot_event(session, events.SLOT_CREATED, slot)
    yield from recorded_rows(session, opened=(slot.id, slot.created_at))
    return slot


async def create_single_slot(
    session: AsyncSession, data: SlotInput, *, now: datetime | None = None
) -> SlotRecord:
    """Validate and store one slot; 422 on bad fields, 409 on overlap."""
    valid = await validate_new_slot(session, data, now=now, provider_later=True)
    try:
        async with write_transaction(session):
            # One folded statement; if it inserted nothing (a clash), nothing was written
            # and the checks below say which, in this transaction.
            quick = new_slot_row(valid)
            quick.booked_count = 0
            quick.created_at = quick.updated_at = now_utc()
            program = _insert_program(session, quick, valid)
            if await run_program(session, program, last=True) is not None:
                return created_record(quick, valid)
            await check_provider(session, valid)
            await raise_if_overlapping(session, valid.provider_id, valid.start_time, valid.end_time)
            await raise_if_time_off(session, valid.provider_id, valid.start_time, valid.end_time)
            slot = new_slot_row(valid)
            session.add(slot)
            await session.flush()
            events.slot_event(session, events.SLOT_CREATED, slot)
            seat_watch.seats_opened(session, [slot.id])
            # Everything the reply shows is known now: no read back.
            created = created_record(slot, valid)
    except (IntegrityError, DriverConflict) as exc:
        if isinstance(exc, IntegrityError) and not is_constraint_violation(exc, OVERLAP_CONSTRAINT):
            raise
        raise await _conflict_from_database(
            session, valid.provider_id, valid.start_time, valid.end_time, None
        ) from None
    return created


SLOTS_TABLE = cast(Table, AvailableSlot.__table__)
PROVIDERS_TABLE = cast(Table, Provider.__table__)


def available_column(*, open_only: bool = False) -> ColumnElement[Any]:
    """A slot row's ``available``. ``open_only``: the statement's conditions keep only
    bookable slots, which are open at the same instant (the statement's), so it is true
    without evaluating the rules again."""
    return (true() if open_only else slot_open_clause()).label("available")


# A slot row as every read returns it: the slot's columns and its provider's, flat.
SLOT_COLUMNS = (
    SLOTS_TABLE.c.id,
    SLOTS_TABLE.c.provider_id,
    SLOTS_TABLE.c.start_time,
    SLOTS_TABLE.c.end_time,
    SLOTS_TABLE.c.duration_minutes,
    SLOTS_TABLE.c.appointment_type,
    available_column(),
    SLOTS_TABLE.c.recurring,
    SLOTS_TABLE.c.recurrence_pattern,
    SLOTS_TABLE.c.recurrence_rule,
    SLOTS_TABLE.c.series_id,
    SLOTS_TABLE.c.created_at,
    SLOTS_TABLE.c.updated_at,
    PROVIDERS_TABLE.c.first_name.label("provider_first_name"),
    PROVIDERS_TABLE.c.last_name.label("provider_last_name"),
    PROVIDERS_TABLE.c.time_zone.label("provider_time_zone"),
    PROVIDERS_TABLE.c.active.label("provider_active"),
    SLOTS_TABLE.c.capacity,
    SLOTS_TABLE.c.booked_count,
    SLOTS_TABLE.c.resource_kind,
    SLOTS_TABLE.c.resource_id,
    *(PROVIDERS_TABLE.c[name].label(f"provider_{name}") for name in RULE_COLUMNS),
)
SLOTS_WITH_PROVIDER = SLOTS_TABLE.join(
    PROVIDERS_TABLE, PROVIDERS_TABLE.c.id == SLOTS_TABLE.c.provider_id
)
_SLOT_BY_ID = (
    select(*SLOT_COLUMNS)
    .select_from(SLOTS_WITH_PROVIDER)
    .where(SLOTS_TABLE.c.id == bindparam("slot_id"))
)


# What slot operations return: a read row, or (from batch and series code) an entity
# with its provider loaded; both have the same attributes.
SlotView = Row[Any] | AvailableSlot | SlotRecord


async def get_slot(session: AsyncSession, slot_id: int) -> Row[Any]:
    """One slot row with its provider's columns (see ``SLOT_COLUMNS``)."""
    rows = await read_rows(session, _SLOT_BY_ID, {"slot_id": slot_id}, quick=True)
    if not rows:
        raise NotFound()
    return rows[0]


async def raise_if_time_off(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime
) -> None:
    """A one-off slot may not be created or moved into its provider's time off (409)."""
    if (await session.execute(select(time_off_covers(provider_id, start, end)))).scalar():
        raise TimeOffConflict()


async def seats_taken(session: AsyncSession, slot: AvailableSlot) -> int:
    """Active bookings plus unexpired holds on the slot."""
    holds = (await session.execute(select(active_holds(slot_id=slot.id)))).scalar_one()
    return int(slot.booked_count) + int(holds)


def active_booking_exists(slot_id_column: Any) -> Any:
    return exists().where(Booking.available_slot_id == slot_id_column, booking_is_active())


def active_hold_exists(slot_id_column: Any) -> Any:
    return active_holds(slot_id=slot_id_column) > 0


async def has_active_booking(session: AsyncSession, slot_id: int) -> bool:
    return bool((await session.execute(select(active_booking_exists(slot_id)))).scalar())


RECURRENCE_FIELDS = ("recurring", "recurrence_pattern", "recurrence_rule", "recurrence_end_date")


async def update_slot(
    session: AsyncSession, slot_id: int, data: SlotInput, *, now: datetime | None = None
) -> Row[Any]:
    """Partial update; re-checks the fields sent and conflicts, excluding the slot itself."""
    now = now or now_utc()
    errors = FieldErrors()
    async with write_transaction(session):
        # Row lock (PostgreSQL): a booking claiming this slot at the same moment either
        # commits first and is seen below, or waits for this change.
        slot = await session.get(
            AvailableSlot, slot_id, with_for_update=True, populate_existing=True
        )
        if slot is None:
            raise NotFound()
        provider_id = slot.provider_id
        if data.sent("provider_id"):
            provider_id = _int_field(errors, "provider_id", data.provider_id) or provider_id
        start, end = slot.start_time, slot.end_time
        if data.sent("start_time"):
            start = _time_field(errors, "start_time", data.start_time) or start
            if data.start_time is not None and start <= now and not errors.has("start_time"):
                errors.add("start_time", "must be in the future")
        if data.sent("end_time"):
            end = _time_field(errors, "end_time", data.end_time) or end
        if (data.sent("start_time") or data.sent("end_time")) and end <= start:
            errors.add("end_time", "must be after start time")
        if data.sent("appointment_type"):
            await check_appointment_type(session, errors, data.appointment_type)
        if data.sent("resource_kind"):
            await check_resource_kind(session, errors, data.resource_kind)
        if data.sent("available") and not isinstance(data.available, bool):
            errors.add("available", "is invalid")
        if data.sent("recurring") and not isinstance(data.recurring, bool):
            errors.add("recurring", "is invalid")
        if any(data.sent(name) for name in RECURRENCE_FIELDS):
            merged = SlotInput(
                recurring=data.value("recurring", slot.recurring),
                recurrence_pattern=data.value("recurrence_pattern", slot.recurrence_pattern),
                recurrence_rule=data.value("recurrence_rule", slot.recurrence_rule),
                recurrence_end_date=data.value("recurrence_end_date"),
            )
            check_recurrence_fields(errors, merged)
        if data.sent("provider_id") and provider_id != slot.provider_id:
            await _load_provider(session, errors, provider_id)
        capacity = check_capacity(errors, data.capacity) if data.sent("capacity") else None
        if data.sent("capacity") and data.capacity is None:
            errors.add("capacity", "can't be blank")
        if capacity is not None and capacity < (taken := await seats_taken(session, slot)):
            errors.add("capacity", f"can't be less than the {taken} seats taken")
        errors.raise_if_any()

        was_available = slot.available
        moved = (start, end, provider_id) != (slot.start_time, slot.end_time, slot.provider_id)
        if moved and await has_active_booking(session, slot.id):
            raise SlotHasActiveBooking()
        if moved:
            await raise_if_overlapping(session, provider_id, start, end, exclude_ids=(slot.id,))
            await raise_if_time_off(session, provider_id, start, end)
        await keep_resource_through_change(
            session, slot, data.value("resource_kind", slot.resource_kind), start, end, now
        )
        slot.provider_id, slot.start_time, slot.end_time = provider_id, start, end
        slot.duration_minutes = duration_minutes(start, end)
        if data.sent("available"):
            slot.admin_closed = not data.available
        if capacity is not None:
            slot.capacity = capacity
        for name in ("appointment_type", "recurring", "recurrence_pattern", "resource_kind"):
            if data.sent(name):
                setattr(slot, name, getattr(data, name))
        if data.sent("recurrence_rule"):
            slot.recurrence_rule = data.recurrence_rule
        if data.sent("recurring") and not data.recurring:
            slot.recurrence_pattern = None
            slot.recurrence_rule = None
        try:
            await session.flush()
        except IntegrityError as exc:
            if is_constraint_violation(exc, RESOURCE_OVERLAP_CONSTRAINT):
                await session.rollback()
                raise ResourceInUse() from None
            if not is_constraint_violation(exc, OVERLAP_CONSTRAINT):
                raise
            raise await _conflict_from_database(session, provider_id, start, end, slot_id) from None
        # Read back before the commit: once committed, the reply must not depend on the
        # database still answering (a failure then would report a stored change as failed).
        # ``available`` is computed by the database, so the re-read also tells whether the
        # change closed or reopened the slot.
        updated = await get_slot(session, slot_id)
        events.slot_event(session, events.slot_change_type(was_available, updated), updated)
        # More seats, or reopened: the waitlist is offered what is free.
        seat_watch.seats_opened(session, [slot_id])
    return updated


async def delete_slot(session: AsyncSession, slot_id: int) -> None:
    async with write_transaction(session):
        # Row lock (PostgreSQL): a booking claiming this slot at the same moment either
        # commits first and is seen below, or waits for this change.
        slot = await session.get(
            AvailableSlot, slot_id, with_for_update=True, populate_existing=True
        )
        if slot is None:
            raise NotFound()
        if await has_active_booking(session, slot_id):
            raise SlotHasActiveBooking()
        if await seats_taken(session, slot) > slot.booked_count:
            raise SlotHasActiveHold()
        await _delete_cancelled_bookings(session, (slot_id,))
        await session.delete(slot)
        events.slot_event(session, events.SLOT_DELETED, slot)


async def delete_spent_claims(session: AsyncSession, slot_ids: list[int]) -> None:
    """Cancelled bookings and spent holds keep no seat on a slot; they go with it."""
    await _delete_cancelled_bookings(session, tuple(slot_ids))


async def _delete_cancelled_bookings(session: AsyncSession, slot_ids: tuple[int, ...]) -> None:
    """Cancelled bookings and spent holds keep no seat on a slot; they go with it."""
    await session.execute(delete(Hold).where(Hold.available_slot_id.in_(slot_ids)))
    await session.execute(delete(Booking).where(Booking.available_slot_id.in_(slot_ids)))


def _day_error(value: Any) -> str:
    """Why a filter day was refused: not a YYYY-MM-DD day, or one outside the years served."""
    return DAY_OUT_OF_RANGE if calendar_day(value) is not None else INVALID_DAY


def _filter_date(value: Any) -> date | None:
    """A filter day, or None (outside the accepted years too)."""
    return parse_date(value) if value is not None else None


def check_filters(
    errors: FieldErrors,
    *,
    start_date: Any = None,
    end_date: Any = None,
    max_range_days: int | None = None,
) -> tuple[date | None, date | None]:
    start = _filter_date(start_date)
    end = _filter_date(end_date)
    if start_date is not None and start is None:
        errors.add("start_date", _day_error(start_date))
    if end_date is not None and end is None:
        errors.add("end_date", _day_error(end_date))
    if start is not None and end is not None:
        if end < start:
            errors.add("end_date", "must be on or after start date")
        elif max_range_days is not None and (end - start).days + 1 > max_range_days:
            errors.add("end_date", f"must be at most {max_range_days} days after start date")
    return start, end


async def checked_slot_filters(
    session: AsyncSession,
    errors: FieldErrors,
    *,
    provider_id: int | None = None,
    start_date: Any = None,
    end_date: Any = None,
    available: bool | None = None,
    appointment_type: str | None = None,
    max_range_days: int | None = None,
) -> SlotFilters:
    """List filters with their day texts parsed and checked; problems go into ``errors``."""
    start, end = check_filters(
        errors,
        start_date=start_date,
        end_date=end_date,
        max_range_days=max_range_days,
    )
    await check_appointment_type(session, errors, appointment_type)
    return SlotFilters(
        provider_id=provider_id,
        start_date=start,
        end_date=end,
        available=available,
        appointment_type=appointment_type,
    )


SlotKey = tuple[datetime, int]


@dataclass(frozen=True, slots=True)
class SlotShape:
    """Which conditions a slot page has: the statement is built once per shape."""

    provider: bool
    start: bool
    end: bool
    available: bool | None
    appointment_type: bool
    future_only: bool
    min_duration: bool
    keyset: bool
    # Last rows first (the page before a cursor, or the last page): ``ORDER BY`` reversed.
    backward: bool = False
    # The providers' booking rules (search): they need ``future_only``'s ``now``.
    rules: bool = False


def shape_conditions(shape: SlotShape) -> list[Any]:
    c = SLOTS_TABLE.c
    conditions: list[Any] = []
    if shape.provider:
        conditions.append(c.provider_id == bindparam("provider_id"))
    if shape.start:
        conditions.append(c.start_time >= bindparam("window_start", type_=c.start_time.type))
    if shape.end:
        conditions.append(c.start_time < bindparam("window_end", type_=c.start_time.type))
    if shape.available is not None:
        # Open now: the hold expiry is compared with the time of each execution.
        bookable = slot_bookable_clause()
        conditions.append(bookable if shape.available else ~bookable)
    if shape.appointment_type:
        conditions.append(
            or_(c.appointment_type == bindparam("appointment_type"), c.appointment_type.is_(None))
        )
    if shape.future_only:
        conditions.append(c.start_time > bindparam("now", type_=c.start_time.type))
    if shape.min_duration:
        conditions.append(c.duration_minutes >= bindparam("min_duration"))
    if shape.rules:
        conditions.append(rule_conditions(at=bindparam("now", type_=UTCDateTime())))
    return conditions


_SLOT_KEY = (SLOTS_TABLE.c.start_time, SLOTS_TABLE.c.id)


def keyset_condition(*, backward: bool = False) -> ColumnElement[bool]:
    """Past the (``after_start``, ``after_id``) key in (start_time, id) order (before it
    when ``backward``)."""
    after_start = bindparam("after_start", type_=SLOTS_TABLE.c.start_time.type)
    condition: ColumnElement[bool] = keyset_past(
        _SLOT_KEY, (after_start, bindparam("after_id")), backward=backward
    )
    return condition


@lru_cache(maxsize=512)
def _page_statement(shape: SlotShape) -> Select[Any]:
    """The page with its total as a column: the database counts once, in the same snapshot."""
    conditions = shape_conditions(shape)
    count = select(func.count()).select_from(SLOTS_TABLE).where(*conditions)
    stmt = (
        select(*SLOT_COLUMNS, count.scalar_subquery().label("total"))
        .select_from(SLOTS_WITH_PROVIDER)
        .where(*conditions)
        .order_by(*keyset_order(_SLOT_KEY, backward=shape.backward))
        .limit(bindparam("page_limit"))
    )
    if shape.keyset:
        stmt = stmt.where(keyset_condition(backward=shape.backward))
    else:
        stmt = stmt.offset(bindparam("page_offset"))
    return stmt


@lru_cache(maxsize=512)
def _count_statement(shape: SlotShape) -> Select[Any]:
    return select(func.count()).select_from(SLOTS_TABLE).where(*shape_conditions(shape))


def slot_query(
    filters: SlotFilters,
    zone: ZoneInfo,
    *,
    after: SlotKey | None = None,
    future_after: datetime | None = None,
    min_duration: int | None = None,
    rules: bool = False,
    backward: bool = False,
) -> tuple[SlotShape, dict[str, Any]]:
    params: dict[str, Any] = {}
    if filters.provider_id is not None:
        params["provider_id"] = filters.provider_id
    if filters.start_date is not None:
        params["window_start"] = day_start(filters.start_date, zone)
    if filters.end_date is not None:
        params["window_end"] = day_end(filters.end_date, zone)
    if filters.appointment_type is not None:
        params["appointment_type"] = filters.appointment_type
    if future_after is not None:
        # The rules (holds, notice, caps) judge at the instant the future begins.
        params["now"] = params["availability_now"] = future_after
    if min_duration is not None:
        params["min_duration"] = min_duration
    if after is not None:
        params["after_start"], params["after_id"] = after
    shape = SlotShape(
        provider=filters.provider_id is not None,
        start=filters.start_date is not None,
        end=filters.end_date is not None,
        available=filters.available,
        appointment_type=filters.appointment_type is not None,
        future_only=future_after is not None,
        min_duration=min_duration is not None,
        keyset=after is not None,
        backward=backward,
        rules=rules,
    )
    return shape, params


async def _slot_page(
    session: AsyncSession,
    shape: SlotShape,
    params: dict[str, Any],
    page: PageRequest,
    *,
    quick: bool = False,
) -> Page[Row[Any]]:
    params["page_limit"] = page.page_size
    if not shape.keyset:
        params["page_offset"] = page.offset
    rows: Sequence[Row[Any]] = await read_rows(session, _page_statement(shape), params, quick=quick)
    if rows:
        total = rows[0].total
    else:
        # Past the last page: the count alone (the page query had no row to carry it).
        total = (await read_rows(session, _count_statement(shape), params))[0][0]
    return Page(items=list(rows), total=total, page=page.page, page_size=page.page_size)


async def list_slots(
    session: AsyncSession,
    filters: SlotFilters,
    *,
    page: PageRequest,
    zone: ZoneInfo,
    after: SlotKey | None = None,
    backward: bool = False,
) -> Page[Row[Any]]:
    """Slot rows (``SLOT_COLUMNS``) in time order: one statement whatever the page size.

    The total rides along as a column of the page query (computed once by the database),
    which saves a round trip; only an empty page needs a second statement to count.
    ``after`` continues after a (start_time, id) key instead of using the page offset;
    ``backward`` reads the other way (the rows before ``after``, latest first).
    """
    shape, params = slot_query(filters, zone, after=after, backward=backward)
    return await _slot_page(session, shape, params, page, quick=filters.few)


async def check_search(
    session: AsyncSession, *, duration: int | None, appointment_type: str | None
) -> None:
    """The search's own argument checks; raises ValidationFailed."""
    errors = FieldErrors()
    if duration is not None and duration < 1:
        errors.add("duration", "must be greater than or equal to 1")
    if duration is not None and duration > 24 * 60 * 31:
        errors.add("duration", f"must be less than or equal to {24 * 60 * 31}")
    await check_appointment_type(session, errors, appointment_type)
    errors.raise_if_any()


async def search_slots(
    session: AsyncSession,
    *,
    provider_id: int | None,
    on_date: date | None,
    duration: int | None,
    appointment_type: str | None,
    page: PageRequest,
    zone: ZoneInfo,
    now: datetime | None = None,
    after: SlotKey | None = None,
    backward: bool = False,
) -> Page[Row[Any]]:
    """Available, future slots, at least ``duration`` minutes long, that the providers'
    booking rules let a patient take (one statement whatever the page size)."""
    await check_search(session, duration=duration, appointment_type=appointment_type)
    shape, params = search_query(
        provider_id=provider_id,
        on_date=on_date,
        duration=duration,
        appointment_type=appointment_type,
        zone=zone,
        now=now,
        after=after,
        backward=backward,
    )
    quick = SlotFilters(provider_id=provider_id, start_date=on_date, end_date=on_date).few
    return await _slot_page(session, shape, params, page, quick=quick)


def search_query(
    *,
    provider_id: int | None,
    on_date: date | None,
    duration: int | None,
    appointment_type: str | None,
    zone: ZoneInfo,
    now: datetime | None = None,
    after: SlotKey | None = None,
    backward: bool = False,
) -> tuple[SlotShape, dict[str, Any]]:
    """The search's shape and parameters, its values checked by ``check_search`` first."""
    filters = SlotFilters(
        provider_id=provider_id,
        start_date=on_date,
        end_date=on_date,
        available=True,
        appointment_type=appointment_type,
    )
    return slot_query(
        filters,
        zone,
        after=after,
        future_after=now or now_utc(),
        min_duration=duration,
        rules=True,
        backward=backward,
    )
