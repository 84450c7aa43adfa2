"""Pure reads straight on the driver connection the read engine's pool manages.

A cached Core statement is compiled once per engine into its SQL text, the order of its
parameters and the type processing of parameters and columns; a read then checks a
connection out of the pool, runs that text with one driver call (one thread hand-off on
aiosqlite instead of four, asyncpg's own prepared statement) and builds rows as the
engine would. Statement listeners of the engine still hear every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import BindParameter, ClauseElement, Executable, Row
from sqlalchemy.engine import Engine
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

    # What ``construct_params`` does per call, worked out once (None where
    # ``construct_params`` itself must be asked: escaped names, ``.params()``).
    positions: _Positions | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", _positions(self.compiled, self.names, self.binds))

    def arguments(self, params: Mapping[str, Any] | None) -> tuple[Any, ...]:
        positions = self.positions
        if positions is None:
            return self._constructed(params)
        given = params or {}
        if given and not positions.fixed_names.isdisjoint(given):
            return self._constructed(params)  # a statement's own value given anew
        # One value per name (the time "now" is written in each rule's subquery), placed
        # at each of its positions.
        values = list(positions.template)
        # One instant given under two names (the search's "now" and the rules') is
        # processed once.
        last: Any = None
        last_process: Any = None
        done: Any = None
        for index, name, key, bind, process in positions.read:
            if key in given:
                value = given[key]
            elif name in given:
                value = given[name]
            elif bind.required:
                return self._constructed(params)  # which raises as the engine would
            else:
                value = bind.effective_value
            if process is None or value is None:
                values[index] = value
            elif value is last and process is last_process:
                values[index] = done
            else:
                last, last_process, done = value, process, process(value)
                values[index] = done
        return positions.place(values)

    def _constructed(self, params: Mapping[str, Any] | None) -> tuple[Any, ...]:
        values = self.compiled.construct_params(params)
        binds = self.binds
        out = []
        done: dict[str, Any] = {}
        for name in self.names:
            if name in done:
                out.append(done[name])
                continue
            value = done[name] = _processed(binds.get(name), values[name])
            out.append(value)
        return tuple(out)

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


def _processed(process: Processor | None, value: Any) -> Any:
    return process(value) if process is not None and value is not None else value


_Read = tuple[int, str, str, BindParameter[Any], "Processor | None"]


@dataclass(frozen=True, slots=True)
class _Positions:
    # One value per distinct parameter name: the statement's own values processed
    # already, None where each call gives it.
    template: tuple[Any, ...]
    # The names each call reads: (index into the values, name, key, parameter, processor).
    read: tuple[_Read, ...]
    # Names and keys of the statement's own values (given anew, construct_params decides).
    fixed_names: frozenset[str]
    # The values at every position of the SQL text, from the values by name.
    place: Callable[[Sequence[Any]], tuple[Any, ...]]


def _positions(
    compiled: SQLCompiler, names: tuple[str, ...], binds: Mapping[str, Processor]
) -> _Positions | None:
    """What ``construct_params`` does per call, worked out once: the statement's own
    values (literals) processed already, the rest looked up by key, then by name."""
    if compiled.escaped_bind_names or getattr(compiled, "_collected_params", None):
        return None
    by_name: dict[str, BindParameter[Any]] = {}
    for bind, name in compiled.bind_names.items():
        seen = by_name.get(name)
        if seen is not None and seen is not bind and not _same_parameter(seen, bind):
            return None  # two parameters under one name: construct_params decides
        by_name[name] = bind
    index_of: dict[str, int] = {}
    template: list[Any] = []
    read: list[_Read] = []
    fixed: set[str] = set()
    for name in names:
        if name in index_of:
            continue
        found = by_name.get(name)
        if found is None:
            return None
        bind = found
        index_of[name] = len(template)
        process = binds.get(name)
        if not bind.required and not bind.callable:
            template.append(_processed(process, bind.value))
            fixed.update((name, bind.key))
        else:
            template.append(None)
            read.append((index_of[name], name, bind.key, bind, process))
    return _Positions(
        template=tuple(template),
        read=tuple(read),
        fixed_names=frozenset(fixed),
        place=_placer(tuple(index_of[name] for name in names)),
    )


def _placer(indexes: tuple[int, ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if not indexes:
        return lambda _values: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda values: (values[only],)
    return itemgetter(*indexes)  # type: ignore[return-value]


def _same_parameter(one: BindParameter[Any], other: BindParameter[Any]) -> bool:
    """Two parameter objects of one name that any call gives the same value (the same
    ``bindparam("now")`` written in several subqueries)."""
    if one.key != other.key or one.type._type_affinity is not other.type._type_affinity:
        return False
    if one.required and other.required:
        return True
    if one.callable or other.callable:
        # One call per read and name (``arguments`` keeps the first value).
        return one.callable is other.callable and one.required == other.required
    return (
        one.required == other.required
        and type(one.value) is type(other.value)
        and one.value == other.value
    )


def report_statement(engine: AsyncEngine | Engine, sql: str, arguments: Any) -> None:
    """Tell ``engine``'s statement listeners of a statement run on the driver (they hear
    it as from the engine, without a connection or cursor)."""
    dispatch = (engine.sync_engine if isinstance(engine, AsyncEngine) else engine).dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(None, None, sql, arguments, None, False)


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
        report_statement(engine, plan.sql, arguments)
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
