"""Fixtures: every database test runs on SQLite and on PostgreSQL (TEST_DATABASE_URL).

Under CI=true a missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability.app import create_app
from clinic_availability.migrate import upgrade
from common.settings import Settings
from models.platform.db import create_engine
from models.platform.entities import Base
from models.scheduling.appointment_types import LEGACY_TYPES
from tests.factories import Factory

BACKENDS = ("sqlite", "postgresql")
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("CI=true needs TEST_DATABASE_URL: PostgreSQL tests must run")


def _async_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


async def _admin_execute(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database of this test run's own on the TEST_DATABASE_URL server, migrated."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped outside CI")
    base = _async_url(base)
    name = f"clinic_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_execute(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


TABLES = ", ".join(table.name for table in reversed(Base.metadata.sorted_tables))
# The catalog rows the migration starts with, put back after each truncation.
LEGACY_TYPE_ROWS = ", ".join(
    f"('{key}', '{name}', {minutes}, '[\"video\", \"phone\", \"in_person\"]', true)"
    for key, name, minutes in LEGACY_TYPES
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for one test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "clinic.db"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(
        _admin_execute(
            url,
            f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE",
            "INSERT INTO appointment_types (key, name, duration_minutes, modes, active) "
            f"VALUES {LEGACY_TYPE_ROWS}",
        )
    )
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, token_cache_seconds=0)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def session(app: Any) -> AsyncIterator[AsyncSession]:
    """A session of the test's own, for setting up and checking stored state."""
    async with app.state.sessionmaker() as db:
        yield db


@pytest.fixture
def factory(session: AsyncSession) -> Factory:
    return Factory(session)


@pytest.fixture
async def admin_token(factory: Factory) -> str:
    return await factory.token(role="admin")


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    return {"X-User-Token": admin_token}


@pytest.fixture
async def db_count(session: AsyncSession) -> Any:
    """``await db_count("available_slots")``: rows in a table, read fresh."""

    async def count(table: str, where: str = "1=1") -> int:
        await session.rollback()
        result = await session.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"))
        return int(result.scalar_one())

    return count
