"""Appointment types: the catalog every ``appointment_type`` field is checked against.

A key is accepted while its type is active. Each process keeps the active keys for a
short while (``CACHE_SECONDS``) so a busy write path does not read the catalog each time;
a key missing from that copy is looked up afresh before it is refused, so a type created
by another process is accepted at once, and one retired elsewhere is refused at the
latest ``CACHE_SECONDS`` later (at once in the process that retired it).
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import is_constraint_violation, read_rows, write_transaction
from models.platform.entities import APPOINTMENT_MODES, AppointmentType, Provider
from models.platform.errors import FieldErrors, NotFound, ValidationFailed

CACHE_SECONDS = 1.0
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
NAME_MAX = 100
MAX_MINUTES = 1440
# As the providers' cutoffs (booking rules): at most a year.
MAX_CUTOFF_MINUTES = 525_600
CUTOFFS = ("cancellation_cutoff_minutes", "reschedule_cutoff_minutes")
FIELDS = (
    "key",
    "name",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    *CUTOFFS,
    "modes",
    "active",
)
UNIQUE_KEY = "uq_appointment_types_key"

# The six keys of the catalog's first rows (the legacy fixed list), in its order.
LEGACY_TYPES: tuple[tuple[str, str, int], ...] = (
    ("therapy", "Therapy", 50),
    ("consultation", "Consultation", 30),
    ("follow_up", "Follow-up", 30),
    ("assessment", "Assessment", 60),
    ("group_therapy", "Group therapy", 90),
    ("medication_review", "Medication review", 30),
)

_ACTIVE_KEYS = select(AppointmentType.key).where(AppointmentType.active.is_(True))
# Per database engine: (active keys, monotonic time read).
_cache: weakref.WeakKeyDictionary[Any, tuple[frozenset[str], float]] = weakref.WeakKeyDictionary()


def _engine_of(session: AsyncSession) -> Any:
    bind = session.bind
    return getattr(bind, "sync_engine", bind)


def forget_cached_keys(session: AsyncSession) -> None:
    _cache.pop(_engine_of(session), None)


async def active_keys(session: AsyncSession, wanted: str | None = None) -> frozenset[str]:
    """The active type keys: the process's copy while fresh and holding ``wanted``."""
    engine = _engine_of(session)
    cached = _cache.get(engine)
    if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
        if wanted is None or wanted in cached[0]:
            return cached[0]
    keys = frozenset(row[0] for row in await read_rows(session, _ACTIVE_KEYS))
    _cache[engine] = (keys, time.monotonic())
    return keys


async def keys_for(session: AsyncSession, values: Collection[Any]) -> frozenset[str]:
    """The active keys, read afresh if the process's copy lacks one of ``values``."""
    keys = await active_keys(session)
    missing = next((v for v in values if isinstance(v, str) and v not in keys), None)
    return keys if missing is None else await active_keys(session, missing)


async def all_keys(session: AsyncSession) -> frozenset[str]:
    """Every key of the catalog, retired types' included."""
    return frozenset(row[0] for row in await read_rows(session, select(AppointmentType.key)))


async def type_buffers(session: AsyncSession, key: Any) -> tuple[int | None, int | None]:
    """The buffers (before, after) a type sets instead of the provider's; None: not set."""
    if not isinstance(key, str):
        return None, None
    rows = await read_rows(
        session,
        select(AppointmentType.buffer_before_minutes, AppointmentType.buffer_after_minutes).where(
            AppointmentType.key == key
        ),
    )
    if not rows:
        return None, None
    return rows[0].buffer_before_minutes, rows[0].buffer_after_minutes


async def cutoff_minutes(
    session: AsyncSession, kind: str, provider_id: int, type_key: str | None
) -> int | None:
    """The ``kind`` cutoff (``cancellation`` or ``reschedule``) of a booking of type
    ``type_key`` with the provider: the type's where it sets one, the provider's otherwise.
    One statement."""
    column = f"{kind}_cutoff_minutes"
    own = getattr(Provider, column)
    if type_key is not None:
        by_type = (
            select(getattr(AppointmentType, column))
            .where(AppointmentType.key == type_key)
            .scalar_subquery()
        )
        own = func.coalesce(by_type, own)
    rows = await read_rows(session, select(own).where(Provider.id == provider_id))
    return rows[0][0] if rows else None


def check_key_in(
    errors: FieldErrors, value: Any, keys: Collection[str], name: str = "appointment_type"
) -> None:
    """``value`` (when given) must be one of ``keys``."""
    if value is None:
        return
    if not isinstance(value, str) or value not in keys:
        errors.add(name, "is not included in the list")


async def check_appointment_type(
    session: AsyncSession, errors: FieldErrors, value: Any, name: str = "appointment_type"
) -> None:
    """An ``appointment_type`` value (when given) must be the key of an active type."""
    if value is None:
        return
    wanted = value if isinstance(value, str) else None
    check_key_in(errors, value, await active_keys(session, wanted) if wanted else (), name)


