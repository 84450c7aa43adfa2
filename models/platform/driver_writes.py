"""Hot writes run as a short program of statements straight on the driver connection.

A write of a few statements, each depending on the rows of the one before, is written as
a generator: it yields ``(plan, params)`` and receives the rows. On aiosqlite the whole
program runs in the connection's worker thread, one thread hand-off for all of it (the
engine's cursor costs three or four per statement); on asyncpg each statement is one
round trip on the prepared-statement cache, without the engine's per-statement work.
The program runs inside the session's write transaction, on its connection, so BEGIN,
COMMIT, ROLLBACK and the session's commit hooks stay as they are. Statement listeners of
the engine hear every statement, as from the engine.

Audit entries and events recorded in the session (``audit.record``,
``events.record_event``) can be written by the program's last statements
(:func:`recorded_rows`) instead of by the commit hooks.
"""

from __future__ import annotations

import contextvars
import sqlite3
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ClauseElement, Row, Table, bindparam, insert, literal_column, select
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from models.platform import audit, events, seat_watch
from models.platform.db import settled, take_begin
from models.platform.driver_reads import DriverPlan, report_statement
from models.platform.entities import AuditEntry
from models.platform.event_tables import AvailabilityEvent

# One step: a statement and its parameters (a list of them: executemany, no rows back).
Step = tuple["WritePlan", Mapping[str, Any] | Sequence[Mapping[str, Any]]]
Program = Generator[Step, list[Row[Any]], Any]


@dataclass(frozen=True, slots=True)
class WritePlan:
    """A statement compiled once per dialect (``writes_audit``: it inserts audit entries)."""

    stmt: ClauseElement
    column_keys: tuple[str, ...] | None = None
    writes_audit: bool = False

    def for_dialect(self, dialect: Dialect) -> DriverPlan:
        cache: dict[str, DriverPlan] = _plans.setdefault(id(self), {})
        plan = cache.get(dialect.name)
        if plan is None:
            plan = cache[dialect.name] = _compile(dialect, self.stmt, self.column_keys)
        return plan


_plans: dict[int, dict[str, DriverPlan]] = {}


def _compile(dialect: Dialect, stmt: ClauseElement, keys: tuple[str, ...] | None) -> DriverPlan:
    from sqlalchemy.engine.result import result_tuple

    compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys else None)
    assert isinstance(compiled, SQLCompiler) and compiled.positional
    sql = compiled.string
    assert "POSTCOMPILE" not in sql, "expanding parameters are not for the driver"
    result_columns = compiled._result_columns
    processors = tuple(
        entry.type._cached_result_processor(dialect, None) for entry in result_columns
    )
    binds = {name: process for name, process in compiled._bind_processors.items()}
    assert all(callable(process) for process in binds.values())
    return DriverPlan(
        sql=sql,
        compiled=compiled,
        names=tuple(compiled.positiontup or ()),
        binds=binds,  # type: ignore[arg-type]
        columns=processors if any(p is not None for p in processors) else None,
        make_row=result_tuple([entry.keyname for entry in result_columns]),
    )


AUDIT_KEYS = (
    "occurred_at",
    "user_id",
    "token_id",
    "action",
    "entity",
    "entity_id",
    "changed_fields",
    "request_id",
)
EVENT_KEYS = (
    "type",
    "provider_id",
    "slot_id",
    "previous_slot_id",
    "booking_id",
    "series_id",
    "hold_id",
    "time_off_id",
    "external_calendar_id",
    "waitlist_entry_id",
    "start_time",
    "end_time",
    "occurred_at",
    "request_id",
)
AUDIT_TABLE = cast(Table, AuditEntry.__table__)
EVENT_TABLE = cast(Table, AvailabilityEvent.__table__)
INSERT_AUDIT = WritePlan(insert(AUDIT_TABLE), AUDIT_KEYS, writes_audit=True)
INSERT_EVENTS = WritePlan(insert(EVENT_TABLE), EVENT_KEYS)

