"""FastAPI's own OpenTelemetry instrumentation follows ``OPENTELEMETRY``: off by default,
so no request looks for the global providers; on, every request does."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace

from clinic_availability.app import create_app
from common.settings import Settings


@pytest.mark.parametrize("enabled", [False, True])
async def test_requests_look_for_providers_only_when_enabled(
    enabled: bool, sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "otel.db"
    shutil.copyfile(sqlite_template, path)
    looked = 0
    provider = trace.get_tracer_provider()

    def counting() -> trace.TracerProvider:
        nonlocal looked
        looked += 1
        return provider

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}", opentelemetry=enabled))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for _ in range(3):
                reply = await http.get("/healthz")
                assert reply.status_code == 200
    finally:
        await app.state.engine.dispose()
    assert (looked >= 3) is enabled
    assert (looked == 0) is not enabled
