"""Alembic environment: runs migrations through the async engine of DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from models.platform.db import create_engine
from models.platform.entities import Base

config = context.config
target_metadata = Base.metadata


def _set_sqlite_foreign_keys(connection: Connection, enabled: bool) -> None:
    # Only takes effect outside a transaction, hence on the driver's connection.
    cursor = connection.connection.cursor()
    cursor.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    cursor.close()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.in_transaction():
        # Rebuilding a table (SQLite's only way to change most of a table) drops the old
        # one: with foreign keys on, that would fire the children's ON DELETE actions.
        _set_sqlite_foreign_keys(connection, False)
        try:
            _migrate(connection)
        finally:
            _set_sqlite_foreign_keys(connection, True)
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
