"""The floor's raw database access: aiosqlite (with quick reads on the loop's thread, as the
API's) or an asyncpg pool, no ORM, no Core.

Statements are written once with PostgreSQL's ``$n`` placeholders and ``{ts:col}`` for a
column formatted as the API's timestamp text; SQLite gets ``?n`` and ``strftime``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

PLACEHOLDER = re.compile(r"\$(\d+)")
# {has:column:$n}: the JSON list in column holds the text parameter $n.
JSON_HAS = re.compile(r"\{has:([\w.]+):(\$\d+)\}")
TIMESTAMP = re.compile(r"\{ts:([\w.]+)\}")


def sqlite_sql(sql: str) -> str:
    sql = TIMESTAMP.sub(r"strftime('%Y-%m-%dT%H:%M:%fZ', \1)", sql)
    sql = JSON_HAS.sub(r"EXISTS (SELECT 1 FROM json_each(\1) WHERE value = \2)", sql)
    return PLACEHOLDER.sub(r"?\1", sql)


def postgres_sql(sql: str) -> str:
    sql = JSON_HAS.sub(r"jsonb_exists(\1::jsonb, \2::text)", sql)
    return TIMESTAMP.sub(
        r"""to_char(\1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""", sql
    )


Row = Sequence[Any]


class Connection(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...


class FloorDB(Protocol):
    statements: int

    def ts(self, value: datetime) -> Any: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetch_quick(self, sql: str, *args: Any) -> list[Row]:
        """``fetch`` of a statement reading a few rows by key (as the API's quick reads)."""
        ...

    def transaction(self) -> Any: ...

    async def close(self) -> None: ...


class _SqliteConnection:
    def __init__(self, db: SqliteFloorDB, connection: aiosqlite.Connection) -> None:
        self._db = db
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self._db.statements += 1
        rows = await self._connection.execute_fetchall(self._db.sql(sql), args)
        return list(rows)


class SqliteFloorDB:
    """A few reader connections and one writer, as the fastest SQLite setup in one process."""

    def __init__(self, path: Path, readers: int = 4) -> None:
        self.path = path
        self.readers_wanted = readers
        self.statements = 0
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._open_lock = asyncio.Lock()
        self._opened: list[aiosqlite.Connection] = []
        self._cache: dict[str, str] = {}
        # Quick reads run on the event loop's thread, as the API runs them.
        self._loop_connection: sqlite3.Connection | None = None

    def sql(self, text: str) -> str:
        translated = self._cache.get(text)
        if translated is None:
            translated = self._cache[text] = sqlite_sql(text)
        return translated

    def ts(self, value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in (
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
        ):
            await connection.execute(pragma)
        self._opened.append(connection)
        return connection

    async def _ensure_open(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if self._opened:
                return
            for _ in range(self.readers_wanted):
                self._readers.put_nowait(await self._connect())
            self._writer = await self._connect()

    async def fetch_quick(self, sql: str, *args: Any) -> list[Row]:
        if self._loop_connection is None:
            self._loop_connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            self._loop_connection.execute("PRAGMA query_only=1")
        self.statements += 1
        return self._loop_connection.execute(self.sql(sql), args).fetchall()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        await self._ensure_open()
        connection = await self._readers.get()
        try:
            return await _SqliteConnection(self, connection).fetch(sql, *args)
        finally:
            self._readers.put_nowait(connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        await self._ensure_open()
        assert self._writer is not None
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteConnection(self, self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def close(self) -> None:
        for connection in self._opened:
            await connection.close()
        self._opened.clear()
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None


class _PostgresConnection:
    def __init__(self, db: PostgresFloorDB, connection: asyncpg.Connection) -> None:
        self._db = db
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self._db.statements += 1
        return list(await self._connection.fetch(self._db.sql(sql), *args))


class PostgresFloorDB:
    """An asyncpg pool: every statement is prepared once per connection and reused."""

    def __init__(self, dsn: str, size: int = 10) -> None:
        self.dsn = dsn
        self.size = size
        self.statements = 0
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()
        self._cache: dict[str, str] = {}

    def sql(self, text: str) -> str:
        translated = self._cache.get(text)
        if translated is None:
            translated = self._cache[text] = postgres_sql(text)
        return translated

    def ts(self, value: datetime) -> Any:
        return value

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._open_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=self.size, max_size=self.size
                    )
        return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        pool = await self._ensure_pool()
        self.statements += 1
        return list(await pool.fetch(self.sql(sql), *args))

    async def fetch_quick(self, sql: str, *args: Any) -> list[Row]:
        return await self.fetch(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        pool = await self._ensure_pool()
        async with pool.acquire() as connection, connection.transaction():
            yield _PostgresConnection(self, connection)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def open_floor_db(database_url: str) -> FloorDB:
    from sqlalchemy.engine import make_url

    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database, "the floor needs a SQLite file"
        return SqliteFloorDB(Path(parsed.database))
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresFloorDB(dsn)
