"""Engine and sessions, and the write transaction every changing operation runs in."""

from __future__ import annotations

import asyncio
import base64
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    create_async_engine,
)
from sqlalchemy.util import await_

from models.platform import seat_watch
from models.platform.driver_reads import (
    DriverPlan,
    RetryOnEngine,
    driver_rows,
    plan_for,
    report_statement,
)
from models.platform.loop_reads import LoopReader

_IMMEDIATE = "clinic_sqlite_immediate"


_WRITING = "clinic_write_transaction"
READER = "clinic_reader"

# Nothing waits on the database for ever: a connection attempt, a pool checkout and a
# statement each give up after these many seconds (the request then gets a 503).
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 10.0
STATEMENT_TIMEOUT = 30.0
SQLITE_READERS = 4


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int = 10,
    behind_pooler: bool = False,
) -> AsyncEngine:
    parsed = make_url(url)
    # Bound parameters (booking notes among them) never appear in exception messages.
    hide_parameters = not echo
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, echo=echo, hide_parameters=hide_parameters, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    connect_args = (
        _asyncpg_arguments(parsed, behind_pooler) if parsed.get_driver_name() == "asyncpg" else {}
    )
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=hide_parameters,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A pooled connection that died with a server restart is replaced on checkout.
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=POOL_TIMEOUT,
        connect_args=connect_args,
    )
    if parsed.get_driver_name() == "asyncpg" and not behind_pooler:
        _ping_with_begin(engine)
    return engine


def _ping_with_begin(engine: AsyncEngine) -> None:
    """The checkout's ping is the BEGIN of the transaction that follows it.

    The adapter pings with BEGIN, an empty query and ROLLBACK (three round trips, so that
    a pooler in transaction mode keeps the ping on one server connection); every checkout
    of this engine's connections begins a transaction, whose BEGIN the adapter would send
    with the first statement. Sent at checkout, it finds a dead connection as the ping
    does (the pool then replaces it) and the transaction needs no other. A connection
    returned without a statement is rolled back on return, as any begun one.
    """
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        if dbapi_connection._transaction is not None or (
            dbapi_connection.isolation_level == "autocommit"
        ):
            return bool(ping(dbapi_connection))
        await_(dbapi_connection._start_transaction())
        return True

    dialect.do_ping = do_ping  # type: ignore[method-assign]


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


# The largest statement text asyncpg keeps prepared (rendered statements run to ~20 kB).
MAX_CACHED_STATEMENT = 256 * 1024


def _asyncpg_arguments(url: URL, behind_pooler: bool = False) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "timeout": CONNECT_TIMEOUT,
        "command_timeout": STATEMENT_TIMEOUT,
        "server_settings": {"statement_timeout": str(int(STATEMENT_TIMEOUT * 1000))},
        # Driver reads go through asyncpg's own statement cache, which by default keeps
        # no statement over 15 kB: a rendered search (about 19 kB) was prepared, and
        # planned, again on every run (5 ms of planning for 0.5 ms of work).
        "max_cacheable_statement_size": MAX_CACHED_STATEMENT,
    }
    if behind_pooler:
        # A pooler in transaction mode hands each transaction to any server connection:
        # no named prepared statement may outlive one (unnamed ones only, in asyncpg and
        # in SQLAlchemy's adapter) and no session setting may be relied on (the server's
        # statement_timeout is the database's own, ALTER DATABASE ... SET; the client's
        # command_timeout still bounds every statement).
        arguments.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unnamed,
            server_settings={},
        )
    # asyncpg's default ("prefer") first offers TLS on every new connection; on the same
    # machine that is a wasted round trip unless the URL asks for TLS itself.
    host = url.host or ""
    if (host in _LOOPBACK_HOSTS or host.startswith("/")) and not (
        {"ssl", "sslmode"} & set(url.query)
    ):
        arguments["ssl"] = False
    return arguments


def _unnamed() -> str:
    return ""


def create_read_engine(
    url: str,
    write_engine: AsyncEngine,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    behind_pooler: bool = False,
) -> AsyncEngine:
    """The engine of pure reads: autocommit connections, so a read is its one statement.

    No BEGIN, no ROLLBACK on release, no pre-ping: a connection found dead is replaced
    and the read retried once (:class:`Reader`). Every statement is also reported to
    ``write_engine``'s statement listeners, so whoever watches the main engine sees all.
    Disposing ``write_engine`` disposes this one too.
    """
    parsed = make_url(url)
    hide_parameters = not write_engine.echo
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args = {"timeout": 30}
    elif parsed.get_driver_name() == "asyncpg":
        connect_args = _asyncpg_arguments(parsed, behind_pooler)
        # Reads are a few cached statement shapes run with new values: one generic plan
        # per shape, instead of PostgreSQL planning each run again (planning a search
        # costs several times its execution). Behind a pooler no statement is kept.
        if not behind_pooler:
            connect_args["server_settings"]["plan_cache_mode"] = "force_generic_plan"
    extra: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": POOL_TIMEOUT,
    }
    if parsed.get_backend_name() == "sqlite":
        # Each aiosqlite connection is a thread contending for the GIL with the event
        # loop; a few suffice, as reads of a local file do not wait on a network.
        extra = {"pool_size": SQLITE_READERS, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT}
    engine = create_async_engine(
        url,
        echo=write_engine.echo,
        hide_parameters=hide_parameters,
        isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True,
        pool_recycle=1800,
        connect_args=connect_args,
        **extra,
    )
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, reads_only=True)
    _mirror_statements(engine, write_engine)
    return engine


