"""A join whose left table SQLite must read first.

SQLite chooses the order of an inner join itself and, for a page in the order of the
left table's index, may read every row of the right table and sort them all instead of
walking the index and stopping after the page. ``CROSS JOIN`` is SQLite's way to keep the
written order; other databases get a plain inner join, which their planners handle.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join


class LeftFirstJoin(Join):
    """``left JOIN right ON onclause``, read left first on SQLite."""

    inherit_cache = True

    def __init__(self, left: FromClause, right: FromClause, onclause: ColumnElement[bool]) -> None:
        super().__init__(left, right, onclause)


@compiles(LeftFirstJoin, "sqlite")
def _sqlite_cross_join(element: LeftFirstJoin, compiler: SQLCompiler, **kw: Any) -> str:
    joined = compiler.visit_join(element, **kw)
    left = compiler.process(element.left, **{**kw, "asfrom": True, "from_linter": None})
    # The left side is one table, so the first join keyword after it is this join's.
    prefix = f"{left} JOIN "
    assert joined.startswith(prefix), joined
    return f"{left} CROSS JOIN {joined[len(prefix) :]}"
