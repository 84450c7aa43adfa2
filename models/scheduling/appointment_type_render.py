"""Appointment types rendered by the database in a caller's own shape, one statement
each: one type by key, or the catalog in id order (as ``get_type_by_key`` and
``list_types`` read them)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.entities import AppointmentType
from models.platform.record_render import (
    BOOLEAN,
    ENUMS,
    INSTANT,
    INTEGER,
    STRING,
    Picks,
    Record,
    dialect_of,
    list_statement,
    one_json,
    one_statement,
)

TYPES = AppointmentType.__table__
APPOINTMENT_TYPE = Record(
    {
        "id": (INTEGER, "id"),
        "key": (STRING, "key"),
        "name": (STRING, "name"),
        "duration_minutes": (INTEGER, "duration_minutes"),
        "buffer_before_minutes": (INTEGER, "buffer_before_minutes"),
        "buffer_after_minutes": (INTEGER, "buffer_after_minutes"),
        "cancellation_cutoff_minutes": (INTEGER, "cancellation_cutoff_minutes"),
        "reschedule_cutoff_minutes": (INTEGER, "reschedule_cutoff_minutes"),
        "modes": (ENUMS, "modes"),
        "active": (BOOLEAN, "active"),
        "created_at": (INSTANT, "created_at"),
        "updated_at": (INSTANT, "updated_at"),
    }
)


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    row = select(TYPES).where(TYPES.c.key == bindparam("type_key")).subquery("row")
    return one_statement(picks, APPOINTMENT_TYPE, row, dialect)


@lru_cache(maxsize=256)
def _list_statement(picks: Picks, active: bool | None, dialect: str) -> Select[Any]:
    rows = select(TYPES)
    if active is not None:
        rows = rows.where(TYPES.c.active.is_(active))
    return list_statement(picks, APPOINTMENT_TYPE, rows.subquery("rows"), ("id",), dialect)


async def type_json(session: AsyncSession, picks: Picks, key: str) -> str:
    """One type by key as JSON in the shape of ``picks``; NotFound without it."""
    statement = _one_statement(picks, dialect_of(session))
    return await one_json(session, statement, {"type_key": key})


async def types_json(session: AsyncSession, picks: Picks, *, active: bool | None = None) -> str:
    """The catalog in id order as a JSON array in the shape of ``picks``."""
    [row] = await read_rows(session, _list_statement(picks, active, dialect_of(session)), {})
    return str(row.body)
