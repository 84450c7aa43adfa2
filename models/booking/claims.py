"""The usual booking and reschedule, each checked by the statement that claims the seat.

A plain booking (no hold, not a request, no override) or a plain move (no hold, no
override) runs as a few Core statements built once: the seat's claim carries every check
in its WHERE clause (the slot open, in the future and free net of holds, time off and
external busy time; the patient active and not booked on it already; the appointment
type's buffers (and for a move its reschedule cutoff), the provider's booking rules and
reschedule cutoff unset; a resource the slot already keeps or none needed). The audit
entries and the event wait in the session and are written by the commit hooks, one
statement each.

When such a claim takes nothing, nothing was written: the transaction ends and the caller
runs the full path, which finds the first refusal in the documented order (or succeeds, if
the competing writer has gone). So refusals and the rarer cases (rules, holds, requests,
resources to assign, cutoffs) behave exactly as before, at the price of a second
transaction that only a refusal or a rare case pays.

On PostgreSQL the claimed slot rows are locked first (as the full path does), so the
checks that read other rows (holds, time off) see what the previous claimer committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import audit, events
from models.platform.base import UTCDateTime
from models.platform.driver_writes import (
    AUDIT_KEYS,
    AUDIT_TABLE,
    EVENT_KEYS,
    EVENT_TABLE,
    Program,
    WritePlan,
    recorded_rows,
    run_program,
)
from models.platform.entities import (
    ENDED_BOOKING_STATUSES,
    AppointmentType,
    AvailableSlot,
    Booking,
    BookingStatus,
    Patient,
    Provider,
)
from models.platform.errors import SlotNotAvailable
from models.scheduling.availability import slot_open_clause
from models.scheduling.booking_rules import RULES

_slots = cast(Table, AvailableSlot.__table__)
_bookings = cast(Table, Booking.__table__)
_providers = cast(Table, Provider.__table__)
_patients = cast(Table, Patient.__table__)
_types = cast(Table, AppointmentType.__table__)

_NOW = bindparam("availability_now", type_=UTCDateTime())
_SLOT: BindParameter[Any] = bindparam("claim_slot_id")
_PATIENT: BindParameter[Any] = bindparam("claim_patient_id")
_TYPE = bindparam("claim_type", type_=_bookings.c.appointment_type.type)
_BOOKING: BindParameter[Any] = bindparam("claim_booking_id")


def _no_rules(provider_id: Any) -> Any:
    """The provider sets no booking rule (then the full path checks them)."""
    return exists().where(
        _providers.c.id == provider_id, *(_providers.c[name].is_(None) for name in RULES)
    )


def _no_type_buffers(type_key: Any) -> Any:
    return ~exists().where(
        _types.c.key == type_key,
        or_(
            _types.c.buffer_before_minutes.is_not(None),
            _types.c.buffer_after_minutes.is_not(None),
        ),
    )


def _no_type_reschedule_cutoff(type_key: Any) -> Any:
    return ~exists().where(
        _types.c.key == type_key, _types.c.reschedule_cutoff_minutes.is_not(None)
    )


_other = _bookings.alias("other_booking")


def _patient_free(slot_id: Any, patient_id: Any) -> Any:
    """No active booking of the patient on the slot (``booking_is_active``, on an alias)."""
    b = _other.c
    return ~exists().where(
        b.available_slot_id == slot_id,
        b.patient_id == patient_id,
        *(b.status != status for status in ENDED_BOOKING_STATUSES),
        or_(b.status != BookingStatus.PENDING, b.pending_expires_at > _NOW),
    )


def _claimable() -> Any:
    """The slot (``available_slots`` of the statement) takes a new plain booking now."""
    s = _slots.c
    return and_(
        s.start_time > _NOW,
        slot_open_clause(),
        _no_rules(s.provider_id),
        # take_resource: none needed, or the one the slot already keeps.
        or_(s.resource_kind.is_(None), s.resource_id.is_not(None)),
    )


_SLOT_FACTS = (
    _slots.c.provider_id,
    _slots.c.start_time,
    _slots.c.end_time,
    _slots.c.series_id,
    _slots.c.appointment_type,
    _slots.c.resource_kind,
    _slots.c.resource_id,
)

_LOCK_SLOT = select(_slots.c.id).where(_slots.c.id == _SLOT).with_for_update()

_CLAIM = (
    update(_slots)
    .where(
        _slots.c.id == _SLOT,
        _claimable(),
        exists().where(_patients.c.id == _PATIENT, _patients.c.active.is_(True)),
        _patient_free(_slots.c.id, _PATIENT),
        _no_type_buffers(func.coalesce(_TYPE, _slots.c.appointment_type)),
    )
    .values(booked_count=_slots.c.booked_count + 1, updated_at=_NOW)
    .returning(*_SLOT_FACTS)
)
_BOOKING_VALUES = (
    "available_slot_id",
    "patient_id",
    "appointment_type",
    "notes",
    "status",
    "reschedule_count",
    "resource_id",
    "created_at",
    "updated_at",
)
# Why a claim took nothing, when the answer is the usual one (the slot is full).
_WHY_NOT = select(
    (_slots.c.start_time > _NOW).label("future"),
    slot_open_clause().label("open"),
    select(_patients.c.active)
    .where(_patients.c.id == _PATIENT)
    .scalar_subquery()
    .label("patient_active"),
).where(_slots.c.id == _SLOT)
WHY_NOT = WritePlan(_WHY_NOT)
LOCK_SLOT = WritePlan(_LOCK_SLOT)
CLAIM = WritePlan(_CLAIM)
INSERT_BOOKING = WritePlan(insert(_bookings).returning(_bookings.c.id), _BOOKING_VALUES)


_NEW_BOOKING = (
    insert(_bookings)
    .values(
        {name: bindparam(f"nb_{name}", type_=_bookings.c[name].type) for name in _BOOKING_VALUES}
    )
    .returning(_bookings.c.id)
    .cte("new_booking")
)


def _row_values(table: Table, keys: tuple[str, ...], prefix: str, new_id: str | None) -> Any:
    """A row of bound values, the new booking's id as ``new_id``."""
    return select(
        *(
            _NEW_BOOKING.c.id.label(key)
            if key == new_id
            else bindparam(f"{prefix}_{key}", type_=table.c[key].type)
            for key in keys
        )
    )


