"""JSON text written by SQLite: one ``printf`` per text, each value read once, the same
bytes as the ``||`` chain it replaces."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import sqlite

from models.platform.json_text import JsonText, instant_text

ROWS = Table(
    "rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("maybe_at", DateTime),
    Column("count", Integer, nullable=False),
    Column("maybe_count", Integer),
    Column("flag", Boolean),
    Column("name", Text),
)
js = JsonText("sqlite")
Row = tuple[Any, ...]


class Run:
    """Runs one expression over a fresh in-memory table of ``rows``; ``calls`` holds the
    values ``counted(...)`` saw."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def _count(self, value: Any) -> Any:
        self.calls.append(value)
        return value

    def __call__(
        self, expression: Any, params: dict[str, Any] | None = None, rows: Sequence[Row] = ()
    ) -> list[Any]:
        compiled = select(expression).compile(dialect=sqlite.dialect())
        values = compiled.construct_params(params or {})
        with closing(sqlite3.connect(":memory:")) as connection:
            connection.execute(
                "CREATE TABLE rows (id INTEGER PRIMARY KEY, at DATETIME NOT NULL,"
                " maybe_at DATETIME, count INTEGER NOT NULL, maybe_count INTEGER,"
                " flag BOOLEAN, name TEXT)"
            )
            connection.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            connection.create_function("counted", 1, self._count)
            positional = [values[name] for name in compiled.positiontup or ()]
            return [row[0] for row in connection.execute(str(compiled), positional)]


parts = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(exclude_categories=["Cs"], min_codepoint=1)),
        st.builds(lambda text: ("value", text), st.text(alphabet="ab%s\\\"'")),
    ),
    max_size=230,
)


@given(parts)
def test_a_text_is_its_parts_one_after_another(given_parts: list[Any]) -> None:
    pieces: list[Any] = []
    params: dict[str, str] = {}
    for index, part in enumerate(given_parts):
        if isinstance(part, tuple):
            params[f"p{index}"] = part[1]
            pieces.append(bindparam(f"p{index}", type_=Text))
        else:
            pieces.append(part)
    expected = "".join(part[1] if isinstance(part, tuple) else part for part in given_parts)
    assert Run()(js.text(pieces), params) == [expected]


def test_a_boolean_reads_its_value_once() -> None:
    rows = [(n, "2030-01-01 00:00:00", None, 0, None, flag, None) for n, flag in
            enumerate([None, 0, 1, 2, -1], start=1)]  # fmt: skip
    run = Run()
    flag = func.counted(ROWS.c.flag)
    assert run(js.array(js.boolean(flag), ROWS, ROWS.c.id), rows=rows) == [
        "[null,false,true,true,true]"
    ]
    assert len(run.calls) == len(rows)


STORED = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda moment: moment.isoformat(" ", "microseconds" if moment.microsecond else "seconds")
)


INTEGERS = st.integers(-(2**63), 2**63 - 1)


@given(
    at=STORED,
    maybe_at=st.none() | STORED,
    count=INTEGERS,
    maybe_count=st.none() | INTEGERS,
    name=st.none() | st.text(alphabet=st.characters(exclude_categories=["Cs"], min_codepoint=1)),
)
def test_an_object_is_the_same_text_as_the_chain_it_replaces(
    at: str, maybe_at: str | None, count: int, maybe_count: int | None, name: str | None
) -> None:
    c = ROWS.c
    row = (1, at, maybe_at, count, maybe_count, None, name)
    new = js.object([
        ("at", js.instant(c.at)),
        ("maybe_at", js.instant(c.maybe_at)),
        ("count", js.integer(c.count)),
        ("maybe_count", js.integer(c.maybe_count)),
        ("nested", js.object_parts([("name", js.string(c.name)), ("pct", '"100%"')])),
    ])  # fmt: skip
    chain = (
        literal_column("'{\"at\":'")
        .op("||")(js.string(instant_text(c.at, "sqlite")))
        .op("||")(literal_column("',\"maybe_at\":'"))
        .op("||")(js.string(instant_text(c.maybe_at, "sqlite")))
        .op("||")(literal_column("',\"count\":'"))
        .op("||")(func.coalesce(cast(c.count, Text), literal_column("'null'")))
        .op("||")(literal_column("',\"maybe_count\":'"))
        .op("||")(func.coalesce(cast(c.maybe_count, Text), literal_column("'null'")))
        .op("||")(literal_column('\',"nested":{"name":\''))
        .op("||")(js.string(c.name))
        .op("||")(literal_column('\',"pct":"100%"}}\''))
    )
    [written] = Run()(select(new).select_from(ROWS).scalar_subquery(), rows=[row])
    [chained] = Run()(select(chain).select_from(ROWS).scalar_subquery(), rows=[row])
    assert written == chained
    assert json.loads(written)["count"] == count
