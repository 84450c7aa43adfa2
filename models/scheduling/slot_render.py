"""Slots rendered by the database in a caller's own shape: one statement, one JSON text.

A :class:`Pick` names a key of the output and the record field it shows (or a constant's
JSON), in the caller's order; a page is an object of ``total_count``, ``page_info``
(``has_next_page``, ``has_previous_page``, ``start_cursor``,
``end_cursor``), ``edges`` (``cursor``, ``node``) and ``nodes``. The
record kinds below say which fields exist and what each holds, so a caller can check a
shape before asking for it (:func:`check`); a field not listed is refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Text, bindparam, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import NODE_ID_FUNCTION, TIME_ID_CURSOR_FUNCTION, read_rows
from models.platform.errors import NotFound
from models.platform.json_text import JsonText, Sql, concat, sql_text
from models.scheduling.slot_documents import instant_text
from models.scheduling.slots import (
    RULE_COLUMNS,
    SLOT_COLUMNS,
    SLOTS_TABLE,
    SLOTS_WITH_PROVIDER,
    SlotFilters,
    SlotKey,
    SlotShape,
    check_search,
    keyset_condition,
    search_query,
    shape_conditions,
    slot_query,
)

# What a value is: how it is written, and what a caller may show it as.
INTEGER, STRING, BOOLEAN, INSTANT = "integer", "string", "boolean", "instant"
# An enum's name: the stored text in capitals. A record's global id: base64 of
# ``TypeName:id`` (the record kind's ``node_type``).
ENUM, NODE_ID = "enum", "node_id"


@dataclass(frozen=True, slots=True)
class Pick:
    """One key of an output object: a field of the record, or a constant (``name`` "")."""

    key: str
    name: str
    constant: str = ""
    sub: tuple[Pick, ...] = ()


Picks = tuple[Pick, ...]


@dataclass(frozen=True)
class Record:
    """The fields of a record kind: values (kind, column) and nested objects (kind, list)."""

    values: Mapping[str, tuple[str, str]]
    objects: Mapping[str, tuple[Record, bool]] = field(default_factory=dict)
    node_type: str = ""


class Unrenderable(Exception):
    """The shape names a field this module cannot render."""


RULES = Record({name: (INTEGER, f"provider_{name}") for name in RULE_COLUMNS})
PROVIDER = Record(
    {
        "id": (INTEGER, "provider_id"),
        "node_id": (NODE_ID, "provider_id"),
        "first_name": (STRING, "provider_first_name"),
        "last_name": (STRING, "provider_last_name"),
        "time_zone": (STRING, "provider_time_zone"),
        "active": (BOOLEAN, "provider_active"),
    },
    {"booking_rules": (RULES, False)},
    node_type="Provider",
)
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
PAGE_INFO = Record(
    {
        "has_next_page": (BOOLEAN, ""),
        "has_previous_page": (BOOLEAN, ""),
        "start_cursor": (STRING, ""),
        "end_cursor": (STRING, ""),
    }
)
EDGE = Record({"cursor": (STRING, "")}, {"node": (SLOT, False)})
PAGE = Record(
    {"total_count": (INTEGER, "")},
    {"page_info": (PAGE_INFO, False), "edges": (EDGE, True), "nodes": (SLOT, True)},
)


def check(picks: Picks, record: Record) -> None:
    """Raises :class:`Unrenderable` for a field ``record`` does not have."""
    for pick in picks:
        if not pick.name:
            continue
        if pick.name in record.objects:
            check(pick.sub, record.objects[pick.name][0])
        elif pick.name not in record.values or pick.sub:
            raise Unrenderable(pick.name)


def _node_id(node_type: str, column: Any, dialect: str) -> Sql:
    """``encode_node_id(node_type, id)``, computed by the database (null for a null id)."""
    if dialect != "postgresql":
        return getattr(func, NODE_ID_FUNCTION)(sql_text(node_type), column)
    text = concat([f"{node_type}:", cast(column, Text)])
    # Short enough that PostgreSQL's base64 never breaks the line.
    return func.encode(func.convert_to(text, sql_text("UTF8")), sql_text("base64"))


def _value(js: JsonText, kind: str, column: Any, dialect: str, node_type: str = "") -> Sql:
    if kind == INTEGER:
        return js.integer(column)
    if kind == BOOLEAN:
        return js.boolean(column)
    if kind == INSTANT:
        return js.string(instant_text(column, dialect))
    if kind == ENUM:
        return js.string(func.upper(column))
    if kind == NODE_ID:
        return js.string(_node_id(node_type, column, dialect))
    return js.string(column)


def _object(js: JsonText, picks: Picks, record: Record, columns: Any, dialect: str) -> Sql:
    pairs: list[tuple[str, Sql | str]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name in record.objects:
            nested = record.objects[pick.name][0]
            pairs.append((pick.key, _object(js, pick.sub, nested, columns, dialect)))
        else:
            kind, column = record.values[pick.name]
            pairs.append((pick.key, _value(js, kind, columns[column], dialect, record.node_type)))
    return js.object(pairs)


def _cursor(columns: Any, dialect: str) -> Sql:
    """``time_id_cursor(start_time, id)`` of a row, computed by the database."""
    if dialect != "postgresql":
        return func.coalesce(
            getattr(func, TIME_ID_CURSOR_FUNCTION)(columns.start_time, columns.id),
            sql_text(""),
        )
    utc = columns.start_time.op("AT TIME ZONE")(sql_text("UTC"))
    fraction = func.nullif(func.to_char(utc, sql_text(".US")), sql_text(".000000"))
    iso = concat(
        [
            func.to_char(utc, sql_text('YYYY-MM-DD"T"HH24:MI:SS')),
            func.coalesce(fraction, sql_text("")),
            "+00:00|",
            cast(columns.id, Text),
        ]
    )
    encoded = func.encode(func.convert_to(iso, sql_text("UTF8")), sql_text("base64"))
    return func.translate(encoded, literal_column("E'+/\\n'"), sql_text("-_"))


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    row = (
        select(*SLOT_COLUMNS)
        .select_from(SLOTS_WITH_PROVIDER)
        .where(SLOTS_TABLE.c.id == bindparam("slot_id"))
        .subquery("slot")
    )
    body = _object(JsonText(dialect), picks, SLOT, row.c, dialect)
    return select(body.label("body")).select_from(row)


@lru_cache(maxsize=512)
def _page_statement(picks: Picks, shape: SlotShape, dialect: str) -> Select[Any]:
    conditions = shape_conditions(shape)
    c = SLOTS_TABLE.c
    limited = (
        select(*SLOT_COLUMNS)
        .select_from(SLOTS_WITH_PROVIDER)
        .where(*conditions, *((keyset_condition(),) if shape.keyset else ()))
        .order_by(c.start_time, c.id)
        .limit(bindparam("page_limit"))
        .subquery("limited")
    )
    order = func.row_number().over(order_by=(limited.c.start_time, limited.c.id))
    page = select(*limited.c, order.label("rn")).cte("page")
    p = page.c
    js = JsonText(dialect)
    shown = p.rn <= bindparam("page_first")
    pairs: list[tuple[str, Sql | str]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name == "total_count":
            total = select(func.count()).select_from(SLOTS_TABLE).where(*conditions)
            pairs.append((pick.key, cast(total.scalar_subquery(), Text)))
        elif pick.name == "page_info":
            pairs.append((pick.key, _page_info(js, pick.sub, page, shape, dialect)))
        elif pick.name == "nodes":
            node = _object(js, pick.sub, SLOT, p, dialect)
            pairs.append((pick.key, js.array(node, page, p.rn, where=shown)))
        else:  # edges
            edge: list[tuple[str, Sql | str]] = []
            for part in pick.sub:
                if not part.name:
                    edge.append((part.key, part.constant))
                elif part.name == "cursor":
                    edge.append((part.key, concat(['"', _cursor(p, dialect), '"'])))
                else:
                    edge.append((part.key, _object(js, part.sub, SLOT, p, dialect)))
            pairs.append((pick.key, js.array(js.object(edge), page, p.rn, where=shown)))
    return select(js.object(pairs).label("body"))


def _page_info(js: JsonText, picks: Picks, page: Any, shape: SlotShape, dialect: str) -> Sql:
    p = page.c
    pairs: list[tuple[str, Sql | str]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name == "has_next_page":
            rows = select(func.count()).select_from(page).scalar_subquery()
            more = case((rows > bindparam("page_first"), sql_text("true")), else_=sql_text("false"))
            pairs.append((pick.key, more))
        elif pick.name == "has_previous_page":
            # As the rows path answers forwards: true exactly when a cursor was given.
            pairs.append((pick.key, "true" if shape.keyset else "false"))
        else:  # start_cursor, end_cursor: the first and the last shown edge's cursor
            edge = p.rn if pick.name == "start_cursor" else p.rn.desc()
            cursor = (
                select(concat(['"', _cursor(p, dialect), '"']))
                .where(p.rn <= bindparam("page_first"))
                .order_by(edge)
                .limit(1)
                .scalar_subquery()
            )
            pairs.append((pick.key, func.coalesce(cursor, sql_text("null"))))
    return js.object(pairs)


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


async def _page(
    session: AsyncSession, picks: Picks, shape: SlotShape, params: dict[str, Any], first: int
) -> str:
    params["page_limit"] = first + 1
    params["page_first"] = first
    [row] = await read_rows(session, _page_statement(picks, shape, _dialect(session)), params)
    return str(row.body)


async def slot_json(session: AsyncSession, picks: Picks, slot_id: int) -> str:
    """One slot (``get_slot``) as JSON in the shape of ``picks``; NotFound without it."""
    rows = await read_rows(session, _one_statement(picks, _dialect(session)), {"slot_id": slot_id})
    if not rows or rows[0].body is None:
        raise NotFound()
    return str(rows[0].body)


async def slot_page_json(
    session: AsyncSession,
    picks: Picks,
    filters: SlotFilters,
    *,
    first: int,
    zone: ZoneInfo,
    after: SlotKey | None = None,
) -> str:
    """``list_slots``'s first ``first`` slots as a page in the shape of ``picks``."""
    shape, params = slot_query(filters, zone, after=after)
    return await _page(session, picks, shape, params, first)


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
    )
    return await _page(session, picks, shape, params, first)
