"""The benchmark itself, end to end on a tiny database: every workload runs and reports."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bench.build_db import Target, drop_database, postgres_target, sqlite_target
from bench.report import table
from bench.runner import Options, Runner
from bench.workloads import WORKLOADS

SLOTS = 400
READS = (
    "rest_list",
    "gql_list",
    "rest_search",
    "gql_search",
    "get_slot",
    "gql_get_slot",
    "provider_week",
    "list_books",
)


def _target(backend: str, tmp_path: Path) -> Target:
    if backend == "sqlite":
        return sqlite_target(tmp_path / "bench.db")
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped outside CI")
    return postgres_target(server, SLOTS, f"clinic_bench_test_{uuid.uuid4().hex[:10]}")


@pytest.mark.slow
async def test_every_workload_runs_against_its_floor(backend: str, tmp_path: Path) -> None:
    target = _target(backend, tmp_path)
    options = Options(
        target=target,
        slots=SLOTS,
        duration=0.3,
        warmup=0.1,
        single=0.2,
        concurrency=2,
        results=tmp_path / "results",
    )
    lines: list[str] = []
    try:
        run = await Runner(options, lines.append).run()
    finally:
        await drop_database(target)

    assert run.data.slots == SLOTS and not run.data.reused
    assert [outcome.key for outcome in run.outcomes] == [w.key for w in WORKLOADS]
    for outcome in run.outcomes:
        assert outcome.skipped is None, (outcome.key, outcome.skipped)
        for target_name in ("api", "floor"):
            measured = outcome.measurements[target_name]
            assert measured.result.requests > 0, (outcome.key, target_name)
            assert measured.single is not None and measured.single.requests > 0
            assert measured.errors == 0, (outcome.key, target_name, measured.sample_error)
        if outcome.key in READS:
            api = outcome.measurements["api"]
            # The token's last use is written at most once a minute: one statement that
            # may land in any workload's measurement.
            assert api.statements <= 2.0 + 1 / api.result.requests, outcome.key
    defaults = run.outcomes[1].measurements["defaults"]
    assert defaults.result.requests > 0
    assert defaults.errors == 0, defaults.sample_error
    assert run.memory_kb.get("VmRSS", 0) > 0

    printed = table(run.outcomes)
    assert printed.splitlines()[0].split()[:2] == ["workload", "req/s"]
    for workload in WORKLOADS:
        assert workload.title in printed
    assert "Strawberry's defaults" in printed
    assert list((tmp_path / "results").glob("server-*.log"))


async def test_reuse_keeps_a_database_of_the_same_size(tmp_path: Path) -> None:
    from bench.build_db import prepare

    target = sqlite_target(tmp_path / "reuse.db")
    built = await prepare(target, 50)
    again = await prepare(target, 50, rebuild=False)
    assert again.reused and again.token == built.token
    resized = await prepare(target, 60, rebuild=False)
    assert not resized.reused and resized.token != built.token


@pytest.mark.slow
async def test_creates_measured_while_a_webhook_fails(backend: str, tmp_path: Path) -> None:
    """``--failing-webhook``: every created slot's event is delivered (by a dispatcher
    process of its own), refused and retried."""
    target = _target(backend, tmp_path)
    options = Options(
        target=target,
        slots=SLOTS,
        duration=1.0,
        warmup=0.2,
        single=0.2,
        concurrency=2,
        only=("create_slot",),
        results=tmp_path / "results",
        failing_webhook=True,
    )
    lines: list[str] = []
    try:
        run = await Runner(options, lines.append).run()
    finally:
        await drop_database(target)

    (outcome,) = run.outcomes
    api = outcome.measurements["api"]
    assert api.errors == 0 and api.result.requests > 0
    assert any(line.startswith("webhook: every event to http://127.0.0.1:") for line in lines)
    refused = [line for line in lines if "deliveries refused with 500" in line]
    assert refused and int(refused[0].split()[1]) > 0, lines
    assert run.dispatcher["deliveries_refused"] > 0
    # Delivered by a dispatch-webhooks process beside the server, not by the server.
    (log,) = (tmp_path / "results").glob("dispatcher-*.log")
    assert b"webhook dispatcher started" in log.read_bytes()
    # The webhook and its deliveries go with the run, like every other row it added.
    assert "webhook" in " ".join(line for line in lines if line.startswith("database: as built"))