# PostgreSQL: a few entries and events in one statement (data-modifying CTEs), with the
# waitlist probes of an opened seat, per count of rows and probes.
_MAX_FOLDED = 8
_folded_plans: dict[tuple[int, int, tuple[int, ...]], WritePlan] = {}


def _rows_insert(table: Table, keys: tuple[str, ...], prefix: str, count: int) -> Any:
    return insert(table).values(
        [
            {key: bindparam(f"{prefix}{n}_{key}", type_=table.c[key].type) for key in keys}
            for n in range(count)
        ]
    )


def _folded_plan(entries: int, announced: int, checks: tuple[WritePlan, ...]) -> WritePlan:
    key = (entries, announced, tuple(id(check) for check in checks))
    plan = _folded_plans.get(key)
    if plan is None:
        # The probes read what the earlier statements wrote (the freed seat), not these
        # rows, which they do not look at.
        found = [
            cast(Any, check.stmt).exists().label(f"found_{n}") for n, check in enumerate(checks)
        ]
        stmt: Any = (
            select(*found or [literal_column("1").label("done")])
            .add_cte(_rows_insert(AUDIT_TABLE, AUDIT_KEYS, "a", entries).cte("audit_rows"))
            .add_cte(_rows_insert(EVENT_TABLE, EVENT_KEYS, "e", announced).cte("event_rows"))
        )
        plan = _folded_plans[key] = WritePlan(stmt, writes_audit=True)
    return plan


