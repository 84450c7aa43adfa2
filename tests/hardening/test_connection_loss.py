"""Losing the database: a quick 503 with Retry-After, never a hang; the pool recovers."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from clinic_availability.app import create_app
from common.db_errors import is_connection_loss
from common.settings import Settings
from models.platform.db import CONNECT_TIMEOUT, POOL_TIMEOUT, create_engine
from models.scheduling import slots as slot_ops
from tests.factories import SLOTS, Factory, future, iso

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
UNAVAILABLE_BODY = {"errors": "Service temporarily unavailable"}


def wrapped(kind: type[DBAPIError], orig: BaseException, invalidated: bool = False) -> DBAPIError:
    error = kind("SELECT 1", {}, orig)  # type: ignore[arg-type]
    error.connection_invalidated = invalidated
    return error


LOSSES = {
    "asyncpg connection closed mid-operation": wrapped(
        InterfaceError, asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    ),
    "server shutting down (57P01)": wrapped(
        OperationalError, asyncpg.exceptions.AdminShutdownError("terminating connection")
    ),
    "server starting up (57P03)": wrapped(
        OperationalError, asyncpg.exceptions.CannotConnectNowError("starting up")
    ),
    "statement timeout (57014)": wrapped(
        OperationalError, asyncpg.exceptions.QueryCanceledError("canceling statement")
    ),
    "invalidated connection": wrapped(DBAPIError, Exception("gone"), invalidated=True),
    "connection refused": ConnectionRefusedError(111, "refused"),
    "connect timeout": TimeoutError(),
    "unknown host": socket.gaierror(-2, "Name or service not known"),
    "pool checkout timeout": PoolTimeout("QueuePool limit reached"),
    "sqlite busy": wrapped(OperationalError, sqlite3.OperationalError("database is locked")),
}
NOT_LOSSES = {
    "sqlite missing table": wrapped(OperationalError, sqlite3.OperationalError("no such table: x")),
    "postgres missing table": wrapped(
        ProgrammingError, asyncpg.exceptions.UndefinedTableError("relation does not exist")
    ),
    "constraint violation": wrapped(
        IntegrityError, asyncpg.exceptions.UniqueViolationError("duplicate key")
    ),
    "asyncpg misuse": wrapped(
        InterfaceError, asyncpg.exceptions.InterfaceError("another operation is in progress")
    ),
    "a bug": RuntimeError("bug"),
    "missing file": FileNotFoundError(2, "No such file"),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_connection_losses_are_recognised(name: str) -> None:
    assert is_connection_loss(LOSSES[name])


@pytest.mark.parametrize("name", list(NOT_LOSSES))
def test_other_errors_are_not_connection_losses(name: str) -> None:
    assert not is_connection_loss(NOT_LOSSES[name])


@pytest.fixture
async def unreachable_client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=UNREACHABLE, token_cache_seconds=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("GET", SLOTS, {}),
        ("POST", SLOTS, {"json": {}}),
        ("POST", SLOTS, {"json": {}, "headers": {"Idempotency-Key": "k"}}),
        ("PUT", f"{SLOTS}/1", {"json": {}}),
    ],
)
async def test_unreachable_database_is_a_quick_503(
    unreachable_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    extra: dict[str, Any],
) -> None:
    headers = {"X-User-Token": "t" * 43, **extra.pop("headers", {})}
    started = time.perf_counter()
    response = await unreachable_client.request(method, path, headers=headers, **extra)
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == UNAVAILABLE_BODY
    # Quick means the refusal itself answered: no connect or pool timeout was waited out
    # (the cause logged is the refusal, not a timeout). The bound only catches a hang; a
    # loaded machine can stall a request for seconds without anything waiting on a timer.
    causes = [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]
    assert causes == ["database unavailable: ConnectionRefusedError"], causes
    assert elapsed < POOL_TIMEOUT + CONNECT_TIMEOUT, elapsed


async def test_unreachable_database_graphql_is_503(unreachable_client: httpx.AsyncClient) -> None:
    response = await unreachable_client.post(
        "/graphql",
        json={"query": "{ availableSlots { totalCount } }"},
        headers={"X-User-Token": "t" * 43},
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["status"] == 503


async def test_connection_killed_mid_request_is_503_then_recovers(
    backend: str,
    database_url: str,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    db_count: Any,
) -> None:
    if backend != "postgresql":
        pytest.skip("kills PostgreSQL backends")
    provider = await factory.provider()
    # Runs inside the write transaction, once it holds its connection: the connection in
    # use dies under it.
    real = slot_ops.run_program

    async def killed_first(session: Any, *args: Any, **kwargs: Any) -> Any:
        await session.execute(text("SELECT 1"))
        admin = create_engine(database_url)
        try:
            async with admin.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                await conn.commit()
        finally:
            await admin.dispose()
        return await real(session, *args, **kwargs)

    monkeypatch.setattr(slot_ops, "run_program", killed_first)
    start = future(30)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(future(31)),
        }
    }
    response = await client.post(SLOTS, json=body, headers=auth)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    monkeypatch.setattr(slot_ops, "run_program", real)
    assert await db_count("available_slots") == 0
    retry = await client.post(SLOTS, json=body, headers=auth)
    assert retry.status_code == 201
    assert await db_count("available_slots") == 1
