"""A PostgreSQL restart in the middle of a bounded write load on a real server.

The restart is of a cluster of the test's own, and the test fails unless it happened: the
command succeeded, the postmaster's start time moved and no backend from before is left.

Every request answered 2xx is stored, every other one stored nothing, nothing is stored
twice, nothing hangs, and the server recovers by itself. Retries with the same
Idempotency-Key after the restart complete the work without duplicates.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from clinic_availability.migrate import upgrade
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from tests.conftest import _admin_execute
from tests.factories import SLOTS, future, iso
from tests.pg_cluster import Cluster, free_port, private_cluster

pytestmark = pytest.mark.slow

# The load runs until a few seconds after the restart (at most MAX_REQUESTS creates).
MAX_REQUESTS = 4000  # a bound, not a target: the load ends 3 s after the restart does
RESTART_AFTER = 40
LOAD_AFTER_RESTART = 3.0
WORKERS = 4
REQUEST_TIMEOUT = 20.0
LOAD_DEADLINE = 90.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A cluster of this test's own: restarting it disturbs no other test or process."""
    with private_cluster() as own:
        yield own


@pytest.fixture
def restart_database(cluster: Cluster) -> str:
    asyncio.run(_admin_execute(cluster.url(), 'CREATE DATABASE "clinic"'))
    url = cluster.url("clinic")
    upgrade(url)
    return url


@dataclass(frozen=True)
class ServerState:
    started_at: datetime
    backends: frozenset[tuple[int, datetime]]


async def _server_state(conn: asyncpg.Connection) -> ServerState:
    started_at = await conn.fetchval("SELECT pg_postmaster_start_time()")
    rows = await conn.fetch(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE backend_type = 'client backend'"
    )
    return ServerState(started_at, frozenset((row["pid"], row["backend_start"]) for row in rows))


async def _connect(cluster: Cluster) -> asyncpg.Connection:
    return await asyncpg.connect(host="127.0.0.1", port=cluster.port, user="postgres")


