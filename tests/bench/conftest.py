"""A bench database target of the test's own, on either backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.build_db import Target, drop_database, postgres_target, sqlite_target


@pytest.fixture
async def bench_target(backend: str, tmp_path: Path) -> AsyncIterator[Target]:
    if backend == "sqlite":
        yield sqlite_target(tmp_path / "bench.db")
        return
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped outside CI")
    target = postgres_target(server, 0, f"clinic_bench_test_{uuid.uuid4().hex[:10]}")
    try:
        yield target
    finally:
        await drop_database(target)