# PostgreSQL: a plain booking's row, its entries (the seat's, then the booking's) and its
# event in one statement (data-modifying CTEs).
_BOOK_WITH_ROWS = (
    select(_NEW_BOOKING.c.id)
    .add_cte(
        insert(AUDIT_TABLE)
        .from_select(
            list(AUDIT_KEYS),
            union_all(
                _row_values(AUDIT_TABLE, AUDIT_KEYS, "a0", None),
                _row_values(AUDIT_TABLE, AUDIT_KEYS, "a1", "entity_id"),
            ),
        )
        .cte("new_booking_entries")
    )
    .add_cte(
        insert(EVENT_TABLE)
        .from_select(list(EVENT_KEYS), _row_values(EVENT_TABLE, EVENT_KEYS, "e0", "booking_id"))
        .cte("new_booking_event")
    )
)
BOOK_WITH_ROWS = WritePlan(_BOOK_WITH_ROWS, writes_audit=True)


def _folded_booking_params(
    values: dict[str, Any], entries: list[dict[str, Any]], announced: list[dict[str, Any]]
) -> dict[str, Any]:
    assert len(entries) == 2 and len(announced) == 1
    params = {f"nb_{name}": value for name, value in values.items()}
    for prefix, row in (("a0", entries[0]), ("a1", entries[1]), ("e0", announced[0])):
        params.update({f"{prefix}_{key}": value for key, value in row.items()})
    return params