@pytest.fixture
def server(restart_database: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "DATABASE_URL": restart_database, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "clinic_availability.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass
class Outcome:
    index: int
    status: int | None = None
    slot_id: int | None = None
    latency: float = 0.0
    finished_at: float = 0.0
    error: str | None = None
    attempts: list[int | None] = field(default_factory=list)


async def _setup(url: str) -> tuple[str, int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="L", last_name="T")
            provider = await people.create_provider(session, first_name="P", last_name="Q")
            return token, provider.id
    finally:
        await engine.dispose()


async def _stored(url: str, provider_id: int) -> dict[str, list[int]]:
    """Stored slot ids by start time (ISO text)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, start_time FROM available_slots WHERE provider_id = :p"),
                {"p": provider_id},
            )
            stored: dict[str, list[int]] = {}
            for ident, start in rows:
                stored.setdefault(iso(start), []).append(ident)
            return stored
    finally:
        await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        yield client


async def test_postgres_restart_under_write_load(
    server: str, restart_database: str, cluster: Cluster, http: httpx.AsyncClient
) -> None:
    token, provider_id = await _setup(restart_database)
    base = future(24 * 14)
    starts = [base + timedelta(hours=i) for i in range(MAX_REQUESTS)]

    def request_for(index: int) -> tuple[dict[str, Any], dict[str, str]]:
        body = {
            "available_slot": {
                "provider_id": provider_id,
                "start_time": iso(starts[index]),
                "end_time": iso(starts[index] + timedelta(minutes=30)),
            }
        }
        return body, {"X-User-Token": token, "Idempotency-Key": f"load-{index}"}

    async def send(outcome: Outcome) -> None:
        body, headers = request_for(outcome.index)
        started = time.perf_counter()
        try:
            response = await http.post(f"{server}{SLOTS}", json=body, headers=headers)
            outcome.status = response.status_code
            if response.status_code == 201:
                outcome.slot_id = response.json()["id"]
            if response.status_code == 503:
                assert response.headers.get("retry-after") == "1"
        except httpx.TimeoutException:
            outcome.status, outcome.error = None, "timeout"
        except httpx.TransportError as exc:
            outcome.status, outcome.error = None, type(exc).__name__
        outcome.latency = time.perf_counter() - started
        outcome.finished_at = time.perf_counter()
        outcome.attempts.append(outcome.status)

    outcomes: list[Outcome] = []
    done = 0
    restart: dict[str, float] = {}
    restart_task: asyncio.Task[None] | None = None

    # The proof that the fault happened: a connection held across it, the postmaster's
    # start time and the client backends (the server's pool among them) from before.
    held = await _connect(cluster)
    states: list[ServerState] = []
    restarted: list[subprocess.CompletedProcess[str]] = []

    async def do_restart() -> None:
        states.append(await _server_state(held))
        restart["began"] = time.perf_counter()
        restarted.append(await asyncio.to_thread(cluster.pg_ctl, "restart", "-m", "fast"))
        restart["ended"] = time.perf_counter()

    def load_over() -> bool:
        ended = restart.get("ended")
        recovered = ended is not None and time.perf_counter() > ended + LOAD_AFTER_RESTART
        return recovered or len(outcomes) >= MAX_REQUESTS

    async def worker() -> None:
        nonlocal done, restart_task
        while not load_over():
            outcome = Outcome(len(outcomes))
            outcomes.append(outcome)
            await send(outcome)
            done += 1
            if done == RESTART_AFTER and restart_task is None:
                restart_task = asyncio.create_task(do_restart())
            restarting = "began" in restart and "ended" not in restart
            # Refusals come back fast: pace them so a slow restart stays within the bound.
            await asyncio.sleep(0.1 if restarting else 0.02)

    load_started = time.perf_counter()
    try:
        async with asyncio.timeout(LOAD_DEADLINE):
            await asyncio.gather(*[worker() for _ in range(WORKERS)])
            if restart_task is not None:
                await restart_task
    finally:
        if restart_task is not None and not restart_task.done():
            await restart_task
    load_seconds = time.perf_counter() - load_started

    # The restart happened: the command succeeded, the postmaster is a new one, and no
    # backend from before survived (the held connection is dead).
    [command] = restarted
    [before] = states
    assert len(before.backends) >= 2, before  # this connection and the server's pool
    assert command.returncode == 0, command.stderr + command.stdout
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        await held.fetchval("SELECT 1")
    held.terminate()
    fresh = await _connect(cluster)
    try:
        after = await _server_state(fresh)
    finally:
        await fresh.close()
    assert after.started_at > before.started_at, (before.started_at, after.started_at)
    assert not before.backends & after.backends, "a backend from before the restart survived"
    assert all(started > after.started_at for _pid, started in after.backends)

    # First replies: 2xx stored (once), anything else stored nothing.
    stored = await _stored(restart_database, provider_id)
    assert all(len(ids) == 1 for ids in stored.values()), "a slot was stored twice"
    ok = [o for o in outcomes if o.status == 201]
    failed = [o for o in outcomes if o.status != 201]
    for outcome in ok:
        assert stored.get(iso(starts[outcome.index])) == [outcome.slot_id], outcome
    for outcome in failed:
        assert iso(starts[outcome.index]) not in stored, outcome
    assert len(stored) == len(ok)

    statuses: dict[str, int] = {}
    for outcome in outcomes:
        key = str(outcome.status) if outcome.status is not None else str(outcome.error)
        statuses[key] = statuses.get(key, 0) + 1
    assert set(statuses) <= {"201", "503"}, statuses  # no 500, no hang, no dropped connection
    after_restart = [o for o in outcomes if o.finished_at > restart.get("ended", float("inf"))]
    assert after_restart, "the load ended before the restart did"
    assert max(after_restart, key=lambda o: o.finished_at).status == 201  # recovered by itself
    max_latency = max(o.latency for o in outcomes)
    recovered_after = min(
        (o.finished_at for o in after_restart if o.status == 201), default=float("nan")
    ) - restart.get("ended", float("nan"))

    # Careless clients retry the failures with the same key: each completes exactly once.
    for outcome in failed:
        for _ in range(20):
            await send(outcome)
            if outcome.status == 201:
                break
            await asyncio.sleep(0.25)
    stored = await _stored(restart_database, provider_id)
    assert all(outcome.status == 201 for outcome in outcomes)
    assert all(len(ids) == 1 for ids in stored.values())
    assert len(stored) == len(outcomes)

    print(
        f"\nPostgreSQL restart under load: {len(outcomes)} creates, {WORKERS} workers, "
        f"{load_seconds:.1f}s; first replies {statuses}; restart took "
        f"{restart['ended'] - restart['began']:.1f}s; first 2xx {recovered_after:.2f}s after it; "
        f"max latency {max_latency:.2f}s; "
        f"{len(failed)} retried with the same key -> all stored once; rows {len(stored)}"
    )