def _folded_params(
    entries: list[dict[str, Any]], announced: list[dict[str, Any]]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for prefix, rows in (("a", entries), ("e", announced)):
        for n, row in enumerate(rows):
            params.update({f"{prefix}{n}_{key}": value for key, value in row.items()})
    return params


def recorded_rows(session: AsyncSession, *, opened: tuple[int, datetime] | None = None) -> Program:
    """Steps writing the audit entries and events recorded so far (taken from the session,
    so the commit hooks do not write them again): one statement each, or on PostgreSQL
    one for both. ``opened``: a slot whose seat opened and the time, for
    :func:`seat_opened` (on PostgreSQL its probes go in the same statement)."""
    entries = audit.take_recorded(session)
    announced = events.take_recorded(session)
    checks = seat_watch.probes() if opened is not None else []
    if (
        entries
        and announced
        and checks is not None
        and len(entries) <= _MAX_FOLDED
        and len(announced) <= _MAX_FOLDED
        and session.get_bind().dialect.name == "postgresql"
    ):
        params = _folded_params(entries, announced)
        if opened is not None:
            params.update(wanted_id=opened[0], availability_now=opened[1])
        found = yield _folded_plan(len(entries), len(announced), tuple(checks)), params
        if opened is not None and any(found[0]):
            seat_watch.seats_opened(session, [opened[0]])
        return
    if opened is not None:
        yield from seat_opened(session, *opened)
    if entries:
        yield INSERT_AUDIT, entries
    if announced:
        yield INSERT_EVENTS, announced


def seat_opened(session: AsyncSession, slot_id: int, now: datetime) -> Program:
    """Steps that name ``slot_id`` to ``seat_watch`` only if a listener's probe finds work
    for it (a waiting entry matches): usually one statement and nothing more."""
    checks = seat_watch.probes()
    if checks is None:
        seat_watch.seats_opened(session, [slot_id])
        return
    for probe in checks:
        found = yield probe, {"wanted_id": slot_id, "availability_now": now}
        if found:
            seat_watch.seats_opened(session, [slot_id])
            return


class DriverConflict(Exception):
    """The database refused a write for a constraint (unique, exclusion, foreign key)."""


def _integrity(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("23")


class _Counted:
    """The statements run, reported to the engine's listeners from the event loop."""

    def __init__(self) -> None:
        self.sql: list[tuple[str, Any]] = []
        self.audited = False


def _drive_sync(
    connection: Any,
    dialect: Dialect,
    program: Program,
    counted: _Counted,
    begin: str | None,
    finish: Callable[[Any], bool] | None,
) -> tuple[Any, bool]:
    """Run ``program`` on a sqlite3 connection (in aiosqlite's worker thread), after the
    transaction's ``begin``; then commit if ``finish(result)`` says so. The program's
    result, and whether it committed."""
    # A generator starts with None.
    rows: Any = None
    try:
        if begin is not None:
            counted.sql.append((begin, ()))
            connection.execute(begin)
        while True:
            plan_of, params = program.send(rows)
            plan = plan_of.for_dialect(dialect)
            counted.audited = counted.audited or plan_of.writes_audit
            if isinstance(params, Mapping):
                arguments = plan.arguments(params)
                counted.sql.append((plan.sql, arguments))
                cursor = connection.execute(plan.sql, arguments)
                rows = plan.rows(cursor.fetchall()) if cursor.description else []
            else:
                many = [plan.arguments(one) for one in params]
                counted.sql.append((plan.sql, many))
                connection.executemany(plan.sql, many)
                rows = []
    except StopIteration as done:
        result = done.value
    except Exception as exc:
        if _integrity(exc):
            raise DriverConflict() from exc
        raise
    if finish is not None and finish(result):
        connection.commit()
        return result, True
    return result, False


async def _drive_async(driver: Any, dialect: Dialect, program: Program, counted: _Counted) -> Any:
    """Run ``program`` on an asyncpg connection."""
    # A generator starts with None.
    rows: Any = None
    try:
        while True:
            plan_of, params = program.send(rows)
            plan = plan_of.for_dialect(dialect)
            counted.audited = counted.audited or plan_of.writes_audit
            if isinstance(params, Mapping):
                arguments = plan.arguments(params)
                counted.sql.append((plan.sql, arguments))
                rows = plan.rows(await driver.fetch(plan.sql, *arguments))
            else:
                many = [plan.arguments(one) for one in params]
                counted.sql.append((plan.sql, many))
                await driver.executemany(plan.sql, many)
                rows = []
    except StopIteration as done:
        return done.value
    except Exception as exc:
        if _integrity(exc):
            raise DriverConflict() from exc
        raise


def _nothing_left(session: AsyncSession) -> Callable[[Any], bool]:
    """Whether a program's result ends its transaction: a result, and nothing the commit
    would still write or run (entries, events, opened seats, objects, a savepoint, a
    listener of audited changes)."""
    sync = session.sync_session

    def finish(result: Any) -> bool:
        return (
            result is not None
            and not (audit.has_recorded(sync) or events.has_recorded(sync))
            and not seat_watch.has_opened(sync)
            and not (sync.new or sync.dirty or sync.deleted)
            and not sync.in_nested_transaction()
            and audit.change_listeners_idle()
        )

    return finish


async def run_program(session: AsyncSession, program: Program, *, last: bool = False) -> Any:
    """Run ``program`` in the session's current transaction; its return value.

    ``last``: if the program returns something other than None, the caller does nothing
    more in the transaction but commit it. On SQLite the program then commits in its own
    thread hand-off when nothing else waits for the commit.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    dialect = connection.dialect
    counted = _Counted()
    committed = False
    try:
        if dialect.driver == "aiosqlite":
            begin = take_begin(raw.info)
            finish = _nothing_left(session) if last else None
            # The request's context (who acts, the request id) goes along to the thread.
            context = contextvars.copy_context()
            result, committed = await driver._execute(  # type: ignore[union-attr]
                context.run, _drive_sync, driver._conn, dialect, program, counted, begin, finish
            )
            if committed:
                settled(raw.info)
        else:
            adapted = raw.dbapi_connection
            async with adapted._execute_mutex:  # type: ignore[union-attr]
                # The adapter begins its transaction lazily, at the first statement it
                # runs: begun here, the program's statements are inside it.
                if adapted._transaction is None:  # type: ignore[union-attr]
                    await adapted._start_transaction()  # type: ignore[union-attr]
                result = await _drive_async(driver, dialect, program, counted)
    finally:
        for sql, arguments in counted.sql:
            report_statement(connection.sync_engine, sql, arguments)
    # (A program that committed had no change listener to tell.)
    if counted.audited and not committed and not audit.change_listeners_idle():
        await audit.written(session)
    return result
