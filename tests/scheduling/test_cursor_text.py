"""Cursors: the database writes what ``time_id_cursor`` writes, and every form reads back."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, Integer, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gql.pagination import decode_id_cursor, decode_time_id_cursor
from models.platform import record_render
from models.platform.cursors import encode_cursor, time_id_cursor
from models.platform.errors import ValidationFailed

moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
ids = st.integers(min_value=0, max_value=2**63 - 1)


def _sqlite_cursor(stored: str, ident: int) -> str:
    expression = record_render.time_id_cursor(bindparam("moment"), bindparam("ident"), "sqlite")
    compiled = select(expression).compile(dialect=sqlite.dialect())
    params = compiled.construct_params({"moment": stored, "ident": ident})
    with sqlite3.connect(":memory:") as connection:
        positional = [params[name] for name in compiled.positiontup or ()]
        row = connection.execute(str(compiled), positional).fetchone()
    assert row is not None
    return str(row[0])


@given(moments, ids)
def test_sqlite_writes_the_cursor_from_stored_text_with_fraction(
    moment: datetime, ident: int
) -> None:
    stored = moment.isoformat(" ", "microseconds")  # as SQLAlchemy stores a DateTime
    assert _sqlite_cursor(stored, ident) == time_id_cursor(moment.replace(tzinfo=UTC), ident)


@given(moments, ids)
def test_sqlite_writes_the_cursor_from_stored_text_without_fraction(
    moment: datetime, ident: int
) -> None:
    moment = moment.replace(microsecond=0)
    stored = moment.isoformat(" ", "seconds")  # a server default's CURRENT_TIMESTAMP
    assert _sqlite_cursor(stored, ident) == time_id_cursor(moment.replace(tzinfo=UTC), ident)


@given(moments, ids)
def test_a_cursor_reads_back_as_its_key(moment: datetime, ident: int) -> None:
    aware = moment.replace(tzinfo=UTC)
    cursor = time_id_cursor(aware, ident)
    assert cursor == encode_cursor(aware, ident)
    assert cursor == f"{moment.year:04d}{moment:%m%d%H%M%S%f}.{ident}"
    if datetime(1900, 1, 1) <= moment <= datetime(2200, 1, 1):
        assert decode_time_id_cursor(cursor) == (aware, ident)
    assert decode_id_cursor(encode_cursor(ident)) == ident


def test_an_instant_in_another_zone_is_written_in_utc() -> None:
    east = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    cursor = time_id_cursor(east, 9)
    assert cursor == "20300102030405000000.9"


def test_cursors_given_out_before_still_read() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    legacy = base64.urlsafe_b64encode(f"{moment.isoformat()}|7".encode()).decode()
    assert decode_time_id_cursor(legacy) == (moment, 7)
    assert decode_id_cursor(base64.urlsafe_b64encode(b"42").decode()) == 42


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "zz",
        "abc",
        "31327c",
        "MjAy",
        "%%%",
        "123",
        "2027010409000000000.5",
        "99999999999999999999.1",
        "20270104090000000000.",
        "20270104090000000000.5.6",
    ],
)
def test_a_cursor_that_is_not_one_is_invalid(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_time_id_cursor(cursor)


async def test_the_database_writes_the_cursor(session: AsyncSession) -> None:
    dialect = record_render.dialect_of(session)
    moment = datetime(2030, 1, 2, 3, 4, 5, 60, tzinfo=UTC)
    expression = record_render.time_id_cursor(
        bindparam("moment", moment, DateTime(timezone=True)),
        bindparam("ident", 1234567, Integer),
        dialect,
    )
    written = (await session.execute(select(expression))).scalar_one()
    assert written == time_id_cursor(moment, 1234567)
    assert (
        await session.execute(select(record_render.id_cursor(bindparam("i", 77), dialect)))
    ).scalar_one() == encode_cursor(77)