def _mirror_statements(source: AsyncEngine, target: AsyncEngine) -> None:
    dispatch = target.sync_engine.dispatch

    # retval: SQLAlchemy calls it as it is (a listener without wraps it in a function that
    # returns the statement): every quick read reports its statement through here.
    @event.listens_for(source.sync_engine, "before_cursor_execute", retval=True)
    def _forward(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cursor, statement, parameters, context, many)
        return statement, parameters

    @event.listens_for(target.sync_engine, "engine_disposed")
    def _dispose(_engine: Any) -> None:
        source.sync_engine.dispose()


class Reader:
    """Runs a pure read as one statement on the read engine."""

    __slots__ = ("_plans", "engine", "loop_reader", "reports_to")

    # Statements read through here are module-level or cached per shape: a bounded set.
    MAX_PLANS = 1024

    def __init__(self, engine: AsyncEngine, *, reports_to: AsyncEngine | None = None) -> None:
        """``reports_to``: the engine whose statement listeners hear the reads run on the
        event loop's thread (the write engine's hear every statement of the process)."""
        self.engine = engine
        self.reports_to = reports_to or engine
        self._plans: dict[Executable, DriverPlan | None] = {}
        self.loop_reader = LoopReader.for_url(engine.url, prepare_sqlite)
        if self.loop_reader is not None:
            event.listen(engine.sync_engine, "engine_disposed", self._disposed)

    def _disposed(self, _engine: Any) -> None:
        if self.loop_reader is not None:
            self.loop_reader.close()

    async def rows(
        self, stmt: Executable, params: Mapping[str, Any] | None = None, *, quick: bool = False
    ) -> Sequence[Row[Any]]:
        plan = self._plans.get(stmt, _UNPLANNED)
        if plan is _UNPLANNED:
            if len(self._plans) >= self.MAX_PLANS:
                self._plans.clear()
            plan = self._plans[stmt] = plan_for(self.engine, stmt)
        if plan is not None and quick and self.loop_reader is not None:
            arguments = plan.arguments(params)
            raw = self.loop_reader.rows(plan.sql, arguments)
            if raw is not None:
                report_statement(self.reports_to, plan.sql, arguments)
                return plan.rows(raw)
        if plan is not None:
            try:
                return await driver_rows(self.engine, plan, params)  # type: ignore[arg-type]
            except RetryOnEngine:
                # The pooled connection had died (a server restart): once more, fresh.
                return await self._rows(stmt, params)
        try:
            return await self._rows(stmt, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return await self._rows(stmt, params)

    async def _rows(self, stmt: Executable, params: Mapping[str, Any] | None) -> Sequence[Row[Any]]:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt, params)).all()


_UNPLANNED: Any = object()


async def read_rows(
    session: AsyncSession,
    stmt: Executable,
    params: Mapping[str, Any] | None = None,
    *,
    quick: bool = False,
) -> Sequence[Row[Any]]:
    """Rows of a Core read: inside a transaction on the session (it sees its own writes),
    otherwise on the read engine without a transaction.

    ``quick``: the statement reads a few rows by key, whatever the size of the tables
    (one record, one provider's day); on a SQLite file it runs on the event loop's
    thread (:mod:`models.platform.loop_reads`)."""
    reader: Reader | None = session.info.get(READER)
    if reader is None or session.in_transaction():
        return (await session.execute(stmt, params)).all()
    return await reader.rows(stmt, params, quick=quick)


# SQLite takes one writer at a time: writers of this process queue here, awake, instead
# of sleeping in SQLite's busy handler (which stays for other processes).
_writer_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def writer_lock(engine: AsyncEngine | Any) -> asyncio.Lock | None:
    """The in-process lock of the SQLite database behind ``engine``; None for PostgreSQL."""
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    key = database if database not in ("", ":memory:") else f"memory:{id(engine)}"
    locks = _writer_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


