"""Fixtures: every database test runs on SQLite and on PostgreSQL (TEST_DATABASE_URL).

Under CI=true a missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability.app import create_app
from clinic_availability.migrate import upgrade
from common.settings import Settings
from models.platform.db import create_engine
from models.platform.entities import Base
from models.platform.users import flush_last_use
from models.scheduling.appointment_types import LEGACY_TYPES
from tests.factories import Factory
from tests.parallel import side_by_side

BACKENDS = ("sqlite", "postgresql")
IN_CI = os.environ.get("CI", "").lower() == "true"
LOCKS_ENV = "CLINIC_TEST_LOCKS"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("CI=true needs TEST_DATABASE_URL: PostgreSQL tests must run")
    config.addinivalue_line(
        "markers", "alone: runs while no other worker of a parallel run is inside a test"
    )
    # The lock files of tests marked ``alone``: made by the main process, shared by its
    # workers (which inherit the environment), removed at the end of the run.
    if not hasattr(config, "workerinput") and LOCKS_ENV not in os.environ:
        os.environ[LOCKS_ENV] = tempfile.mkdtemp(prefix="clinic-test-locks-")
        config.add_cleanup(_forget_locks)


def _forget_locks() -> None:
    shutil.rmtree(os.environ.pop(LOCKS_ENV), ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Load tests (marked slow, and the bench's) run one after another on one worker, so
    two of them never compete for the cores (the other workers run everything else)."""
    for item in items:
        if item.get_closest_marker("slow") or item.nodeid.startswith("tests/bench/"):
            item.add_marker(pytest.mark.xdist_group("load"))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker a core, at most four (each holds PostgreSQL connections)."""
    return max(1, min(os.cpu_count() or 1, 4))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under pytest-xdist, a test marked ``alone`` has PostgreSQL to itself (set-up,
    session fixtures and teardown included); SQLite-only tests never wait for it."""
    callspec = getattr(item, "callspec", None)
    if (
        not hasattr(item.config, "workerinput")
        or (callspec is not None and callspec.params.get("backend") == "sqlite")
        or LOCKS_ENV not in os.environ
    ):
        return (yield)
    alone = item.get_closest_marker("alone") is not None
    with side_by_side(Path(os.environ[LOCKS_ENV]), alone=alone):
        return (yield)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    _last_test["nodeid"] = nodeid


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per skip reason, with its count, instead of one line per skipped test."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped, by reason", sep="-")
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:5d}  {reason}")
    leftovers = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == LEFTOVER and getattr(report, "when", "") == "setup"
    ]
    if leftovers:
        terminalreporter.section("connections a test left open (ended before the next)", sep="-")
        for earlier, connections in leftovers:
            terminalreporter.write_line(f"{earlier}: {'; '.join(connections)}")


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
LEFTOVER = "connections left open"
_OTHER_BACKENDS = (
    "FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)
_DESCRIBE = (
    "SELECT format('%s %s %s', coalesce(nullif(application_name, ''), '(no name)'), state, "
    "left(regexp_replace(query, '\\s+', ' ', 'g'), 80)) "
)
_last_test = {"nodeid": "(none)"}


async def reset_postgres(url: str) -> list[str]:
    """Empties the test database's tables, first ending every other connection to it.

    Nothing of an earlier test may hold a lock then (a background task mid-transaction,
    a server it left running, a pooled connection): the TRUNCATE would wait for it, and
    the sync fixture calling this blocks the event loop such a task runs in. Returns what
    was still connected, for the run's summary.
    """
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("SET lock_timeout = '5s'")
            described: list[str] = []
            for attempt in range(3):
                found = await conn.exec_driver_sql(_DESCRIBE + _OTHER_BACKENDS)
                described += found.scalars()
                await conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid, 5000) " + _OTHER_BACKENDS
                )
                try:
                    await conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
                    await conn.exec_driver_sql(
                        "INSERT INTO appointment_types (key, name, duration_minutes, modes, "
                        f"active) VALUES {LEGACY_TYPE_ROWS}"
                    )
                    return described
                except DBAPIError as exc:
                    # Something connected again meanwhile and took a lock: end it too.
                    if attempt == 2 or "lock timeout" not in str(exc.orig):
                        raise
            raise AssertionError("unreachable")
    finally:
        await engine.dispose()


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
    leftovers = asyncio.run(reset_postgres(url))
    if leftovers:
        # Shown in the run's summary: whatever an earlier test left connected.
        request.node.user_properties.append((LEFTOVER, (_last_test["nodeid"], leftovers)))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, token_cache_seconds=0)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    # As the app's shutdown does: no last-use write outlives the test (nor holds a lock).
    await flush_last_use()
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
