"""The migration builds exactly the tables the models describe, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from clinic_availability.migrate import current_revision, head_revision, upgrade_async
from models.db import create_engine
from models.entities import Base
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
