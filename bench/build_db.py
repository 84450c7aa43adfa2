"""A benchmark database of a given size: the real migrations, then bulk inserts.

Providers get about a thousand slots each, spread over the next two years without
overlaps; every tenth slot is booked. Secondary indexes (and PostgreSQL's exclusion
constraint) are dropped during the load and rebuilt from their own definitions after it,
which is much faster than maintaining them row by row and leaves the schema exactly as
the migrations made it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from clinic_availability.migrate import MIGRATIONS_DIR, upgrade
from models.platform.entities import APPOINTMENT_TYPES
from models.platform.users import hash_token, new_token

SPAN_DAYS = 730
SLOTS_PER_PROVIDER = 1000
BOOKED_EVERY = 10
DURATIONS = (30, 45, 60, 90)
TIME_ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")
FIRST_NAMES = ("Dr. Jane", "Dr. Omar", "Dr. Mei", "Dr. Ana", "Dr. Luis", "Dr. Ravi")
LAST_NAMES = ("Smith", "Haddad", "Chen", "Silva", "Garcia", "Patel", "Okafor", "Kim")
BULK_CHUNK = 50_000
# Rows per SQLite transaction while building: memory and the journal stay bounded at any size.
SQLITE_CHUNK = 500_000

SlotRow = tuple[int, int, datetime, datetime, int, str | None, bool]
BookingRow = tuple[int, int, int, str | None]


@dataclass(frozen=True)
class Target:
    """Where the benchmark database lives, and how the server and the floor reach it."""

    url: str
    sqlite_path: Path | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.sqlite_path is not None else "postgresql"

    @property
    def asyncpg_dsn(self) -> str:
        return make_url(self.url).set(drivername="postgresql").render_as_string(False)

    @property
    def label(self) -> str:
        if self.sqlite_path is not None:
            return f"SQLite {self.sqlite_path}"
        return f"PostgreSQL {make_url(self.url).render_as_string(hide_password=True)}"


def sqlite_target(path: Path) -> Target:
    path = path.resolve()
    return Target(url=f"sqlite+aiosqlite:///{path}", sqlite_path=path)


def postgres_target(server_url: str, slots: int, database: str | None = None) -> Target:
    """The bench's own database on the server of ``server_url``; that database is untouched."""
    parsed = make_url(server_url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    bench = parsed.set(database=database or f"clinic_bench_{slots}")
    return Target(url=bench.render_as_string(hide_password=False))


@dataclass(frozen=True)
class BenchData:
    target: Target
    slots: int
    providers: int
    patients: int
    token: str
    first_day: date
    build_seconds: float
    reused: bool


def schema_fingerprint() -> str:
    """Changes whenever a migration file does: a database built before is then rebuilt."""
    digest = hashlib.sha256()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _meta_rows(slots: int, token: str, first_day: date) -> list[tuple[str, str]]:
    return [
        ("slots", str(slots)),
        ("token", token),
        ("first_day", first_day.isoformat()),
        ("schema", schema_fingerprint()),
    ]


# Licences for find: a quarter of the providers in California, a quarter also in New York.
LICENCES_SQL = (
    "UPDATE providers SET licensed_states = CASE id % 4 WHEN 0 THEN '[\"CA\"]' "
    "WHEN 1 THEN '[\"CA\", \"NY\"]' WHEN 2 THEN '[\"TX\"]' ELSE '[]' END"
)


def provider_count(slots: int) -> int:
    return max(1, slots // SLOTS_PER_PROVIDER)


def patient_count(slots: int) -> int:
    return max(10, slots // SLOTS_PER_PROVIDER)


def plan_slots(slots: int, first_day: date) -> Iterator[SlotRow]:
    """(id, provider_id, start, end, minutes, type, unbooked), non-overlapping per provider."""
    providers = provider_count(slots)
    origin = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    span = SPAN_DAYS * 24 * 60
    slot_id = 0
    for provider in range(1, providers + 1):
        count = slots // providers + (1 if provider <= slots % providers else 0)
        step = max(15, (span // max(count, 1)) // 15 * 15)
        offset = (provider * 7 * 15) % step
        for index in range(count):
            slot_id += 1
            minutes = min(DURATIONS[(slot_id * 7) % len(DURATIONS)], step)
            start = origin + timedelta(minutes=offset + index * step)
            kind = (
                None if slot_id % 11 == 0 else APPOINTMENT_TYPES[slot_id % len(APPOINTMENT_TYPES)]
            )
            yield (
                slot_id,
                provider,
                start,
                start + timedelta(minutes=minutes),
                minutes,
                kind,
                slot_id % BOOKED_EVERY != 0,
            )


def plan_bookings(slots: int) -> Iterator[BookingRow]:
    """(id, slot_id, patient_id, type) for every booked slot."""
    patients = patient_count(slots)
    for number, slot_id in enumerate(range(BOOKED_EVERY, slots + 1, BOOKED_EVERY), start=1):
        yield number, slot_id, 1 + slot_id % patients, None


def built_ids(slots: int) -> dict[str, int]:
    """The highest id of each table the build fills (the others it leaves empty)."""
    return {
        "providers": provider_count(slots),
        "patients": patient_count(slots),
        "users": 1,
        "api_tokens": 1,
        "available_slots": slots,
        "bookings": len(range(BOOKED_EVERY, slots + 1, BOOKED_EVERY)),
    }


def _people(count: int, *, with_zone: bool) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for number in range(1, count + 1):
        first = FIRST_NAMES[number % len(FIRST_NAMES)]
        last = f"{LAST_NAMES[number % len(LAST_NAMES)]} {number}"
        rows.append(
            (number, first, last, TIME_ZONES[number % len(TIME_ZONES)])
            if with_zone
            else (number, first, last)
        )
    return rows


# --- SQLite -------------------------------------------------------------------------


def _sqlite_time(value: datetime) -> str:
    # The text SQLAlchemy writes for a naive UTC datetime on SQLite.
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def _sqlite_meta(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    connection = _sqlite_connect(path)
    try:
        rows = connection.execute("SELECT key, value FROM bench_meta").fetchall()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return dict(rows)


def _sqlite_build(target: Target, slots: int, first_day: date, token: str) -> None:
    path = target.sqlite_path
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(target.url)
    now = _sqlite_time(datetime.now(UTC))
    connection = _sqlite_connect(path)
    try:
        # No journal while loading a file nobody else has open (a failed build is rebuilt:
        # its bench_meta, written last, is missing); WAL, as the migrations left it, after.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('available_slots', 'bookings')"
        ).fetchall()
        connection.execute("BEGIN")
        for name, _sql in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        connection.executemany(
            "INSERT INTO providers (id, first_name, last_name, time_zone, active, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
            [(*row, now, now) for row in _people(provider_count(slots), with_zone=True)],
        )
        connection.executemany(
            "INSERT INTO patients (id, first_name, last_name, active, created_at, updated_at) "
            "VALUES (?, ?, ?, 1, ?, ?)",
            [(*row, now, now) for row in _people(patient_count(slots), with_zone=False)],
        )
        _sqlite_admin(connection, token, now)
        connection.execute("COMMIT")
        _sqlite_chunks(
            connection,
            "INSERT INTO available_slots (id, provider_id, start_time, end_time, "
            "duration_minutes, appointment_type, booked_count, recurring, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (
                (i, p, _sqlite_time(s), _sqlite_time(e), m, k, 0 if a else 1, now, now)
                for i, p, s, e, m, k, a in plan_slots(slots, first_day)
            ),
        )
        _sqlite_chunks(
            connection,
            "INSERT INTO bookings (id, available_slot_id, patient_id, appointment_type, status, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, 'confirmed', ?, ?)",
            ((*row, now, now) for row in plan_bookings(slots)),
        )
        for _name, sql in indexes:
            connection.execute(sql)
        connection.execute("BEGIN")
        connection.execute(LICENCES_SQL)
        connection.execute("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.executemany(
            "INSERT INTO bench_meta VALUES (?, ?)", _meta_rows(slots, token, first_day)
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _sqlite_chunks(
    connection: sqlite3.Connection, sql: str, rows: Iterable[tuple[object, ...]]
) -> None:
    """``executemany`` in transactions of ``SQLITE_CHUNK`` rows, streaming ``rows``."""
    iterator = iter(rows)
    while True:
        connection.execute("BEGIN")
        cursor = connection.executemany(sql, itertools.islice(iterator, SQLITE_CHUNK))
        connection.execute("COMMIT")
        if cursor.rowcount < SQLITE_CHUNK:
            return


def _sqlite_admin(connection: sqlite3.Connection, token: str, now: str) -> None:
    connection.execute(
        "INSERT INTO users (id, first_name, last_name, role, active, created_at, updated_at) "
        "VALUES (1, 'Bench', 'Admin', 'admin', 1, ?, ?)",
        (now, now),
    )
    connection.execute(
        "INSERT INTO api_tokens (user_id, token_hash, name, created_at) VALUES (1, ?, 'bench', ?)",
        (hash_token(token), now),
    )


# --- PostgreSQL ---------------------------------------------------------------------


async def _pg_meta(target: Target) -> dict[str, str] | None:
    try:
        connection = await asyncpg.connect(target.asyncpg_dsn)
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        rows = await connection.fetch("SELECT key, value FROM bench_meta")
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await connection.close()
    return {row["key"]: row["value"] for row in rows}


async def _pg_maintenance(target: Target, statements: list[str]) -> None:
    parsed = make_url(target.url)
    server = parsed.set(drivername="postgresql", database="postgres").render_as_string(False)
    connection = await asyncpg.connect(server)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _pg_recreate_database(target: Target) -> None:
    name = make_url(target.url).database
    await _pg_maintenance(
        target, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"']
    )


async def drop_database(target: Target) -> None:
    """Remove a PostgreSQL bench database (a SQLite file is the caller's to delete)."""
    if target.sqlite_path is None:
        name = make_url(target.url).database
        await _pg_maintenance(target, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


async def _pg_build(target: Target, slots: int, first_day: date, token: str) -> None:
    await _pg_recreate_database(target)
    await asyncio.to_thread(upgrade, target.url)
    now = datetime.now(UTC)
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        tables = ["available_slots", "bookings"]
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[]) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            tables,
        )
        exclusions = await connection.fetch(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = 'available_slots'::regclass AND contype = 'x'"
        )
        async with connection.transaction():
            # Foreign keys hold by construction; skipping their per-row checks halves the load.
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for row in exclusions:
                await connection.execute(
                    f'ALTER TABLE available_slots DROP CONSTRAINT "{row["conname"]}"'
                )
            for row in indexes:
                await connection.execute(f'DROP INDEX "{row["indexname"]}"')
            await connection.copy_records_to_table(
                "providers",
                records=[
                    (*r, True, now, now) for r in _people(provider_count(slots), with_zone=True)
                ],
                columns=[
                    "id",
                    "first_name",
                    "last_name",
                    "time_zone",
                    "active",
                    "created_at",
                    "updated_at",
                ],
            )
            await connection.copy_records_to_table(
                "patients",
                records=[
                    (*r, True, now, now) for r in _people(patient_count(slots), with_zone=False)
                ],
                columns=["id", "first_name", "last_name", "active", "created_at", "updated_at"],
            )
            await connection.execute(
                "INSERT INTO users (id, first_name, last_name, role, active, created_at, "
                "updated_at) VALUES (1, 'Bench', 'Admin', 'admin', true, $1, $1)",
                now,
            )
            await connection.execute(
                "INSERT INTO api_tokens (user_id, token_hash, name, created_at) "
                "VALUES (1, $1, 'bench', $2)",
                hash_token(token),
                now,
            )
            slot_columns = [
                "id",
                "provider_id",
                "start_time",
                "end_time",
                "duration_minutes",
                "appointment_type",
                "booked_count",
                "recurring",
                "created_at",
                "updated_at",
            ]
            chunk: list[tuple[object, ...]] = []
            for row in plan_slots(slots, first_day):
                chunk.append((*row[:6], 0 if row[6] else 1, False, now, now))
                if len(chunk) >= BULK_CHUNK:
                    await connection.copy_records_to_table(
                        "available_slots", records=chunk, columns=slot_columns
                    )
                    chunk = []
            if chunk:
                await connection.copy_records_to_table(
                    "available_slots", records=chunk, columns=slot_columns
                )
            await connection.copy_records_to_table(
                "bookings",
                records=[(*r, "confirmed", now, now) for r in plan_bookings(slots)],
                columns=[
                    "id",
                    "available_slot_id",
                    "patient_id",
                    "appointment_type",
                    "status",
                    "created_at",
                    "updated_at",
                ],
            )
            for table in (
                "providers",
                "patients",
                "users",
                "api_tokens",
                "available_slots",
                "bookings",
            ):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            for row in indexes:
                await connection.execute(row["indexdef"])
            for row in exclusions:
                name, definition = row["conname"], row["definition"]
                await connection.execute(
                    f'ALTER TABLE available_slots ADD CONSTRAINT "{name}" {definition}'
                )
            await connection.execute(LICENCES_SQL.replace("END", "END::json"))
            await connection.execute("CREATE TABLE bench_meta (key text PRIMARY KEY, value text)")
            await connection.executemany(
                "INSERT INTO bench_meta VALUES ($1, $2)", _meta_rows(slots, token, first_day)
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


# --- both ---------------------------------------------------------------------------


async def prepare(target: Target, slots: int, *, rebuild: bool = True) -> BenchData:
    """The benchmark database of ``slots`` slots: reused when asked and present, else built."""
    if not rebuild:
        meta = (
            await asyncio.to_thread(_sqlite_meta, target.sqlite_path)
            if target.sqlite_path is not None
            else await _pg_meta(target)
        )
        current = meta is not None and meta.get("schema") == schema_fingerprint()
        if meta is not None and current and meta.get("slots") == str(slots):
            return BenchData(
                target=target,
                slots=slots,
                providers=provider_count(slots),
                patients=patient_count(slots),
                token=meta["token"],
                first_day=date.fromisoformat(meta["first_day"]),
                build_seconds=0.0,
                reused=True,
            )
    started = time.perf_counter()
    token = new_token()
    first_day = datetime.now(UTC).date() + timedelta(days=1)
    if target.sqlite_path is not None:
        await asyncio.to_thread(_sqlite_build, target, slots, first_day, token)
    else:
        await _pg_build(target, slots, first_day, token)
    return BenchData(
        target=target,
        slots=slots,
        providers=provider_count(slots),
        patients=patient_count(slots),
        token=token,
        first_day=first_day,
        build_seconds=time.perf_counter() - started,
        reused=False,
    )


def default_sqlite_path(slots: int) -> Path:
    base = Path(os.environ.get("TMPDIR", "/tmp")) / "clinic-bench"
    return base / f"bench-{slots}.db"


# --- fixtures for the write workloads -----------------------------------------------


def _sqlite_insert_ids(
    path: Path, sql: str, rows: list[tuple[object, ...]], table: str
) -> list[int]:
    connection = _sqlite_connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        before = connection.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
        connection.executemany(sql, rows)
        after = connection.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
        connection.execute("COMMIT")
    finally:
        connection.close()
    return list(range(before + 1, after + 1))


async def add_providers(target: Target, count: int) -> list[int]:
    """``count`` new providers with empty calendars, in UTC; returns their ids."""
    now = datetime.now(UTC)
    names = [(f"Bench {n}", "Writer") for n in range(count)]
    if target.sqlite_path is not None:
        stamp = _sqlite_time(now)
        return await asyncio.to_thread(
            _sqlite_insert_ids,
            target.sqlite_path,
            "INSERT INTO providers (first_name, last_name, time_zone, active, created_at, "
            "updated_at) VALUES (?, ?, 'UTC', 1, ?, ?)",
            [(first, last, stamp, stamp) for first, last in names],
            "providers",
        )
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        rows = await connection.fetch(
            "INSERT INTO providers (first_name, last_name, time_zone, active, created_at, "
            "updated_at) SELECT f, l, 'UTC', true, $3, $3 FROM unnest($1::text[], $2::text[]) "
            "AS u(f, l) RETURNING id",
            [n[0] for n in names],
            [n[1] for n in names],
            now,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def add_open_slots(
    target: Target, provider_ids: list[int], count: int, start: datetime
) -> list[int]:
    """``count`` bookable hour-long slots from ``start``, round robin over the providers."""
    now = datetime.now(UTC)
    plan = [
        (provider_ids[n % len(provider_ids)], start + timedelta(hours=n // len(provider_ids)))
        for n in range(count)
    ]
    if target.sqlite_path is not None:
        stamp = _sqlite_time(now)
        return await asyncio.to_thread(
            _sqlite_insert_ids,
            target.sqlite_path,
            "INSERT INTO available_slots (provider_id, start_time, end_time, duration_minutes, "
            "appointment_type, admin_closed, recurring, created_at, updated_at) "
            "VALUES (?, ?, ?, 60, 'therapy', 0, 0, ?, ?)",
            [
                (p, _sqlite_time(s), _sqlite_time(s + timedelta(hours=1)), stamp, stamp)
                for p, s in plan
            ],
            "available_slots",
        )
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        rows = await connection.fetch(
            "INSERT INTO available_slots (provider_id, start_time, end_time, duration_minutes, "
            "appointment_type, admin_closed, recurring, created_at, updated_at) "
            "SELECT p, s, s + interval '1 hour', 60, 'therapy', false, false, $3, $3 "
            "FROM unnest($1::int[], $2::timestamptz[]) AS u(p, s) RETURNING id",
            [p for p, _ in plan],
            [s for _, s in plan],
            now,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def add_booked_slots(
    target: Target, provider_ids: list[int], count: int, start: datetime, patients: int
) -> list[int]:
    """``count`` one-seat slots from ``start``, each taken by a confirmed booking; the
    bookings' ids, in slot order."""
    slot_ids = await add_open_slots(target, provider_ids, count, start)
    now = datetime.now(UTC)
    rows = [(slot, 1 + n % patients) for n, slot in enumerate(slot_ids)]
    if target.sqlite_path is not None:
        stamp = _sqlite_time(now)
        booked = await asyncio.to_thread(
            _sqlite_insert_ids,
            target.sqlite_path,
            "INSERT INTO bookings (available_slot_id, patient_id, appointment_type, status, "
            "reschedule_count, created_at, updated_at) "
            "VALUES (?, ?, 'therapy', 'confirmed', 0, ?, ?)",
            [(slot, patient, stamp, stamp) for slot, patient in rows],
            "bookings",
        )
        await asyncio.to_thread(
            _sqlite_update,
            target.sqlite_path,
            "UPDATE available_slots SET booked_count = 1 WHERE id BETWEEN ? AND ?",
            (slot_ids[0], slot_ids[-1]),
        )
        return booked
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        async with connection.transaction():
            inserted = await connection.fetch(
                "INSERT INTO bookings (available_slot_id, patient_id, appointment_type, status, "
                "reschedule_count, created_at, updated_at) "
                "SELECT s, p, 'therapy', 'confirmed', 0, $3, $3 "
                "FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS u(s, p, n) ORDER BY n "
                "RETURNING id",
                [slot for slot, _ in rows],
                [patient for _, patient in rows],
                now,
            )
            await connection.execute(
                "UPDATE available_slots SET booked_count = 1 WHERE id = ANY($1::int[])", slot_ids
            )
    finally:
        await connection.close()
    return [row["id"] for row in inserted]


def _sqlite_update(path: Path, sql: str, values: tuple[object, ...]) -> None:
    connection = _sqlite_connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(sql, values)
        connection.execute("COMMIT")
    finally:
        connection.close()