def _record_booking(
    session: AsyncSession, slot: Any, values: dict[str, Any], booking_id: int | None
) -> None:
    """As the full path's entries: the seat, then the booking's fields set; its event.
    (``booking_id`` None: the statement writing them fills it in.)"""
    slot_id = values["available_slot_id"]
    audit.record(session, audit.UPDATE, "available_slot", [slot_id], ["booked_count"])
    audit.record(
        session,
        audit.CREATE,
        "booking",
        [booking_id],
        [name for name in _BOOKING_VALUES[:-2] if values[name] is not None],
    )
    events.record_event(
        session,
        type=events.BOOKING_CREATED,
        provider_id=slot.provider_id,
        slot_id=slot_id,
        booking_id=booking_id,
        series_id=slot.series_id,
        start_time=slot.start_time,
        end_time=slot.end_time,
    )


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _book(
    session: AsyncSession, params: dict[str, Any], notes: str | None, moment: datetime
) -> Program:
    if _is_postgres(session):
        yield LOCK_SLOT, params
    claimed = yield CLAIM, params
    if not claimed:
        why = yield WHY_NOT, params
        if why and why[0].future and why[0].patient_active and not why[0].open:
            # What the full path concludes here: fields right, no free seat (409).
            raise SlotNotAvailable()
        return None
    slot = claimed[0]
    slot_id = params["claim_slot_id"]
    values: dict[str, Any] = {
        "available_slot_id": slot_id,
        "patient_id": params["claim_patient_id"],
        "appointment_type": params["claim_type"] or slot.appointment_type,
        "notes": notes,
        "status": BookingStatus.CONFIRMED,
        "reschedule_count": 0,
        "resource_id": slot.resource_id if slot.resource_kind is not None else None,
        "created_at": moment,
        "updated_at": moment,
    }
    sync = session.sync_session
    if _is_postgres(session) and not (audit.has_recorded(sync) or events.has_recorded(sync)):
        # One statement: the booking, its two entries and its event.
        _record_booking(session, slot, values, None)
        rows = _folded_booking_params(
            values, audit.take_recorded(session), events.take_recorded(session)
        )
        booking_id = (yield BOOK_WITH_ROWS, rows)[0].id
    else:
        booking_id = (yield INSERT_BOOKING, values)[0].id
        _record_booking(session, slot, values, booking_id)
        yield from recorded_rows(session)
    return Booking(
        id=booking_id,
        cancellation_reason=None,
        cancelled_at=None,
        rescheduled_from_slot_id=None,
        pending_expires_at=None,
        **values,
    )


async def quick_book(
    session: AsyncSession,
    *,
    slot_id: int,
    patient_id: int,
    appointment_type: str | None,
    notes: str | None,
    moment: datetime,
) -> Booking | None:
    """A confirmed booking of a plain request, in the caller's write transaction; None
    (nothing written) when the full path must decide, in the same transaction. A booking
    ends the transaction: the caller only commits it."""
    params = {
        "claim_slot_id": slot_id,
        "claim_patient_id": patient_id,
        "claim_type": appointment_type,
        "availability_now": moment,
    }
    booking: Booking | None = await run_program(
        session, _book(session, params, notes, moment), last=True
    )
    return booking


_old = _slots.alias("old_slot")
_old_providers = _providers.alias("old_provider")
_new = _slots.alias("new_slot")
_OLD_SLOT: BindParameter[Any] = bindparam("claim_old_slot_id")

# PostgreSQL, one statement: the booking's row (the sub-select, run first), then its slot
# and the new one in id order, as the full path locks them.
_LOCK_MOVE = (
    select(_slots.c.id)
    .where(
        _slots.c.id.in_(
            [
                select(_bookings.c.available_slot_id)
                .where(_bookings.c.id == _BOOKING)
                .with_for_update()
                .scalar_subquery(),
                _SLOT,
            ]
        )
    )
    .order_by(_slots.c.id)
    .with_for_update(of=_slots)
)


def _leaves_old_slot() -> Any:
    """The booking may leave its slot: not started, no resource to give back, and no
    reschedule cutoff set on the slot's provider (nor, in the move, on the booking's type)."""
    return exists().where(
        _old.c.id == _bookings.c.available_slot_id,
        _old.c.start_time > _NOW,
        _old.c.resource_id.is_(None),
        exists().where(
            _old_providers.c.id == _old.c.provider_id,
            _old_providers.c.reschedule_cutoff_minutes.is_(None),
        ),
    )


