"""JSON text written by the database, the same bytes on PostgreSQL and SQLite.

PostgreSQL's ``json_build_object`` writes ``{"id" : 4, ...}``; SQLite's ``json_object``
and orjson (the faces' encoder) write ``{"id":4,...}``. Objects and arrays here are
concatenated text, keys written once when the statement is built, values quoted by the
database's own JSON quoting (``to_json`` and ``json_quote`` escape exactly as orjson
does: quote, backslash and control characters, nothing else), so both databases give
the compact form, byte for byte, keys in the order given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

Sql = ColumnElement[Any]


def sql_text(value: str) -> Sql:
    """A string literal of the statement's own text (never a request's value)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def instant_text(column: Any, dialect: str) -> Sql:
    """``2023-10-27T14:00:00.000Z`` (milliseconds truncated, as format_timestamp)."""
    if dialect == "postgresql":
        return func.to_char(
            column.op("AT TIME ZONE")(literal_column("'UTC'")),
            literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\''),
        )
    # Stored as fixed-width naive UTC text; a server default may lack the fraction.
    # Positions written into the statement: parameters would be bound on every run.
    one: Sql = literal_column("1")
    ten: Sql = literal_column("10")
    twelve: Sql = literal_column("12")
    text = cast(column, Text)
    return (
        func.substr(text, one, ten)
        .op("||")(literal_column("'T'"))
        .op("||")(
            func.substr(func.substr(text, twelve).op("||")(literal_column("'.000'")), one, twelve)
        )
        .op("||")(literal_column("'Z'"))
    )


def day_text(column: Any, dialect: str) -> Sql:
    """A calendar day, ``2030-10-27`` (``date.isoformat``)."""
    if dialect == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM-DD'"))
    return cast(column, Text)  # stored as that text


def wall_clock_text(column: Any, dialect: str) -> Sql:
    """A naive timestamp as ``datetime.isoformat`` writes it: ``2030-10-04T09:00:00``, the
    microseconds only when not zero."""
    if dialect == "postgresql":
        fraction = func.nullif(func.to_char(column, literal_column("'.US'")), sql_text(".000000"))
        whole = func.to_char(column, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
        return whole.op("||")(func.coalesce(fraction, sql_text("")))
    # Stored as ``2030-10-04 09:00:00.000000`` (the fraction possibly absent).
    text = cast(column, Text)
    micro = func.substr(text, 21, 6)
    shown = case((micro.in_(("", "000000")), sql_text("")), else_=sql_text(".").op("||")(micro))
    return (
        func.substr(text, 1, 10)
        .op("||")(sql_text("T"))
        .op("||")(func.substr(text, 12, 8))
        .op("||")(shown)
    )


def concat(parts: Sequence[Sql | str]) -> Sql:
    """``a || b || ...``, adjacent literal strings merged; every part must be non-null."""
    merged: list[Sql | str] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    elements = [sql_text(part) if isinstance(part, str) else part for part in merged]
    if not elements:
        return sql_text("")
    # Joined as a balanced tree: the nesting SQLAlchemy writes as parentheses grows with
    # the logarithm of the parts, within SQLite's parser stack for deep selections.
    while len(elements) > 1:
        paired: list[Sql] = [
            elements[index].op("||", return_type=Text)(elements[index + 1])
            for index in range(0, len(elements) - 1, 2)
        ]
        if len(elements) % 2:
            paired.append(elements[-1])
        elements = paired
    return elements[0]


class JsonText:
    """Builders of JSON text expressions for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.postgresql = dialect == "postgresql"

    def string(self, value: Any) -> Sql:
        """A text value, quoted; null when NULL."""
        if self.postgresql:
            return func.coalesce(cast(func.to_json(value), Text), sql_text("null"))
        return func.json_quote(value)

    def integer(self, value: Any) -> Sql:
        return func.coalesce(cast(value, Text), sql_text("null"))

    def boolean(self, value: Any) -> Sql:
        if self.postgresql:
            return func.coalesce(cast(value, Text), sql_text("null"))
        return case(
            (value.is_(None), sql_text("null")),
            (value != literal_column("0"), sql_text("true")),
            else_=sql_text("false"),
        )

    @staticmethod
    def object(pairs: Sequence[tuple[str, Sql | str]]) -> Sql:
        """``{"key":value,...}``: each value is JSON text (an expression, or a str written
        as is, such as a constant's JSON)."""
        parts: list[Sql | str] = ["{"]
        for index, (key, value) in enumerate(pairs):
            parts.append(("," if index else "") + json.dumps(key, ensure_ascii=False) + ":")
            parts.append(value)
        parts.append("}")
        return concat(parts)

    def array(
        self, item: Sql, source: Any, *order_by: Any, where: Any = None, outer: Any = None
    ) -> Sql:
        """``[item,...]`` over the rows of ``source`` in ``order_by`` order, as a scalar
        subquery (``[]`` without rows); ``where`` may name the enclosing query's ``outer``
        row source (a correlated list)."""
        if self.postgresql:
            joined = func.string_agg(item, aggregate_order_by(sql_text(","), *order_by))
            inner = select(joined).select_from(source)
            if where is not None:
                inner = inner.where(where)
            if outer is not None:
                inner = inner.correlate(outer)
        else:
            # SQLite aggregates in the order of its input rows.
            ordered = select(item.label("item")).select_from(source).order_by(*order_by)
            if where is not None:
                ordered = ordered.where(where)
            if outer is not None:
                ordered = ordered.correlate(outer)
            rows = ordered.subquery()
            inner = select(func.group_concat(rows.c.item, sql_text(","))).select_from(rows)
        return concat(["[", func.coalesce(inner.scalar_subquery(), sql_text("")), "]"])
