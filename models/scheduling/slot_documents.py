"""Slot pages rendered to JSON by the database: one statement, one text value.

The documented Available Slot Response (nested provider included), as
``rest_compat.render.slot_json`` builds it from a row, but built by PostgreSQL
or SQLite as the same compact text (``models.platform.json_text``): no per-row Python
work at all. The total rides in the same statement, so even a page
past the end costs one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.errors import NotFound
from models.platform.json_text import JsonText
from models.platform.pagination import PageRequest
from models.platform.record_render import dialect_of
from models.platform.timeutil import now_utc
from models.scheduling.slots import (
    PROVIDERS_TABLE,
    SLOTS_TABLE,
    SLOTS_WITH_PROVIDER,
    SlotFilters,
    SlotKey,
    SlotShape,
    available_column,
    check_search,
    keyset_condition,
    shape_conditions,
    slot_query,
)


@dataclass(frozen=True, slots=True)
class SlotDocument:
    """A page of slots as JSON text (an array), and the total of the whole list."""

    body: str
    total: int


def _key(name: str) -> Any:
    return literal_column(f"'{name}'")


def _slot_rows(*, open_only: bool = False) -> Select[Any]:
    """The columns of the documented slot object (conditions to be added); ``open_only``
    as :func:`available_column`'s."""
    c = SLOTS_TABLE.c
    return select(
        c.id,
        c.provider_id,
        c.start_time,
        c.end_time,
        c.appointment_type,
        available_column(open_only=open_only),
        c.recurring,
        c.recurrence_pattern,
        c.created_at,
        c.updated_at,
        c.capacity,
        c.booked_count,
        c.resource_kind,
        c.resource_id,
        PROVIDERS_TABLE.c.first_name,
        PROVIDERS_TABLE.c.last_name,
    ).select_from(SLOTS_WITH_PROVIDER)


def _matching_rows(shape: SlotShape, conditions: Any) -> Select[Any]:
    """The slot rows a list of ``shape`` holds (``conditions``: its ``shape_conditions``)."""
    return _slot_rows(open_only=shape.available is True).where(*conditions)


@lru_cache(maxsize=4)
def _one_statement(dialect: str) -> Select[Any]:
    row = _slot_rows().where(SLOTS_TABLE.c.id == bindparam("slot_id")).subquery("slot")
    return select(JsonText(dialect).text(_item(row.c, dialect)).label("body"))


async def one_slot_document(session: AsyncSession, slot_id: int) -> str:
    """One slot as the documented Available Slot Response (JSON text); NotFound without it."""
    rows = await read_rows(
        session, _one_statement(dialect_of(session)), {"slot_id": slot_id}, quick=True
    )
    if not rows:
        raise NotFound()
    return str(rows[0].body)


@lru_cache(maxsize=512)
def _document_statement(shape: SlotShape, dialect: str) -> Select[Any]:
    conditions = shape_conditions(shape)
    c = SLOTS_TABLE.c
    matching = _matching_rows(shape, conditions)
    if shape.rules and not shape.keyset:
        # The booking rules are correlated subqueries per slot: a search (one day) checks
        # them once per slot, then counts and pages the same rows.
        matched = matching.cte("matched").prefix_with("MATERIALIZED")
        m = matched.c
        rows = (
            select(matched)
            .order_by(m.start_time, m.id)
            .limit(bindparam("page_limit"))
            .offset(bindparam("page_offset"))
            .subquery("page")
        )
        total = select(func.count()).select_from(matched).scalar_subquery()
        return select(total.label("total"), _page_json(rows, dialect).label("body"))
    page = matching.order_by(c.start_time, c.id).limit(bindparam("page_limit"))
    if shape.keyset:
        page = page.where(keyset_condition())
    else:
        page = page.offset(bindparam("page_offset"))
    total = select(func.count()).select_from(SLOTS_TABLE).where(*conditions).scalar_subquery()
    return select(total.label("total"), _page_json(page.subquery("page"), dialect).label("body"))


