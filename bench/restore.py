"""Putting a bench database back as it was built, after the write workloads added rows.

Right after a build the bench records every table's highest ``id`` (its high-water mark)
in ``bench_meta``. The write workloads only ever add rows (providers, slots, series,
bookings, audit entries), so deleting every row above the marks, children before
parents, gives back the database the build made: a reused database keeps the size it
says. Id sequences (PostgreSQL's, SQLite's AUTOINCREMENT) are reset to the marks, so ids
come out as after the build.

The audit trail refuses deletes by trigger; those guards (and only they) are lifted
inside the restoring transaction and put back before it commits.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import orjson

if TYPE_CHECKING:
    from bench.build_db import Target

META_KEY = "marks"
# Tables the bench keeps for itself, never restored.
OWN_TABLES = frozenset({"bench_meta", "alembic_version"})

Marks = dict[str, int]


def children_first(tables: Iterable[str], references: Iterable[tuple[str, str]]) -> list[str]:
    """``tables`` ordered so that a table comes before every table it references."""
    names = sorted(tables)
    parents: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in references:
        if child in parents and parent in parents and child != parent:
            parents[child].add(parent)
    referenced_by: dict[str, set[str]] = {name: set() for name in names}
    for child, its_parents in parents.items():
        for parent in its_parents:
            referenced_by[parent].add(child)
    ordered: list[str] = []
    remaining = set(names)
    while remaining:
        ready = sorted(n for n in remaining if not (referenced_by[n] & remaining))
        if not ready:  # a reference cycle: no order helps, take the rest as they come
            ready = sorted(remaining)
        ordered += ready
        remaining -= set(ready)
    return ordered


# --- SQLite -------------------------------------------------------------------------


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    tables = []
    for (name,) in rows:
        if name in OWN_TABLES:
            continue
        columns = connection.execute(f'PRAGMA table_info("{name}")').fetchall()
        if any(column[1] == "id" for column in columns):
            tables.append(name)
    return tables


def _sqlite_marks(path: Path) -> Marks:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        return {
            table: connection.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0]
            for table in _sqlite_tables(connection)
        }
    finally:
        connection.close()


def _sqlite_restore(path: Path, marks: Mapping[str, int]) -> dict[str, int]:
    connection = sqlite3.connect(path, isolation_level=None)
    deleted: dict[str, int] = {}
    try:
        connection.execute("PRAGMA busy_timeout=30000")
        connection.execute("PRAGMA foreign_keys=ON")
        tables = [t for t in _sqlite_tables(connection) if t in marks]
        references = [
            (table, row[2])
            for table in tables
            for row in connection.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()
        ]
        added = {
            table: connection.execute(
                f'SELECT count(*) FROM "{table}" WHERE id > ?', (marks[table],)
            ).fetchone()[0]
            for table in tables
        }
        # AUTOINCREMENT keeps the highest id ever used in sqlite_sequence: put it back to the
        # mark, as PostgreSQL's sequences are, so ids come out as after the build.
        ahead = [
            table
            for table, seq in connection.execute("SELECT name, seq FROM sqlite_sequence")
            if table in marks and seq > marks[table]
        ]
        if not any(added.values()) and not ahead:
            return {}
        guards = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND sql LIKE '%BEFORE DELETE%' AND sql LIKE '%RAISE(%'"
        ).fetchall()
        connection.execute("BEGIN IMMEDIATE")
        try:
            for name, _sql in guards:
                connection.execute(f'DROP TRIGGER "{name}"')
            for table in children_first(tables, references):
                if added[table]:
                    cursor = connection.execute(
                        f'DELETE FROM "{table}" WHERE id > ?', (marks[table],)
                    )
                    deleted[table] = cursor.rowcount
            for table in ahead:
                connection.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (marks[table], table)
                )
            for _name, sql in guards:
                connection.execute(sql)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return deleted


# --- PostgreSQL ---------------------------------------------------------------------

PG_TABLES_SQL = """
SELECT c.table_name FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = 'public' AND c.column_name = 'id' AND t.table_type = 'BASE TABLE'
"""
PG_REFERENCES_SQL = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""
# User triggers that refuse deletes (the audit trail's append-only guard).
PG_GUARDS_SQL = """
SELECT t.tgrelid::regclass::text AS table_name, t.tgname FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND (t.tgtype & 8) <> 0
  AND p.prosrc ILIKE '%raise exception%'
