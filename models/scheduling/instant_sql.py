"""Instant arithmetic in SQL, written once for both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from models.platform.base import UTCDateTime


class add_minutes(FunctionElement[datetime]):
    """``instant + minutes``, on both databases (minutes may be a column)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(add_minutes, "postgresql")
def _add_minutes_pg(element: add_minutes, compiler: Any, **kw: Any) -> str:
    instant, minutes = list(element.clauses)
    return (
        f"({compiler.process(instant, **kw)} + "
        f"make_interval(mins => CAST({compiler.process(minutes, **kw)} AS INTEGER)))"
    )


@compiles(add_minutes, "sqlite")
def _add_minutes_sqlite(element: add_minutes, compiler: Any, **kw: Any) -> str:
    instant, minutes = list(element.clauses)
    # Same fixed-width text as stored instants, so comparisons stay in time order.
    return (
        f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(instant, **kw)}, "
        f"({compiler.process(minutes, **kw)}) || ' minutes')"
    )
