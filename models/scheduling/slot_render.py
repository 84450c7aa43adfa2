"""Slots rendered by the database in a caller's own shape: one statement, one JSON text.

The slot record kinds (a slot with its provider, and their pages), and the statements
reading them; the JSON is built by :mod:`models.platform.record_render`.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.pagination import keyset_order
from models.platform.record_render import (
    BOOLEAN,
    ENUM,
    INSTANT,
    INTEGER,
    NODE_ID,
    STRING,
    Listing,
    Picks,
    Record,
    columns_of,
    dialect_of,
    one_json,
    one_statement,
    page_params,
    page_record,
    page_statement,
    time_id_cursor,
)
from models.scheduling.provider_matching import MATCHING_FIELDS
from models.scheduling.provider_render import provider_record
from models.scheduling.slots import (
    PROVIDERS_TABLE,
    SLOT_COLUMNS,
    SLOTS_TABLE,
    SLOTS_WITH_PROVIDER,
    SlotFilters,
    SlotKey,
    SlotShape,
    available_column,
    check_search,
    keyset_condition,
    search_query,
    shape_conditions,
    slot_query,
)

PROVIDER = provider_record("provider_")
SLOT = Record(
    {
        "id": (INTEGER, "id"),
        "node_id": (NODE_ID, "id"),
        "provider_id": (INTEGER, "provider_id"),
        "start_time": (INSTANT, "start_time"),
        "end_time": (INSTANT, "end_time"),
        "duration_minutes": (INTEGER, "duration_minutes"),
        "appointment_type": (STRING, "appointment_type"),
        "available": (BOOLEAN, "available"),
        "recurring": (BOOLEAN, "recurring"),
        "recurrence_pattern": (ENUM, "recurrence_pattern"),
        "recurrence_rule": (STRING, "recurrence_rule"),
        "series_id": (INTEGER, "series_id"),
        "created_at": (INSTANT, "created_at"),
        "updated_at": (INSTANT, "updated_at"),
        "capacity": (INTEGER, "capacity"),
        "booked_count": (INTEGER, "booked_count"),
        "resource_kind": (STRING, "resource_kind"),
        "resource_id": (INTEGER, "resource_id"),
    },
    {"provider": (PROVIDER, False)},
    node_type="AvailableSlot",
)
PAGE = page_record(SLOT)
# A slot row as rendered: ``SLOT_COLUMNS`` and its provider's matching lists.
RENDERED_SLOT_COLUMNS = (
    *SLOT_COLUMNS,
    *(PROVIDERS_TABLE.c[name].label(f"provider_{name}") for name in MATCHING_FIELDS),
)


_RENDERED_KEYS = frozenset(column.key for column in RENDERED_SLOT_COLUMNS)


def slot_columns(picks: Picks, record: Record) -> tuple[Any, ...]:
    """The columns of ``RENDERED_SLOT_COLUMNS`` the object of ``picks`` reads, and the
    page order's (an unread column, such as a slot's availability, is not computed)."""
    needed = columns_of(picks, record)
    if needed is None or not needed <= _RENDERED_KEYS:
        return RENDERED_SLOT_COLUMNS
    kept = needed | {"id", "start_time"}
    return tuple(column for column in RENDERED_SLOT_COLUMNS if column.key in kept)


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    row = (
        select(*slot_columns(picks, SLOT))
        .select_from(SLOTS_WITH_PROVIDER)
        .where(SLOTS_TABLE.c.id == bindparam("slot_id"))
        .subquery("slot")
    )
    return one_statement(picks, SLOT, row, dialect)


def slot_listing(
    shape: SlotShape, dialect: str, columns: tuple[Any, ...] = RENDERED_SLOT_COLUMNS
) -> Listing:
    """The slots of a page of ``shape`` (``slot_query``'s parameters), in (start, id) order,
    as rows of ``columns``."""
    conditions = shape_conditions(shape)
    c = SLOTS_TABLE.c
    rows = (
        select(*columns)
        .select_from(SLOTS_WITH_PROVIDER)
        .where(*conditions, *((keyset_condition(backward=shape.backward),) if shape.keyset else ()))
        .order_by(*keyset_order((c.start_time, c.id), backward=shape.backward))
        .limit(bindparam("page_limit"))
        .subquery("limited")
    )
    return Listing(
        rows,
        ("start_time", "id"),
        select(func.count()).select_from(SLOTS_TABLE).where(*conditions),
        lambda columns: time_id_cursor(columns.start_time, columns.id, dialect),
        keyset=shape.keyset,
        backward=shape.backward,
    )


@lru_cache(maxsize=512)
def _page_statement(picks: Picks, shape: SlotShape, dialect: str) -> Select[Any]:
    columns = slot_columns(picks, PAGE)
    if shape.available is True:
        columns = tuple(
            available_column(open_only=True) if column.key == "available" else column
            for column in columns
        )
    listing = slot_listing(shape, dialect, columns)
    return page_statement(picks, SLOT, listing, dialect)


async def _page(
    session: AsyncSession,
    picks: Picks,
    shape: SlotShape,
    params: dict[str, Any],
    first: int,
    *,
    quick: bool = False,
) -> str:
    statement = _page_statement(picks, shape, dialect_of(session))
    [row] = await read_rows(session, statement, page_params(params, first), quick=quick)
    return str(row.body)


async def slot_json(session: AsyncSession, picks: Picks, slot_id: int) -> str:
    """One slot (``get_slot``) as JSON in the shape of ``picks``; NotFound without it."""
    statement = _one_statement(picks, dialect_of(session))
    return await one_json(session, statement, {"slot_id": slot_id})


async def slot_page_json(
    session: AsyncSession,
    picks: Picks,
    filters: SlotFilters,
    *,
    first: int,
    zone: ZoneInfo,
    after: SlotKey | None = None,
    backward: bool = False,
) -> str:
    """``list_slots``'s page of ``first`` slots past ``after`` (before it when
    ``backward``) in the shape of ``picks``."""
    shape, params = slot_query(filters, zone, after=after, backward=backward)
    return await _page(session, picks, shape, params, first, quick=filters.few)


async def search_page_json(
    session: AsyncSession,
    picks: Picks,
    *,
    provider_id: int | None,
    on_date: date | None,
    duration: int | None,
    appointment_type: str | None,
    first: int,
    zone: ZoneInfo,
    now: datetime | None = None,
    after: SlotKey | None = None,
    backward: bool = False,
) -> str:
    """``search_slots`` as a page in the shape of ``picks``."""
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
    return await _page(session, picks, shape, params, first, quick=quick)
