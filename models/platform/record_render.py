"""Records rendered by the database in a caller's own shape: one statement, one JSON text.

A :class:`Pick` names a key of the output and the record field it shows (or a constant's
JSON), in the caller's order. A :class:`Record` says which fields a kind of record has and
what each holds, so a caller can check a shape before asking for it (:func:`check`); a
field not listed is refused, never guessed. A page (:func:`page_record`) is an object of
``total_count``, ``page_info`` (``has_next_page``, ``has_previous_page``, ``start_cursor``,
``end_cursor``), ``edges`` (``cursor``, ``node``) and ``nodes``, forwards or backwards.

Each area's render module (``slot_render``, ``booking_render``, ``provider_render``...)
declares its records and the rows they are read from; the JSON is built here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, Text, bindparam, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import (
    NODE_ID_FUNCTION,
    read_rows,
)
from models.platform.errors import NotFound
from models.platform.json_text import JsonText, Parts, Sql, Value, concat, day_text, sql_text

# What a value is: how it is written, and what a caller may show it as.
INTEGER, STRING, BOOLEAN, INSTANT = "integer", "string", "boolean", "instant"
# An enum's name: the stored text in capitals. A record's global id: base64 of
# ``TypeName:id`` (the record kind's ``node_type``).
ENUM, NODE_ID = "enum", "node_id"
# A calendar day (``YYYY-MM-DD``).
DAY = "day"
# Lists stored as a JSON array of text: shown as strings, or as enum names.
STRINGS, ENUMS = "string[]", "enum[]"


@dataclass(frozen=True, slots=True)
class Pick:
    """One key of an output object: a field of the record, or a constant (``name`` "")."""

    key: str
    name: str
    constant: str = ""
    sub: tuple[Pick, ...] = ()
    # Statements are cached by their picks on every request: the hash is worked out once.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.key, self.name, self.constant, self.sub)))

    def __hash__(self) -> int:
        return self._hash


Picks = tuple[Pick, ...]


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of a nested list: ``source`` (a table or subquery), its columns' names in
    the list's order, and the condition tying them to the enclosing row."""

    source: Any
    order: tuple[str, ...]
    where: Any
    outer: Any  # the enclosing row source ``where`` names


@dataclass(frozen=True)
class Record:
    """The fields of a record kind: values (kind, column) and nested objects (kind, list).

    A nested object is read from the enclosing row's own columns; a nested list from the
    rows ``lists`` gives for it, given the enclosing row's columns.
    """

    values: Mapping[str, tuple[str, str]]
    objects: Mapping[str, tuple[Record, bool]] = field(default_factory=dict)
    node_type: str = ""
    lists: Mapping[str, Callable[[Any], Rows]] = field(default_factory=dict)


class Unrenderable(Exception):
    """The shape names a field the record kind does not render."""


PAGE_INFO = Record(
    {
        "has_next_page": (BOOLEAN, ""),
        "has_previous_page": (BOOLEAN, ""),
        "start_cursor": (STRING, ""),
        "end_cursor": (STRING, ""),
    }
)


