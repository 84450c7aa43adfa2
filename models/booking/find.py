"""Find a time: the earliest slots a patient could take for an appointment type.

Every rule in force applies: the slot open (no time off, not closed, a free seat counting
holds), the provider's notice, window, buffers (the type's, where it sets them) and
daily, weekly and monthly caps, the type's duration, and a provider who offers the type,
holds the licence and speaks the language asked for. Each candidate slot gets the first
cause that rules it out (``SLOT_CAUSES`` order) as one SQL expression, so the options are
one statement whatever the number of providers, and the explanation one more: per
provider, its slots counted by cause, in the same pass over the same expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.platform.db import read_rows
from models.platform.entities import (
    APPOINTMENT_MODES,
    MAX_ID,
    AppointmentType,
    AvailableSlot,
    Hold,
    HoldStatus,
)
from models.platform.errors import FieldErrors
from models.platform.timeutil import day_end, day_start, now_utc
from models.scheduling.availability import external_busy_covers, seats_booked, time_off_covers
from models.scheduling.booking_rules import CAPS, period_at_limit
from models.scheduling.instant_sql import add_minutes
from models.scheduling.provider_matching import (
    check_language_filter,
    check_state_filter,
    json_list_has,
    json_list_has_primary,
    offers_type,
)
from models.scheduling.resources import no_free_resource
from models.scheduling.slots import PROVIDERS_TABLE, SLOT_COLUMNS, SLOTS_TABLE, check_filters

MAX_RANGE_DAYS = 31
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_PROVIDER_IDS = 1000
# Why a slot in range is no option, in the order the first applying one is reported.
SLOT_CAUSES: tuple[str, ...] = (
    "time_off",
    "external_busy",
    "closed",
    "full",
    "minimum_notice",
    "booking_window",
    "buffer",
    "daily_limit",
    "weekly_limit",
    "monthly_limit",
    "too_short",
    "no_resource",
)
# Why a provider has no option at all, before any slot is looked at.
PROVIDER_CAUSES: tuple[str, ...] = ("type_not_offered", "not_licensed", "language", "no_slots")
_CAP_CAUSES = {"day": "daily_limit", "week": "weekly_limit", "month": "monthly_limit"}


@dataclass(frozen=True, slots=True)
class TypeTerms:
    """What an appointment type asks of a slot."""

    key: str
    duration_minutes: int
    buffer_before_minutes: int | None
    buffer_after_minutes: int | None
    modes: tuple[str, ...]


_TYPE_BY_KEY = select(
    AppointmentType.key,
    AppointmentType.duration_minutes,
    AppointmentType.buffer_before_minutes,
    AppointmentType.buffer_after_minutes,
    AppointmentType.modes,
).where(AppointmentType.key == bindparam("key"), AppointmentType.active.is_(True))


@dataclass(frozen=True, slots=True)
class FindRequest:
    """A checked request (see ``check_find``). ``appointment_type`` is None while the key
    is not looked up yet: the options statement reads the type itself and answers no row
    for a key that names no active type, so the usual request takes one statement."""

    type_key: str
    appointment_type: TypeTerms | None
    start_date: date
    end_date: date
    provider_ids: tuple[int, ...] | None = None
    licensed_state: str | None = None
    language: str | None = None
    mode: str | None = None
    limit: int = DEFAULT_LIMIT
    spread: bool = False
    explain: bool = False


@dataclass(frozen=True, slots=True)
class UnavailableProvider:
    """A provider with no option: ruled out as a whole, or each slot counted by cause."""

    provider_id: int
    ruled_out: str | None
    slot_counts: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class FindResult:
    options: list[Row] = field(default_factory=list)
    unavailable_providers: list[UnavailableProvider] | None = None


Row = Any  # a slot read row (models.scheduling.slots.SLOT_COLUMNS)


async def _active_type(session: AsyncSession, key: str) -> TypeTerms | None:
    rows = await read_rows(session, _TYPE_BY_KEY, {"key": key})
    if not rows:
        return None
    row = rows[0]
    return TypeTerms(
        row.key,
        row.duration_minutes,
        row.buffer_before_minutes,
        row.buffer_after_minutes,
        tuple(row.modes),
    )


async def _resolved_type(
    session: AsyncSession, errors: FieldErrors, key: str, mode: str | None
) -> TypeTerms | None:
    kind = await _active_type(session, key)
    if kind is None:
        errors.add("appointment_type", "is not included in the list")
    elif mode is not None and mode in APPOINTMENT_MODES and mode not in kind.modes:
        errors.add("mode", "is not offered for the appointment type")
    return kind


def _whole(errors: FieldErrors, name: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "is invalid")
    elif value < low:
        errors.add(name, f"must be greater than or equal to {low}")
    elif value > high:
        errors.add(name, f"must be less than or equal to {high}")
    else:
        return value
    return None


def _provider_ids(errors: FieldErrors, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or any(
        isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID
        for item in value
    ):
        errors.add("provider_ids", "is invalid")
        return None
    if len(value) > MAX_PROVIDER_IDS:
        errors.add("provider_ids", f"is too long (maximum is {MAX_PROVIDER_IDS} entries)")
        return None
    return tuple(sorted(set(value)))


async def check_find(
    session: AsyncSession,
    *,
    appointment_type: Any,
    start_date: Any,
    end_date: Any,
    provider_ids: Any = None,
    licensed_state: Any = None,
    language: Any = None,
    mode: Any = None,
    limit: Any = None,
    spread: bool = False,
    explain: bool = False,
) -> FindRequest:
    """Every argument checked, problems reported together; raises ValidationFailed."""
    errors = FieldErrors()
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.add(name, "can't be blank")
    start, end = check_filters(
        errors,
        start_date=start_date if isinstance(start_date, (str, date)) else None,
        end_date=end_date if isinstance(end_date, (str, date)) else None,
        max_range_days=MAX_RANGE_DAYS,
    )
    key: str | None = None
    if appointment_type is None or (
        isinstance(appointment_type, str) and not appointment_type.strip()
    ):
        errors.add("appointment_type", "can't be blank")
    elif not isinstance(appointment_type, str) or len(appointment_type) > 40:
        errors.add("appointment_type", "is not included in the list")
    else:
        key = appointment_type
    if mode is not None and mode not in APPOINTMENT_MODES:
        errors.add("mode", "is not included in the list")
    ids = _provider_ids(errors, provider_ids)
    state = check_state_filter(errors, "licensed_state", licensed_state)
    wanted_language = check_language_filter(errors, "language", language)
    count = _whole(errors, "limit", limit, 1, MAX_LIMIT)
    kind: TypeTerms | None = None
    # The type is looked up here only where its answer is needed before the search: to
    # report every problem together, to check the mode against it, or for the explanation.
    if key is not None and (errors or mode is not None or explain):
        kind = await _resolved_type(session, errors, key, mode)
    errors.raise_if_any()
    assert key is not None and start is not None and end is not None
    return FindRequest(
        type_key=key,
        appointment_type=kind,
        start_date=start,
        end_date=end,
        provider_ids=ids,
        licensed_state=state,
        language=wanted_language,
        mode=mode,
        limit=count or DEFAULT_LIMIT,
        spread=spread,
        explain=explain,
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """What changes a statement's text (values travel as parameters): statements are
    built once per shape."""

    licence: bool
    language: bool
    providers: bool
    spread: bool

    @classmethod
    def of(cls, request: FindRequest) -> Shape:
        return cls(
            licence=request.licensed_state is not None,
            language=request.language is not None,
            providers=request.provider_ids is not None,
            spread=request.spread,
        )


def _now() -> Any:
    return bindparam("now", type_=SLOTS_TABLE.c.start_time.type)


def _type_term(column: Any) -> Any:
    """A field of the active type named ``key``, read once per statement (an uncorrelated
    scalar subquery); NULL when no active type has that key."""
    return (
        select(column)
        .where(AppointmentType.key == bindparam("key", type_=String()))
        .where(AppointmentType.active.is_(True))
        .scalar_subquery()
    )


def _buffer_clash() -> ColumnElement[bool]:
    """Another booked slot of the provider in the slot's buffer zone: the type's buffers
    where it sets them, the provider's otherwise (as booking checks them)."""
    providers = PROVIDERS_TABLE.c
    type_before = _type_term(AppointmentType.buffer_before_minutes)
    type_after = _type_term(AppointmentType.buffer_after_minutes)
    before = func.coalesce(type_before, providers.buffer_before_minutes, 0)
    after = func.coalesce(type_after, providers.buffer_after_minutes, 0)
    any_buffer = or_(
        type_before.is_not(None),
        type_after.is_not(None),
        providers.buffer_before_minutes.is_not(None),
        providers.buffer_after_minutes.is_not(None),
    )
    other = aliased(AvailableSlot)
    return and_(
        any_buffer,
        exists()
        .where(
            other.provider_id == SLOTS_TABLE.c.provider_id,
            other.id != SLOTS_TABLE.c.id,
            seats_booked(other) > 0,
            other.end_time > add_minutes(SLOTS_TABLE.c.start_time, -after),
            other.start_time < add_minutes(SLOTS_TABLE.c.end_time, before),
        )
        .correlate(SLOTS_TABLE, PROVIDERS_TABLE),
    )


