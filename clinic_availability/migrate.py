"""Bringing a database schema up to date with Alembic, from code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import migrations
from models.platform.db import create_engine

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Run every pending migration (synchronously; call from outside an event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:

            def _current(sync_connection: Connection) -> str | None:
                return MigrationContext.configure(sync_connection).get_current_revision()

            return await connection.run_sync(_current)
    finally:
        await engine.dispose()
