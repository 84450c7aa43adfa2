"""SQLite's cursor function writes what ``time_id_cursor`` writes, from the stored text."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from models.platform.cursors import time_id_cursor
from models.platform.db import _sqlite_time_id_cursor

moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
ids = st.integers(min_value=0, max_value=2**63 - 1)


@given(moments, ids)
def test_stored_text_with_fraction(moment: datetime, ident: int) -> None:
    stored = moment.isoformat(" ", "microseconds")  # as SQLAlchemy stores a DateTime
    expected = time_id_cursor(moment.replace(tzinfo=UTC), ident)
    assert _sqlite_time_id_cursor(stored, ident) == expected


@given(moments, ids)
def test_stored_text_without_fraction(moment: datetime, ident: int) -> None:
    moment = moment.replace(microsecond=0)
    stored = moment.isoformat(" ", "seconds")  # a server default's CURRENT_TIMESTAMP
    expected = time_id_cursor(moment.replace(tzinfo=UTC), ident)
    assert _sqlite_time_id_cursor(stored, ident) == expected


def test_other_text_is_parsed() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    assert _sqlite_time_id_cursor("2030-01-02T03:04:05.6", 7) == time_id_cursor(moment, 7)
    assert _sqlite_time_id_cursor(None, 7) is None
    assert _sqlite_time_id_cursor("2030-01-02 03:04:05", None) is None