def _held_seats() -> Any:
    return (
        select(func.count(Hold.id))
        .where(
            Hold.available_slot_id == SLOTS_TABLE.c.id,
            Hold.status == HoldStatus.HELD,
            Hold.expires_at > _now(),
        )
        .correlate(SLOTS_TABLE)
        .scalar_subquery()
    )


def _type_duration() -> Any:
    return _type_term(AppointmentType.duration_minutes)


def slot_cause() -> ColumnElement[Any]:
    """The first cause ruling the slot out, or NULL when it is an option."""
    slots, providers = SLOTS_TABLE.c, PROVIDERS_TABLE.c
    at = _now()
    whens: list[tuple[ColumnElement[bool], str]] = [
        (time_off_covers(), "time_off"),
        (external_busy_covers(), "external_busy"),
        (slots.admin_closed.is_(True), "closed"),
        (slots.booked_count + _held_seats() >= slots.capacity, "full"),
        (
            and_(
                providers.minimum_notice_minutes.is_not(None),
                slots.start_time < add_minutes(at, providers.minimum_notice_minutes),
            ),
            "minimum_notice",
        ),
        (
            and_(
                providers.booking_window_days.is_not(None),
                slots.start_time >= add_minutes(at, providers.booking_window_days * 1440),
            ),
            "booking_window",
        ),
        (_buffer_clash(), "buffer"),
        # The cheap test of the provider's own column first: most providers have no cap.
        *(
            (and_(providers[rule].is_not(None), period_at_limit(rule, period)), _CAP_CAUSES[period])
            for rule, period in CAPS
        ),
        (slots.duration_minutes < _type_duration(), "too_short"),
        (no_free_resource(at), "no_resource"),
    ]
    return case(*whens, else_=None)


