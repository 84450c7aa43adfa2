"""The migration builds exactly the tables the models describe, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from clinic_availability.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade_async,
)
from models.platform.db import create_engine
from models.platform.entities import Base
from tests.factories import Factory, future


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_head_matches_the_models(database_url: str):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_schema_diff)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()

    assert diff == []
    assert tables == {*Base.metadata.tables, "alembic_version"}
    assert await current_revision(database_url) == head_revision(database_url)


async def test_upgrading_twice_changes_nothing(database_url: str):
    await upgrade_async(database_url)
    assert await current_revision(database_url) == head_revision(database_url)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_refuses_overlapping_rows_itself(backend: str, factory: Factory):
    provider_id = (await factory.provider()).id
    other_id = (await factory.provider("Omar", "Haddad")).id
    start = future(48)
    insert = text(
        "INSERT INTO available_slots (provider_id, start_time, end_time, duration_minutes) "
        "VALUES (:provider, :start, :end, 60)"
    )

    async def add(provider: int, begin_hours: float, end_hours: float) -> None:
        async with factory.session.begin():
            await factory.session.execute(
                insert,
                {
                    "provider": provider,
                    "start": start + timedelta(hours=begin_hours),
                    "end": start + timedelta(hours=end_hours),
                },
            )

    await factory.session.commit()
    await add(provider_id, 0, 1)
    await add(provider_id, 1, 2)  # back to back
    await add(other_id, 0, 1)  # another provider
    with pytest.raises(IntegrityError, match="ex_available_slots_no_overlap"):
        await add(provider_id, 0.5, 1.5)
    with pytest.raises(IntegrityError, match="ex_available_slots_no_overlap"):
        await add(provider_id, -1, 3)
    count = await factory.session.execute(text("SELECT count(*) FROM available_slots"))
    assert count.scalar_one() == 3


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database with no tables at all, to migrate step by step."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'stepwise.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    name = f"clinic_steps_{uuid.uuid4().hex[:12]}"
    asyncio.run(_autocommit(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_autocommit(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _autocommit(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def _stamp(dialect: str, moment: datetime) -> Any:
    # Raw SQL on purpose (the models may hold columns later revisions add): SQLite gets the
    # text SQLAlchemy would store.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else moment


SNAPSHOT = {
    "providers": "SELECT id, first_name, last_name, time_zone FROM providers ORDER BY id",
    "patients": "SELECT id, first_name, last_name FROM patients ORDER BY id",
    "available_slots": "SELECT id, provider_id, duration_minutes, appointment_type "
    "FROM available_slots ORDER BY id",
    "bookings": "SELECT id, available_slot_id, patient_id, notes, status FROM bookings ORDER BY id",
    "audit_log": "SELECT id, action, entity, entity_id FROM audit_log ORDER BY id",
}


async def _snapshot(connection: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(row) for row in await connection.execute(text(query))]
        for table, query in SNAPSHOT.items()
    }


async def test_upgrade_from_0001_keeps_rows_and_never_reuses_ids(empty_database_url: str):
    url = empty_database_url
    await upgrade_async(url, "0001")
    engine = create_engine(url)
    dialect = engine.dialect.name
    start = datetime.now(UTC) + timedelta(days=2)

    async def add_slot(connection: AsyncConnection, hours: int) -> int:
        result = await connection.execute(
            text(
                "INSERT INTO available_slots (provider_id, start_time, end_time, "
                "duration_minutes, appointment_type) VALUES (1, :start, :end, 60, 'therapy') "
                "RETURNING id"
            ),
            {
                "start": _stamp(dialect, start + timedelta(hours=hours)),
                "end": _stamp(dialect, start + timedelta(hours=hours + 1)),
            },
        )
        return int(result.scalar_one())

    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO providers (first_name, last_name, time_zone) "
                    "VALUES ('Jane', 'Smith', 'UTC')"
                )
            )
            await connection.execute(
                text("INSERT INTO patients (first_name, last_name) VALUES ('Alex', 'Rivera')")
            )
            slot_ids = [await add_slot(connection, hours) for hours in range(3)]
            await connection.execute(
                text(
                    "INSERT INTO bookings (available_slot_id, patient_id, notes, status) "
                    "VALUES (:slot, 1, 'first visit', 'confirmed')"
                ),
                {"slot": slot_ids[0]},
            )
            await connection.execute(
                text(
                    "INSERT INTO audit_log (occurred_at, action, entity, entity_id, "
                    "changed_fields) VALUES (:at, 'create', 'booking', 1, '[]')"
                ),
                {"at": _stamp(dialect, start)},
            )
            before = await _snapshot(connection)

        await upgrade_async(url)
        assert await current_revision(url) == head_revision(url)

        async with engine.begin() as connection:
            assert await _snapshot(connection) == before
            assert await connection.run_sync(_schema_diff) == []
            # The newest slot goes; the next one gets a new id, never the deleted one.
            await connection.execute(
                text("DELETE FROM available_slots WHERE id = :id"), {"id": slot_ids[-1]}
            )
            assert await add_slot(connection, 10) == slot_ids[-1] + 1
        # Constraints, indexes and triggers came through the rebuild.
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO bookings (available_slot_id, patient_id, status) "
                        "VALUES (:slot, 1, 'confirmed')"
                    ),
                    {"slot": slot_ids[0]},
                )
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE available_slots SET provider_id = 99 WHERE id = :id"),
                    {"id": slot_ids[0]},
                )
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM audit_log"))
        async with engine.connect() as connection:
            after = await _snapshot(connection)
        await engine.dispose()

        # Down and up again: the rows stay.
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0001")
        await upgrade_async(url)
        async with engine.connect() as connection:
            assert await _snapshot(connection) == after
            assert await connection.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_every_table_keeps_ids_increasing(database_url: str):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            definitions = await connection.run_sync(
                lambda sync: (
                    {
                        table: sync.exec_driver_sql(
                            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,),
                        ).scalar_one()
                        for table in Base.metadata.tables
                    }
                    if sync.dialect.name == "sqlite"
                    else {}
                )
            )
    finally:
        await engine.dispose()
    for table, definition in definitions.items():
        assert "PRIMARY KEY AUTOINCREMENT" in definition, table
