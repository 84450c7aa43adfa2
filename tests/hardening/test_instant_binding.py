"""Instants bound on SQLite: the one-step text equals what the generic path writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgresql_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as sqlite_dialect
from sqlalchemy.types import TypeDecorator

from models.platform.base import UTCDateTime

SQLITE = sqlite_dialect()
ADAPTED: Any = UTCDateTime().dialect_impl(SQLITE)
FAST: Any = ADAPTED.bind_processor(SQLITE)
# The path every other type takes: process_bind_param, then SQLite's DATETIME processor.
GENERIC: Any = TypeDecorator.bind_processor(ADAPTED, SQLITE)
ZONES: Any = st.sampled_from(
    [
        None,
        UTC,
        ZoneInfo("UTC"),
        ZoneInfo("America/New_York"),
        timezone(timedelta(hours=5, minutes=30)),
    ]
)
MOMENTS = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)


def test_sqlite_binds_instants_in_one_step() -> None:
    assert FAST is not None and FAST.__qualname__.startswith("UTCDateTime.")
    # PostgreSQL keeps the generic path (asyncpg takes the aware datetime itself).
    postgresql = postgresql_dialect()
    other: Any = UTCDateTime().dialect_impl(postgresql).bind_processor(postgresql)
    assert other is None or not other.__qualname__.startswith("UTCDateTime.")


@given(MOMENTS)
def test_the_one_step_text_equals_the_generic_text(moment: datetime) -> None:
    assert FAST is not None and GENERIC is not None
    written = FAST(moment)
    assert written == GENERIC(moment)
    assert isinstance(written, str) and len(written) == 26


def test_whole_seconds_and_none_and_other_values() -> None:
    assert FAST is not None and GENERIC is not None
    for value in (datetime(2030, 1, 2, 3, 4, 5), datetime(2030, 1, 2, tzinfo=UTC), None):
        assert FAST(value) == GENERIC(value)
    assert FAST(datetime(2030, 1, 2, 3, 4, 5)) == "2030-01-02 03:04:05.000000"

    class Moment(datetime):
        pass

    subclass: Any = Moment(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert FAST(subclass) == GENERIC(subclass) == "2030-01-02 03:04:05.000006"
