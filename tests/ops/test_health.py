"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability.app import create_app
from common.settings import Settings


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


async def test_readyz_is_unavailable_while_migrations_are_behind(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    head = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    await session.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    await session.commit()
    try:
        response = await client.get("/readyz")
    finally:
        await session.execute(
            text("UPDATE alembic_version SET version_num = :head"), {"head": head}
        )
        await session.commit()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "behind"},
    }
    assert (await client.get("/readyz")).status_code == 200


async def _readyz(database_url: str) -> httpx.Response:
    app = create_app(Settings(database_url=database_url, readiness_timeout_seconds=5))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get("/readyz")
    finally:
        await app.state.engine.dispose()


async def test_readyz_reports_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    response = await _readyz(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "migrations": "missing"}


async def test_readyz_reports_an_unreachable_database_without_details() -> None:
    response = await _readyz("postgresql+asyncpg://clinic:secret-pw@127.0.0.1:9/clinic")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unreachable", "migrations": "unknown"},
    }
    assert "secret-pw" not in response.text
