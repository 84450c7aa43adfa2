"""Pure reads straight on the driver connection the read engine's pool manages.

A cached Core statement is compiled once per engine into its SQL text, the order of its
parameters and the type processing of parameters and columns; a read then checks a
connection out of the pool, runs that text with one driver call (one thread hand-off on
aiosqlite instead of four, asyncpg's own prepared statement) and builds rows as the
engine would. Statement listeners of the engine still hear every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ClauseElement, Executable, Row
from sqlalchemy.engine.result import result_tuple
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DriverPlan:
    """One statement as the driver runs it."""

    sql: str
    compiled: SQLCompiler
    names: tuple[str, ...]
    binds: Mapping[str, Processor]
    columns: tuple[Processor | None, ...] | None
    make_row: Callable[[Sequence[Any]], Row[Any]]

    def arguments(self, params: Mapping[str, Any] | None) -> list[Any]:
        values = self.compiled.construct_params(params)
        binds = self.binds
        out = []
        for name in self.names:
            value = values[name]
            process = binds.get(name)
            out.append(process(value) if process is not None and value is not None else value)
        return out

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Row[Any]]:
        make_row, columns = self.make_row, self.columns
        if columns is None:
            return [make_row(values) for values in raw]
        return [
            make_row(
                [
                    value if process is None or value is None else process(value)
                    for process, value in zip(columns, values, strict=True)
                ]
            )
            for values in raw
        ]


def plan_for(engine: AsyncEngine, stmt: Executable) -> DriverPlan | None:
    """The driver plan of ``stmt`` on ``engine``, or None where only the engine can run it
    (parameters expanded at execution time, such as ``IN`` lists)."""
    dialect = engine.dialect
    if dialect.driver not in ("asyncpg", "aiosqlite"):
        return None
    if not isinstance(stmt, ClauseElement):
        return None
    compiled = stmt.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        return None
    sql = compiled.string
    if "POSTCOMPILE" in sql or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    # The compiler's own column types and bind processing (private names, the same in
    # SQLAlchemy 2.0 and 2.1; tests compare the rows with the engine's).
    result_columns = compiled._result_columns
    if not result_columns:
        return None
    processors = tuple(
        entry.type._cached_result_processor(dialect, None) for entry in result_columns
    )
    binds: dict[str, Processor] = {}
    for name, process in compiled._bind_processors.items():
        if not callable(process):
            return None  # a tuple parameter, processed per element: the engine's job
        binds[name] = process
    return DriverPlan(
        sql=sql,
        compiled=compiled,
        names=tuple(compiled.positiontup or ()),
        binds=binds,
        columns=processors if any(p is not None for p in processors) else None,
        make_row=result_tuple([entry.keyname for entry in result_columns]),
    )


class RetryOnEngine(Exception):
    """The driver call failed in a way a fresh connection may not: read through the engine."""


async def driver_rows(
    engine: AsyncEngine, plan: DriverPlan, params: Mapping[str, Any] | None
) -> list[Row[Any]]:
    """Run ``plan`` on a pooled driver connection; :class:`RetryOnEngine` when that
    connection turned out dead (it is discarded)."""
    arguments = plan.arguments(params)
    pool = engine.sync_engine.pool
    fairy = await greenlet_spawn(pool.connect)
    try:
        dispatch = engine.sync_engine.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(None, None, plan.sql, arguments, None, False)
        driver = fairy.driver_connection
        if engine.dialect.driver == "asyncpg":
            raw = await driver.fetch(plan.sql, *arguments)  # type: ignore[union-attr]
        else:
            raw = await driver.execute_fetchall(plan.sql, arguments)  # type: ignore[union-attr]
    except BaseException as exc:
        lost = _connection_lost(exc)
        if lost:
            # As the engine does on a disconnect: every connection of that generation
            # is replaced on its next checkout (a server restart took them all).
            pool._invalidate(fairy, exc)
        else:
            # Mid-statement (cancelled, timed out): never hand it to the next read.
            fairy.invalidate(exc if isinstance(exc, Exception) else None)
        await greenlet_spawn(fairy.close)
        if lost:
            raise RetryOnEngine() from exc
        raise
    await greenlet_spawn(fairy.close)
    return plan.rows(raw)


def _connection_lost(exc: BaseException) -> bool:
    """A failure of the connection itself (not of the statement): worth one more try."""
    if isinstance(exc, (ConnectionError, EOFError)):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith("08")
    name = type(exc).__name__
    if name in ("ConnectionDoesNotExistError", "InterfaceError", "InternalClientError"):
        return True
    # sqlite3 / aiosqlite: a closed connection or a stopped worker thread
    return type(exc).__module__ in ("sqlite3", "aiosqlite.core") and (
        "closed" in str(exc) or "no active connection" in str(exc)
    )