@dataclass(frozen=True, slots=True)
class _Matching:
    offers: ColumnElement[bool]
    licensed: ColumnElement[bool]
    speaks: ColumnElement[bool]

    @property
    def all(self) -> ColumnElement[bool]:
        return and_(self.offers, self.licensed, self.speaks)


def _matching(shape: Shape) -> _Matching:
    providers = PROVIDERS_TABLE.c
    return _Matching(
        offers=offers_type(providers.appointment_type_keys, bindparam("key", type_=String())),
        licensed=(
            json_list_has(providers.licensed_states, bindparam("state", type_=String()))
            if shape.licence
            else true()
        ),
        speaks=(
            json_list_has_primary(providers.languages, bindparam("language", type_=String()))
            if shape.language
            else true()
        ),
    )


def _in_scope(shape: Shape) -> list[ColumnElement[bool]]:
    providers = PROVIDERS_TABLE.c
    conditions: list[ColumnElement[bool]] = [providers.active.is_(True)]
    if shape.providers:
        conditions.append(providers.id.in_(bindparam("provider_ids", expanding=True)))
    return conditions


def _slots_in_range() -> list[Any]:
    """The candidate slots: of the type (or of none), starting in range and after now."""
    slots = SLOTS_TABLE.c
    when = slots.start_time.type
    return [
        slots.start_time >= bindparam("window_start", type_=when),
        slots.start_time < bindparam("window_end", type_=when),
        slots.start_time > _now(),
        or_(slots.appointment_type.is_(None), slots.appointment_type == bindparam("key")),
    ]


def _cheap_slot_terms() -> list[ColumnElement[bool]]:
    """Tests of the slot's own columns that every option passes (implied by its cause being
    NULL): checked before the provider's row and the probes, they drop most candidates
    cheaply. The type's duration is NULL for a key naming no active type: no row then."""
    slots = SLOTS_TABLE.c
    return [
        slots.duration_minutes >= _type_duration(),
        slots.admin_closed.is_(False),
        slots.booked_count < slots.capacity,
    ]