def _whole(
    errors: FieldErrors,
    name: str,
    value: Any,
    low: int,
    *,
    nullable: bool,
    high: int = MAX_MINUTES,
) -> None:
    if value is None:
        if not nullable:
            errors.add(name, "can't be blank")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "is invalid")
    elif value < low:
        errors.add(name, f"must be greater than or equal to {low}")
    elif value > high:
        errors.add(name, f"must be less than or equal to {high}")


def _check(errors: FieldErrors, values: Mapping[str, Any], *, creating: bool) -> None:
    if creating or "key" in values:
        key = values.get("key")
        if key is None or (isinstance(key, str) and not key.strip()):
            errors.add("key", "can't be blank")
        elif not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            errors.add("key", "is invalid")
    if creating or "name" in values:
        name = values.get("name")
        if name is None or (isinstance(name, str) and not name.strip()):
            errors.add("name", "can't be blank")
        elif not isinstance(name, str):
            errors.add("name", "is invalid")
        elif len(name.strip()) > NAME_MAX:
            errors.add("name", f"is too long (maximum is {NAME_MAX} characters)")
    if creating or "duration_minutes" in values:
        _whole(errors, "duration_minutes", values.get("duration_minutes"), 1, nullable=False)
    for buffer in ("buffer_before_minutes", "buffer_after_minutes"):
        if buffer in values:
            _whole(errors, buffer, values[buffer], 0, nullable=True)
    for cutoff in CUTOFFS:
        if cutoff in values:
            _whole(errors, cutoff, values[cutoff], 0, nullable=True, high=MAX_CUTOFF_MINUTES)
    if "modes" in values:
        modes = values["modes"]
        if not isinstance(modes, list) or not all(isinstance(mode, str) for mode in modes):
            errors.add("modes", "is invalid")
        elif not modes:
            errors.add("modes", "can't be blank")
        elif any(mode not in APPOINTMENT_MODES for mode in modes):
            errors.add("modes", "is not included in the list")
    if "active" in values and not isinstance(values["active"], bool):
        errors.add("active", "is invalid")


def _ordered_modes(modes: list[str]) -> list[str]:
    return [mode for mode in APPOINTMENT_MODES if mode in modes]


async def list_types(session: AsyncSession, *, active: bool | None = None) -> list[AppointmentType]:
    stmt = select(AppointmentType).order_by(AppointmentType.id)
    if active is not None:
        stmt = stmt.where(AppointmentType.active.is_(active))
    return list((await session.execute(stmt)).scalars())


async def get_type(session: AsyncSession, type_id: int) -> AppointmentType:
    found = await session.get(AppointmentType, type_id)
    if found is None:
        raise NotFound()
    return found


async def get_type_by_key(session: AsyncSession, key: str) -> AppointmentType:
    found = (
        await session.execute(select(AppointmentType).where(AppointmentType.key == key))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


def _taken() -> ValidationFailed:
    return ValidationFailed.one("key", "has already been taken")


async def create_type(session: AsyncSession, values: Mapping[str, Any]) -> AppointmentType:
    """A new type from the fields given (``modes`` defaults to every mode)."""
    errors = FieldErrors()
    _check(errors, values, creating=True)
    errors.raise_if_any()
    try:
        async with write_transaction(session):
            row = AppointmentType(
                key=values["key"],
                name=values["name"].strip(),
                duration_minutes=values["duration_minutes"],
                buffer_before_minutes=values.get("buffer_before_minutes"),
                buffer_after_minutes=values.get("buffer_after_minutes"),
                cancellation_cutoff_minutes=values.get("cancellation_cutoff_minutes"),
                reschedule_cutoff_minutes=values.get("reschedule_cutoff_minutes"),
                modes=_ordered_modes(values.get("modes") or list(APPOINTMENT_MODES)),
                active=values.get("active", True),
            )
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        if is_constraint_violation(exc, UNIQUE_KEY, "appointment_types.key"):
            raise _taken() from None
        raise
    forget_cached_keys(session)
    return row


async def update_type(
    session: AsyncSession, type_id: int, values: Mapping[str, Any]
) -> AppointmentType:
    """Change the fields given; the key of a type cannot change (slots carry it)."""
    errors = FieldErrors()
    _check(errors, values, creating=False)
    async with write_transaction(session):
        row = await session.get(AppointmentType, type_id)
        if row is None:
            raise NotFound()
        if "key" in values and values["key"] != row.key and not errors.has("key"):
            errors.add("key", "can't be changed")
        errors.raise_if_any()
        for name in FIELDS:
            if name not in values or name == "key":
                continue
            value = values[name]
            if name == "name":
                value = value.strip()
            elif name == "modes":
                value = _ordered_modes(value)
            setattr(row, name, value)
        await session.flush()
    forget_cached_keys(session)
    return row