@lru_cache(maxsize=512)
def _rule_page_statement(shape: SlotShape, dialect: str) -> Select[Any]:
    """The page of a list under the booking rules alone: one slot object per row, in
    start order."""
    r = _matching_rows(shape, shape_conditions(shape)).subquery("slot").c
    return (
        select(JsonText(dialect).text(_item(r, dialect)).label("item"))
        .order_by(r.start_time, r.id)
        .limit(bindparam("page_limit"))
        .offset(bindparam("page_offset"))
    )


def _page_json(rows: Any, dialect: str) -> Any:
    """The documented slot objects of ``rows``, as one JSON array in start order."""
    r = rows.c
    return JsonText(dialect).array(_item(r, dialect), rows, r.start_time, r.id)


def _item(r: Any, dialect: str) -> Any:
    """The documented slot object of a row of ``_slot_rows``' columns."""
    js = JsonText(dialect)
    return js.object_parts([
        ("id", js.integer(r.id)),
        ("provider_id", js.integer(r.provider_id)),
        ("start_time", js.instant(r.start_time)),
        ("end_time", js.instant(r.end_time)),
        ("appointment_type", js.string(r.appointment_type)),
        ("available", js.boolean(r.available)),
        ("recurring", js.boolean(r.recurring)),
        ("recurrence_pattern", js.string(r.recurrence_pattern)),
        ("created_at", js.instant(r.created_at)),
        ("updated_at", js.instant(r.updated_at)),
        ("provider", js.object_parts([
            ("id", js.integer(r.provider_id)),
            ("first_name", js.string(r.first_name)),
            ("last_name", js.string(r.last_name)),
        ])),
        ("capacity", js.integer(r.capacity)),
        ("booked_count", js.integer(r.booked_count)),
        ("resource_kind", js.string(r.resource_kind)),
        ("resource_id", js.integer(r.resource_id)),
    ])  # fmt: skip


async def slot_document(
    session: AsyncSession,
    filters: SlotFilters,
    *,
    page: PageRequest,
    zone: ZoneInfo,
    after: SlotKey | None = None,
    future_after: datetime | None = None,
    min_duration: int | None = None,
    rules: bool = False,
) -> SlotDocument:
    """The page of slots as the documented JSON array, and the list's total."""
    shape, params = slot_query(
        filters,
        zone,
        after=after,
        future_after=future_after,
        min_duration=min_duration,
        rules=rules,
    )
    params["page_limit"] = page.page_size
    if not shape.keyset:
        params["page_offset"] = page.offset
    dialect = dialect_of(session)
    if shape.rules and not shape.keyset:
        # Most searches fit in their first page: then the page is the whole list and
        # counts itself, and the rules run once, without a materialised list to count.
        rows = await read_rows(
            session, _rule_page_statement(shape, dialect), params, quick=filters.few
        )
        if len(rows) < page.page_size and (rows or not page.offset):
            body = ",".join([row.item for row in rows])
            return SlotDocument(body=f"[{body}]", total=page.offset + len(rows))
    statement = _document_statement(shape, dialect)
    [row] = await read_rows(session, statement, params, quick=filters.few)
    return SlotDocument(body=row.body or "[]", total=row.total)


async def search_document(
    session: AsyncSession,
    *,
    provider_id: int | None,
    on_date: Any,
    duration: int | None,
    appointment_type: str | None,
    page: PageRequest,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> SlotDocument:
    """``search_slots`` as a document."""
    await check_search(session, duration=duration, appointment_type=appointment_type)
    filters = SlotFilters(
        provider_id=provider_id,
        start_date=on_date,
        end_date=on_date,
        available=True,
        appointment_type=appointment_type,
    )
    return await slot_document(
        session,
        filters,
        page=page,
        zone=zone,
        future_after=now or now_utc(),
        min_duration=duration,
        rules=True,
    )