"""


async def _pg_tables(connection: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await connection.fetch(PG_TABLES_SQL) if r[0] not in OWN_TABLES]


async def _pg_marks(target: Target) -> Marks:
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        return {
            table: await connection.fetchval(f'SELECT coalesce(max(id), 0) FROM "{table}"')
            for table in await _pg_tables(connection)
        }
    finally:
        await connection.close()


async def _pg_restore(target: Target, marks: Mapping[str, int]) -> dict[str, int]:
    connection = await asyncpg.connect(target.asyncpg_dsn)
    deleted: dict[str, int] = {}
    try:
        tables = [t for t in await _pg_tables(connection) if t in marks]
        references = [(r[0], r[1]) for r in await connection.fetch(PG_REFERENCES_SQL)]
        guards = await connection.fetch(PG_GUARDS_SQL)
        async with connection.transaction():
            for guard in guards:
                await connection.execute(
                    f'ALTER TABLE "{guard["table_name"]}" DISABLE TRIGGER "{guard["tgname"]}"'
                )
            for table in children_first(tables, references):
                status = await connection.execute(
                    f'DELETE FROM "{table}" WHERE id > $1', marks[table]
                )
                count = int(status.rsplit(" ", 1)[1])
                if count:
                    deleted[table] = count
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), $1, false) "
                    f"WHERE pg_get_serial_sequence('\"{table}\"', 'id') IS NOT NULL",
                    marks[table] + 1,
                )
            for guard in guards:
                await connection.execute(
                    f'ALTER TABLE "{guard["table_name"]}" ENABLE TRIGGER "{guard["tgname"]}"'
                )
        for table in deleted:
            await connection.execute(f'VACUUM (ANALYZE) "{table}"')
    finally:
        await connection.close()
    return deleted


# --- both ---------------------------------------------------------------------------


async def current_marks(target: Target) -> Marks:
    """Every table's highest id now."""
    if target.sqlite_path is not None:
        return await asyncio.to_thread(_sqlite_marks, target.sqlite_path)
    return await _pg_marks(target)


async def restore(target: Target, marks: Mapping[str, int]) -> dict[str, int]:
    """Delete every row above ``marks``; returns the rows deleted per table."""
    if target.sqlite_path is not None:
        return await asyncio.to_thread(_sqlite_restore, target.sqlite_path, marks)
    return await _pg_restore(target, marks)


def _sqlite_meta_marks(path: Path, store: str | None) -> str | None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=30000")
        if store is not None:
            connection.execute("INSERT OR REPLACE INTO bench_meta VALUES (?, ?)", (META_KEY, store))
            return store
        row = connection.execute(
            "SELECT value FROM bench_meta WHERE key = ?", (META_KEY,)
        ).fetchone()
        return None if row is None else str(row[0])
    finally:
        connection.close()


async def _pg_meta_marks(target: Target, store: str | None) -> str | None:
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        if store is not None:
            await connection.execute(
                "INSERT INTO bench_meta VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                META_KEY,
                store,
            )
            return store
        value: str | None = await connection.fetchval(
            "SELECT value FROM bench_meta WHERE key = $1", META_KEY
        )
        return value
    finally:
        await connection.close()


async def baseline(target: Target, built: Mapping[str, int] | None = None) -> Marks:
    """The marks recorded for this database, recorded now if it has none yet.

    The bench records them on the first run after a build. A database built before marks
    existed gets them then too: ``built`` (what the build made of the tables it fills)
    where given, what the other tables hold now.
    """
    path = target.sqlite_path
    text = (
        await asyncio.to_thread(_sqlite_meta_marks, path, None)
        if path is not None
        else await _pg_meta_marks(target, None)
    )
    if text:
        return {str(k): int(v) for k, v in orjson.loads(text).items()}
    marks = await current_marks(target)
    if built is not None:
        marks.update({table: mark for table, mark in built.items() if table in marks})
    text = orjson.dumps(dict(sorted(marks.items()))).decode()
    if path is not None:
        await asyncio.to_thread(_sqlite_meta_marks, path, text)
    else:
        await _pg_meta_marks(target, text)
    return marks


def _lock_path(target: Target) -> Path:
    base = Path(os.environ.get("TMPDIR", "/tmp")) / "clinic-bench" / "locks"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"{hashlib.sha256(target.url.encode()).hexdigest()[:16]}.lock"


@asynccontextmanager
async def exclusive(target: Target, say: Callable[[str], None]) -> AsyncIterator[None]:
    """One bench run at a time per database on this machine: a run's restore would delete
    the rows another run's writes just made (and a build replaces the database)."""
    with _lock_path(target).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"database: waiting for another bench run on {target.label}")
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