def _configure_sqlite(engine: AsyncEngine, *, reads_only: bool = False) -> None:
    """Let SQLAlchemy, not the driver, issue BEGIN, so writes can take the lock up front.

    A write transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken before
    the first read, so a check-then-insert cannot interleave with another writer.
    Concurrent writers queue on ``busy_timeout`` instead of failing.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_BEGIN, None)
        record.info.pop(_SETTLED, None)
        dbapi_connection.isolation_level = None
        prepare_sqlite(dbapi_connection, wal=engine.url.database not in (None, "", ":memory:"))

    if reads_only:
        return

    # BEGIN waits for the transaction's first statement and goes to the worker thread
    # with it (or with a driver program, ``take_begin``): aiosqlite pays a thread hand-off
    # per call, and a BEGIN of its own cost three. A COMMIT or ROLLBACK the connection
    # does not need (no statement since BEGIN, or the transaction already ended) is
    # skipped, the ROLLBACK of a connection going back to the pool included.
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        info = conn.connection.info
        info.pop(_SETTLED, None)
        info[_BEGIN] = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "before_cursor_execute", insert=True, retval=True)
    def _begin_first(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, _many: bool
    ) -> tuple[str, Any]:
        # (Driver programs report their statements with no connection.)
        begin = conn.connection.info.pop(_BEGIN, None) if conn is not None else None
        if begin is not None:
            # The statement listeners hear of it first, as of any statement.
            conn.dispatch.before_cursor_execute(conn, cursor, begin, (), context, False)
            cursor.execute(begin)
        return statement, params

    dialect = engine.sync_engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def _ending(end: Any) -> Any:
        def do_end(dbapi_connection: Any) -> None:
            try:
                info = dbapi_connection.info
            except (AttributeError, NotImplementedError):
                # Not a pooled connection (the dialect's first connect): as always.
                info = None
            if info is None:
                end(dbapi_connection)
                return
            if info.pop(_BEGIN, None) is not None or info.get(_SETTLED):
                info[_SETTLED] = True
                return
            end(dbapi_connection)
            info[_SETTLED] = True

        return do_end

    dialect.do_commit = _ending(commit)  # type: ignore[method-assign]
    dialect.do_rollback = _ending(rollback)  # type: ignore[method-assign]


# On a SQLite write connection (its pool record's ``info``): the BEGIN its transaction has
# not run yet, and that no transaction is open (committed or rolled back since BEGIN).
_BEGIN = "clinic_begin_pending"
_SETTLED = "clinic_settled"


def take_begin(connection_info: dict[str, Any]) -> str | None:
    """The BEGIN the SQLite transaction still owes, for a caller that runs it itself just
    before its first statement (then the transaction is open)."""
    begin: str | None = connection_info.pop(_BEGIN, None)
    return begin


def settled(connection_info: dict[str, Any]) -> None:
    """The caller committed the SQLite transaction itself: the session's COMMIT, and the
    ROLLBACK on release, have nothing to do."""
    connection_info[_SETTLED] = True


def prepare_sqlite(dbapi_connection: Any, *, wal: bool = False) -> None:
    """Pragmas and SQL functions every connection to the database has."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    if wal:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Days in a provider's time zone (booking rules), as PostgreSQL's AT TIME ZONE.
    dbapi_connection.create_function(LOCAL_DAY_FUNCTION, 2, _sqlite_local_day, deterministic=True)
    dbapi_connection.create_function(NODE_ID_FUNCTION, 2, _sqlite_node_id, deterministic=True)


LOCAL_DAY_FUNCTION = "clinic_local_day"
NODE_ID_FUNCTION = "clinic_node_id"


def _sqlite_local_day(instant: str | None, zone: str | None) -> str | None:
    """The calendar day of a stored UTC instant in an IANA zone (YYYY-MM-DD)."""
    if instant is None:
        return None
    try:
        moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(zone or "UTC")).date().isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return None


def _sqlite_node_id(type_name: str, ident: int | None) -> str | None:
    """A record's global id: base64 of ``TypeName:id`` (standard alphabet, padded)."""
    if ident is None:
        return None
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run the block in one write transaction: commit on success, roll back on error.

    Any read-only transaction the session had open (an authentication lookup, say) is
    closed first, so that on SQLite the write starts with the lock held.
    """
    if session.in_transaction():
        await session.commit()
    lock = writer_lock(session.bind)
    if lock is None:
        async with _transaction(session):
            yield session
        return
    async with lock, _transaction(session):
        yield session


@asynccontextmanager
async def _transaction(session: AsyncSession) -> AsyncIterator[None]:
    await session.connection(execution_options={_IMMEDIATE: True})
    session.info[_WRITING] = True
    try:
        yield
    except BaseException:
        session.info.pop(_WRITING, None)
        seat_watch.forget(session)
        await session.rollback()
        raise
    else:
        try:
            try:
                await seat_watch.before_commit(session)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        finally:
            session.info.pop(_WRITING, None)


def in_write_transaction(session: AsyncSession) -> bool:
    """True inside ``write_transaction``: work added now commits with the change."""
    return bool(session.info.get(_WRITING)) and session.in_transaction()


def is_constraint_violation(exc: BaseException, *names: str) -> bool:
    """True if ``exc`` is the database refusing a write because of one of ``names``.

    PostgreSQL reports the constraint name; SQLite reports the columns of a unique index.
    """
    if not isinstance(exc, (IntegrityError, DBAPIError)):
        return False
    text = str(exc.orig) if exc.orig is not None else str(exc)
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate == "23P01" and not names:
        return True
    return any(name in text for name in names)
