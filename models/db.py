"""Engine and sessions, and the write transaction every changing operation runs in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_IMMEDIATE = "clinic_sqlite_immediate"


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Let SQLAlchemy, not the driver, issue BEGIN, so writes can take the lock up front.

    A write transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken before
    the first read, so a check-then-insert cannot interleave with another writer.
    Concurrent writers queue on ``busy_timeout`` instead of failing.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Run the block in one write transaction: commit on success, roll back on error.

    Any read-only transaction the session had open (an authentication lookup, say) is
    closed first, so that on SQLite the write starts with the lock held.
    """
    if session.in_transaction():
        await session.commit()
    await session.connection(execution_options={_IMMEDIATE: True})
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    else:
        await session.commit()


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