_MOVE = (
    update(_bookings)
    .where(
        _bookings.c.id == _BOOKING,
        _bookings.c.status == BookingStatus.CONFIRMED,
        _bookings.c.available_slot_id != _SLOT,
        _bookings.c.resource_id.is_(None),
        _leaves_old_slot(),
        exists(select(_slots.c.id).where(_slots.c.id == _SLOT, _claimable())),
        _no_type_buffers(_bookings.c.appointment_type),
        _no_type_reschedule_cutoff(_bookings.c.appointment_type),
        _patient_free(_SLOT, _bookings.c.patient_id),
    )
    .values(
        available_slot_id=_SLOT,
        rescheduled_from_slot_id=_bookings.c.available_slot_id,
        reschedule_count=_bookings.c.reschedule_count + 1,
        updated_at=_NOW,
        resource_id=select(case((_new.c.resource_kind.is_(None), None), else_=_new.c.resource_id))
        .where(_new.c.id == _SLOT)
        .scalar_subquery(),
    )
    .returning(*_bookings.c)
)
# The new seat taken (under the same checks, on rows locked on PostgreSQL) and the old
# one given back, in one statement.
_SWAP_SEATS = (
    update(_slots)
    .where(
        _slots.c.id.in_([_SLOT, _OLD_SLOT]),
        or_(
            and_(_slots.c.id == _SLOT, _claimable()),
            and_(_slots.c.id == _OLD_SLOT, _slots.c.booked_count > 0),
        ),
    )
    .values(
        booked_count=_slots.c.booked_count + case((_slots.c.id == _SLOT, 1), else_=-1),
        updated_at=_NOW,
    )
    .returning(_slots.c.id, *_SLOT_FACTS)
)


LOCK_MOVE = WritePlan(_LOCK_MOVE)
MOVE = WritePlan(_MOVE)
SWAP_SEATS = WritePlan(_SWAP_SEATS)


def _move(session: AsyncSession, params: dict[str, Any]) -> Program:
    if _is_postgres(session):
        yield LOCK_MOVE, params
    rows = yield MOVE, params
    if not rows:
        return None
    moved = rows[0]
    old_id = params["claim_old_slot_id"] = moved.rescheduled_from_slot_id
    slot_id = params["claim_slot_id"]
    seats = {row.id: row for row in (yield SWAP_SEATS, params)}
    target = seats.get(slot_id)
    if target is None:
        # The booking moved already: the transaction must roll back.
        raise MoveUndone
    opened = None
    if old_id in seats:
        audit.record(session, audit.UPDATE, "available_slot", [old_id], ["booked_count"])
        opened = (old_id, params["availability_now"])
    audit.record(session, audit.UPDATE, "available_slot", [slot_id], ["booked_count"])
    changed = ["available_slot_id", "rescheduled_from_slot_id", "reschedule_count"]
    if moved.resource_id is not None:
        changed.append("resource_id")
    audit.record(session, audit.UPDATE, "booking", [moved.id], changed)
    events.record_event(
        session,
        type=events.BOOKING_RESCHEDULED,
        provider_id=target.provider_id,
        slot_id=slot_id,
        previous_slot_id=old_id,
        booking_id=moved.id,
        series_id=target.series_id,
        start_time=target.start_time,
        end_time=target.end_time,
    )
    yield from recorded_rows(session, opened=opened)
    return Booking(**dict(moved._mapping))


class MoveUndone(Exception):
    """The new seat was not taken after the booking moved: the transaction must roll back."""


async def quick_move(
    session: AsyncSession, booking_id: int, slot_id: int, *, moment: datetime
) -> Booking | None:
    """The booking moved to ``slot_id`` for a plain request, in the caller's write
    transaction; None (nothing written) when the full path must decide. A move ends the
    transaction: the caller only commits it."""
    params: dict[str, Any] = {
        "claim_booking_id": booking_id,
        "claim_slot_id": slot_id,
        "availability_now": moment,
    }
    booking: Booking | None = await run_program(session, _move(session, params), last=True)
    return booking