@lru_cache(maxsize=64)
def options_statement(shape: Shape) -> Select[Any]:
    """The options chosen first (ids and order keys only), then their rows: what a row
    carries beyond that (``available``'s probes among it) is computed for the few options,
    not for every candidate the database looks at before it sorts."""
    slots = SLOTS_TABLE.c
    joined = SLOTS_TABLE.join(PROVIDERS_TABLE, PROVIDERS_TABLE.c.id == slots.provider_id)
    conditions = [
        *_slots_in_range(),
        *_cheap_slot_terms(),
        *_in_scope(shape),
        _matching(shape).all,
        slot_cause().is_(None),
    ]
    keys = (slots.start_time, slots.provider_id, slots.id)
    limit = bindparam("limit", type_=Integer())
    if not shape.spread:
        picked = (
            select(slots.id)
            .select_from(joined)
            .where(*conditions)
            .order_by(*keys)
            .limit(limit)
            .subquery("picked")
        )
        order: tuple[Any, ...] = keys
    else:
        # Round robin: each provider's first option before anyone's second.
        turn = (
            func.row_number()
            .over(partition_by=slots.provider_id, order_by=(slots.start_time, slots.id))
            .label("turn")
        )
        ranked = select(*keys, turn).select_from(joined).where(*conditions).subquery("ranked")
        picked = (
            select(ranked.c.id, ranked.c.turn)
            .order_by(ranked.c.turn, ranked.c.start_time, ranked.c.provider_id, ranked.c.id)
            .limit(limit)
            .subquery("picked")
        )
        order = (picked.c.turn, *keys)
    return (
        select(*SLOT_COLUMNS)
        .select_from(joined.join(picked, picked.c.id == slots.id))
        .order_by(*order)
    )


@lru_cache(maxsize=64)
def explain_statement(shape: Shape) -> Select[Any]:
    """Per provider in scope: its matching flags and its slots in range counted by cause
    (cause NULL: options)."""
    providers, slots = PROVIDERS_TABLE.c, SLOTS_TABLE.c
    matching = _matching(shape)
    joined = PROVIDERS_TABLE.outerjoin(
        SLOTS_TABLE,
        and_(slots.provider_id == providers.id, matching.all, *_slots_in_range()),
    )
    per_slot = (
        select(
            providers.id,
            matching.offers.label("offers"),
            matching.licensed.label("licensed"),
            matching.speaks.label("speaks"),
            slots.id.label("slot_id"),
            slot_cause().label("cause"),
        )
        .select_from(joined)
        .where(*_in_scope(shape))
        .subquery("per_slot")
    )
    keys = (per_slot.c.id, per_slot.c.offers, per_slot.c.licensed, per_slot.c.speaks)
    return (
        select(*keys, per_slot.c.cause, func.count(per_slot.c.slot_id).label("n"))
        .group_by(*keys, per_slot.c.cause)
        .order_by(per_slot.c.id)
    )


def parameters(request: FindRequest, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "now": now,
        "window_start": day_start(request.start_date, zone),
        "window_end": day_end(request.end_date, zone),
        "key": request.type_key,
        "limit": request.limit,
    }
    optional = {
        "state": request.licensed_state,
        "language": request.language,
        "provider_ids": list(request.provider_ids) if request.provider_ids is not None else None,
    }
    values.update({name: value for name, value in optional.items() if value is not None})
    return values


def _by_start(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: (row.start_time, row.provider_id, row.id))


def explained(rows: Sequence[Any]) -> list[UnavailableProvider]:
    """The explain rows folded per provider; providers with an option are left out."""
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.id, []).append(row)
    result: list[UnavailableProvider] = []
    for provider_id, provider_rows in grouped.items():
        first = provider_rows[0]
        ruled_out = None
        if not first.offers:
            ruled_out = "type_not_offered"
        elif not first.licensed:
            ruled_out = "not_licensed"
        elif not first.speaks:
            ruled_out = "language"
        counts = {row.cause: row.n for row in provider_rows if row.n}
        if ruled_out is None and None in counts:
            continue
        if ruled_out is None and not counts:
            ruled_out = "no_slots"
        ordered = {cause: counts[cause] for cause in SLOT_CAUSES if cause in counts}
        result.append(UnavailableProvider(provider_id, ruled_out, ordered))
    return result


async def find_availability(
    session: AsyncSession, request: FindRequest, *, zone: ZoneInfo, now: datetime | None = None
) -> FindResult:
    """The earliest options in start order (ties by provider id); with ``explain``, why
    each provider in scope without an option has none."""
    shape = Shape.of(request)
    values = parameters(request, zone, now or now_utc())
    rows = await read_rows(session, options_statement(shape), values)
    if not rows and request.appointment_type is None:
        # No option, or no such type: only the second is an error.
        errors = FieldErrors()
        await _resolved_type(session, errors, request.type_key, request.mode)
        errors.raise_if_any()
    result = FindResult(options=_by_start(rows))
    if request.explain:
        explain_rows = await read_rows(session, explain_statement(shape), values)
        result.unavailable_providers = explained(cast(Sequence[Any], explain_rows))
    return result
