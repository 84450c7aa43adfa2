"""JSON text written by the database, the same bytes on PostgreSQL and SQLite.

PostgreSQL's ``json_build_object`` writes ``{"id" : 4, ...}``; SQLite's ``json_object``
and orjson (the faces' encoder) write ``{"id":4,...}``. Objects and arrays here are
concatenated text, keys written once when the statement is built, values quoted by the
database's own JSON quoting (``to_json`` and ``json_quote`` escape exactly as orjson
does: quote, backslash and control characters, nothing else), so both databases give
the compact form, byte for byte, keys in the order given.

On SQLite a whole object is one ``printf`` (its keys in the format, its values as
arguments, nested objects and timestamps spliced in) rather than a chain of ``||``, each
of which copies the text built so far.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

Sql = ColumnElement[Any]

# SQLite's limit on a function's arguments is 127 by default; longer texts are joined.
_PRINTF_ARGUMENTS = 100


@dataclass(frozen=True, slots=True)
class Formatted:
    """A value SQLite's ``printf`` writes with a conversion of its own (``%.10s``), so
    that text assembled by :meth:`JsonText.text` needs no function for it."""

    conversion: str
    value: Sql


Part = Sql | str | Formatted
# Parts of a text written in place (an object's value spliced into its object).
Parts = tuple[Part, ...]
Value = Sql | str | Parts


def _not_null(column: Any) -> bool:
    """True for a table column (or a subquery's copy of one) declared NOT NULL."""
    return getattr(column, "nullable", True) is False


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
        self.dialect = dialect
        self.postgresql = dialect == "postgresql"

    def string(self, value: Any) -> Sql:
        """A text value, quoted; null when NULL."""
        if self.postgresql:
            return func.coalesce(cast(func.to_json(value), Text), sql_text("null"))
        return func.json_quote(value)

    def integer(self, value: Any) -> Value:
        if not self.postgresql and _not_null(value):
            return (value,)  # printf writes an integer's digits, as CAST does
        return func.coalesce(cast(value, Text), sql_text("null"))

    def boolean(self, value: Any) -> Sql:
        if self.postgresql:
            return func.coalesce(cast(value, Text), sql_text("null"))
        # ``value`` read once: a flattened subquery's column is its whole expression.
        named = case(
            (literal_column("1"), sql_text("true")),
            (literal_column("0"), sql_text("false")),
            value=value != literal_column("0"),
        )
        return func.coalesce(named, sql_text("null"))

    def instant(self, column: Any) -> Value:
        """A timestamp as a JSON string (``instant_text``); null when NULL."""
        if self.postgresql or not _not_null(column):
            return self.string(instant_text(column, self.dialect))
        # The stored text's date and time, as instant_text cuts them, written by printf.
        time = func.substr(column, literal_column("12")).op("||")(literal_column("'.000'"))
        return ('"', Formatted("%.10s", column), "T", Formatted("%.12s", time), 'Z"')

    def text(self, parts: Sequence[Part]) -> Sql:
        """The parts (literal text, text expressions, never NULL) written one after another."""
        if self.postgresql:
            assert not any(isinstance(part, Formatted) for part in parts)
            return concat(parts)  # type: ignore[arg-type]  # no Formatted, checked above
        if all(isinstance(part, str) for part in parts):
            return sql_text("".join(parts))  # type: ignore[arg-type]  # all str, checked above
        texts: list[Sql] = []
        formats: list[str] = []
        values: list[Sql] = []
        for part in parts:
            if isinstance(part, str):
                formats.append(part.replace("%", "%%"))
                continue
            if len(values) == _PRINTF_ARGUMENTS:
                texts.append(func.printf(sql_text("".join(formats)), *values, type_=Text))
                formats, values = [], []
            if isinstance(part, Formatted):
                formats.append(part.conversion)
                values.append(part.value)
            else:
                formats.append("%s")
                values.append(part)
        texts.append(func.printf(sql_text("".join(formats)), *values, type_=Text))
        return concat(texts)

    def object_parts(self, pairs: Sequence[tuple[str, Value]]) -> Parts:
        """``{"key":value,...}`` as parts: each value is JSON text (an expression, parts, or
        a str written as is, such as a constant's JSON)."""
        parts: list[Part] = ["{"]
        for index, (key, value) in enumerate(pairs):
            parts.append(("," if index else "") + json.dumps(key, ensure_ascii=False) + ":")
            if isinstance(value, tuple):
                parts.extend(value)
            else:
                parts.append(value)
        parts.append("}")
        return tuple(parts)

    def object(self, pairs: Sequence[tuple[str, Value]]) -> Sql:
        """``{"key":value,...}`` (as :meth:`object_parts`) as one text expression."""
        return self.text(self.object_parts(pairs))

    def value(self, value: Value) -> Sql:
        """A value (an expression, parts, or a str) as one text expression."""
        if isinstance(value, tuple):
            return self.text(value)
        if isinstance(value, str):
            return sql_text(value)
        return value

    def array(
        self, item: Value, source: Any, *order_by: Any, where: Any = None, outer: Any = None
    ) -> Sql:
        """``[item,...]`` over the rows of ``source`` in ``order_by`` order, as a scalar
        subquery (``[]`` without rows); ``where`` may name the enclosing query's ``outer``
        row source (a correlated list)."""
        item = self.value(item)
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
        return self.text(["[", func.coalesce(inner.scalar_subquery(), sql_text("")), "]"])