def page_record(node: Record) -> Record:
    """A connection of ``node`` records."""
    edge = Record({"cursor": (STRING, "")}, {"node": (node, False)})
    return Record(
        {"total_count": (INTEGER, "")},
        {"page_info": (PAGE_INFO, False), "edges": (edge, True), "nodes": (node, True)},
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


def columns_of(picks: Picks, record: Record) -> frozenset[str] | None:
    """The row columns the object of ``picks`` reads (pages: its nodes' and edges'), so a
    statement selects only those; None where a nested list reads rows of its own."""
    needed: set[str] = set()

    def walk(picks: Picks, record: Record) -> bool:
        for pick in picks:
            if not pick.name:
                continue
            if pick.name in record.lists:
                return False
            if pick.name in record.objects:
                if not walk(pick.sub, record.objects[pick.name][0]):
                    return False
            elif record.values[pick.name][1]:
                needed.add(record.values[pick.name][1])
        return True

    return frozenset(needed) if walk(picks, record) else None


def dialect_of(session: AsyncSession) -> str:
    # The sync session's own bind: the async one's property translates it on every call.
    bind = session.sync_session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def node_id(node_type: str, column: Any, dialect: str) -> Sql:
    """``encode_node_id(node_type, id)``, computed by the database (null for a null id)."""
    if dialect != "postgresql":
        return getattr(func, NODE_ID_FUNCTION)(sql_text(node_type), column)
    text = concat([f"{node_type}:", cast(column, Text)])
    return func.encode(func.convert_to(text, sql_text("UTF8")), sql_text("base64"))


def time_id_cursor(moment: Any, ident: Any, dialect: str) -> Sql:
    """``time_id_cursor(moment, id)`` of a row, computed by the database."""
    instant: Sql
    if dialect == "postgresql":
        utc = moment.op("AT TIME ZONE")(sql_text("UTC"))
        instant = func.to_char(utc, sql_text("YYYYMMDDHH24MISSUS"))
    else:
        # The stored text, ``YYYY-MM-DD HH:MM:SS`` with or without ``.ffffff``, to its
        # twenty digits (positions written into the statement, not bound on every run).
        instant = func.substr(
            concat([cast(moment, Text), ".000000"]), literal_column("1"), literal_column("26")
        )
        for separator in ("-", " ", ":", "."):
            instant = func.replace(instant, sql_text(separator), sql_text(""))
    return concat([instant, ".", cast(ident, Text)])


def id_cursor(ident: Any, dialect: str) -> Sql:
    """``encode_cursor(id)``: the id's digits."""
    return cast(ident, Text)


def _text_list(js: JsonText, column: Any, dialect: str, upper: bool) -> Sql:
    """A JSON array of text stored in ``column``, rewritten compact (``[]`` for null)."""
    if dialect == "postgresql":
        items = func.json_array_elements_text(column).table_valued(
            "value", with_ordinality="ordinality"
        )
        value = func.upper(items.c.value) if upper else items.c.value
        return js.array(js.string(value), items, items.c.ordinality)
    items = func.json_each(column).table_valued("value", "key")
    value = func.upper(items.c.value) if upper else items.c.value
    return js.array(js.string(value), items, items.c.key)


def value(js: JsonText, kind: str, column: Any, dialect: str, node_type: str = "") -> Value:
    """The JSON text of one value of ``kind``."""
    if kind == INTEGER:
        return js.integer(column)
    if kind == BOOLEAN:
        return js.boolean(column)
    if kind == INSTANT:
        return js.instant(column)
    if kind == DAY:
        return js.string(day_text(column, dialect))
    if kind == ENUM:
        return js.string(func.upper(column))
    if kind == NODE_ID:
        return js.string(node_id(node_type, column, dialect))
    if kind in (STRINGS, ENUMS):
        return _text_list(js, column, dialect, kind == ENUMS)
    return js.string(column)


def record_object(js: JsonText, picks: Picks, record: Record, columns: Any, dialect: str) -> Parts:
    """The object of ``picks`` over one row's ``columns`` (nested objects from the same row)."""
    pairs: list[tuple[str, Value]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name in record.lists:
            rows = record.lists[pick.name](columns)
            nested = record.objects[pick.name][0]
            item = record_object(js, pick.sub, nested, rows.source.c, dialect)
            order = (rows.source.c[name] for name in rows.order)
            array = js.array(item, rows.source, *order, where=rows.where, outer=rows.outer)
            pairs.append((pick.key, array))
        elif pick.name in record.objects:
            nested = record.objects[pick.name][0]
            pairs.append((pick.key, record_object(js, pick.sub, nested, columns, dialect)))
        else:
            kind, column = record.values[pick.name]
            pairs.append((pick.key, value(js, kind, columns[column], dialect, record.node_type)))
    return js.object_parts(pairs)


def one_statement(picks: Picks, record: Record, row: Any, dialect: str) -> Select[Any]:
    """``body``: one row of the subquery ``row`` as the object of ``picks``."""
    js = JsonText(dialect)
    body = js.text(record_object(js, picks, record, row.c, dialect))
    return select(body.label("body")).select_from(row)


def list_statement(
    picks: Picks, record: Record, rows: Any, order: Sequence[str], dialect: str
) -> Select[Any]:
    """``body``: the rows of the subquery ``rows`` in ``order`` as an array of ``picks``."""
    js = JsonText(dialect)
    item = record_object(js, picks, record, rows.c, dialect)
    return select(js.array(item, rows, *(rows.c[name] for name in order)).label("body"))


@dataclass(frozen=True, slots=True)
class Listing:
    """The rows of one page as a list reads them: ``rows`` (a subquery) holds at most
    ``page_limit`` rows past the cursor, in the page's reading order (``order``, its
    columns' names, descending when ``backward``); ``total`` counts the whole list;
    ``cursor`` writes a row's cursor from its columns."""

    rows: Any
    order: tuple[str, ...]
    total: Select[Any]
    cursor: Callable[[Any], Sql]
    keyset: bool
    backward: bool = False


def _page_first() -> Any:
    # One type wherever it is used, so the driver plan reads it as one parameter.
    return bindparam("page_first", type_=Integer)


def page_statement(
    picks: Picks, node: Record, listing: Listing, dialect: str, *, shown_ids: str = ""
) -> Select[Any]:
    """``body``: the page of ``picks`` (``page_record(node)``), its first ``page_first``
    rows shown in the list's order; with ``shown_ids`` (a column), also ``ids``, the JSON
    array of that column over the rows shown."""
    rows = listing.rows
    keys = [rows.c[name].desc() if listing.backward else rows.c[name] for name in listing.order]
    order = func.row_number().over(order_by=keys)
    page = select(*rows.c, order.label("rn")).cte("page")
    p = page.c
    js = JsonText(dialect)
    shown = p.rn <= _page_first()
    # The list's order: reading order, reversed for a page read backwards.
    listed = p.rn.desc() if listing.backward else p.rn
    pairs: list[tuple[str, Value]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name == "total_count":
            pairs.append((pick.key, cast(listing.total.scalar_subquery(), Text)))
        elif pick.name == "page_info":
            pairs.append((pick.key, _page_info(js, pick.sub, page, listing)))
        elif pick.name == "nodes":
            item = record_object(js, pick.sub, node, p, dialect)
            pairs.append((pick.key, js.array(item, page, listed, where=shown)))
        else:  # edges
            edge: list[tuple[str, Value]] = []
            for part in pick.sub:
                if not part.name:
                    edge.append((part.key, part.constant))
                elif part.name == "cursor":
                    edge.append((part.key, ('"', listing.cursor(p), '"')))
                else:
                    edge.append((part.key, record_object(js, part.sub, node, p, dialect)))
            pairs.append((pick.key, js.array(js.object(edge), page, listed, where=shown)))
    columns = [js.object(pairs).label("body")]
    if shown_ids:
        ids = js.array(js.integer(p[shown_ids]), page, listed, where=shown)
        columns.append(ids.label("ids"))
    return select(*columns)


def _page_info(js: JsonText, picks: Picks, page: Any, listing: Listing) -> Parts:
    p = page.c
    rows = select(func.count()).select_from(page).scalar_subquery()
    more = case((rows > _page_first(), sql_text("true")), else_=sql_text("false"))
    # As the rows path answers: a page read past a cursor has a neighbour on that side.
    moved = "true" if listing.keyset else "false"
    pairs: list[tuple[str, Value]] = []
    for pick in picks:
        if not pick.name:
            pairs.append((pick.key, pick.constant))
        elif pick.name == "has_next_page":
            pairs.append((pick.key, moved if listing.backward else more))
        elif pick.name == "has_previous_page":
            pairs.append((pick.key, more if listing.backward else moved))
        else:  # start_cursor, end_cursor: the first and the last shown edge's cursor
            last = pick.name == "end_cursor"
            # The edge's row found first, so that only its cursor is written (ordering
            # the shown rows by a cursor column would write every row's).
            bound = func.max if listing.backward != last else func.min
            edge = select(bound(p.rn)).where(p.rn <= _page_first()).scalar_subquery()
            cursor = (
                select(concat(['"', listing.cursor(p), '"'])).where(p.rn == edge).scalar_subquery()
            )
            pairs.append((pick.key, func.coalesce(cursor, sql_text("null"))))
    return js.object_parts(pairs)


def page_params(params: dict[str, Any], first: int) -> dict[str, Any]:
    """``params`` with the page's two sizes: rows read (one more than shown) and shown."""
    params["page_limit"] = first + 1
    params["page_first"] = first
    return params


async def one_json(session: AsyncSession, statement: Select[Any], params: dict[str, Any]) -> str:
    """The ``body`` of a one-record statement (:func:`one_statement`); NotFound without
    the record."""
    rows = await read_rows(session, statement, params, quick=True)
    body = rows[0][0] if rows else None
    if body is None:
        raise NotFound()
    return str(body)
