"""wrk's report read back, its request script, and the scale comparison end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.build_db import Target, sqlite_target
from bench.load import Request
from bench.runner import Options
from bench.scale import SCALE_WORKLOADS, ScaleRow, run_scale, scale_table
from bench.wrk import lua_script, parse

REPORT = """Running 4s test @ http://127.0.0.1:5000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.71ms    4.07ms  32.29ms   92.29%
    Req/Sec     6.99k     2.07k    9.61k    60.00%
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.02s
  27998 requests in 4.01s, 2.59MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   6962.41
Transfer/sec:      2.58MB
"""


def test_a_wrk_report_reads_back_in_milliseconds() -> None:
    result = parse(REPORT)
    assert result.rps == pytest.approx(6962.41)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1020.0)
    assert result.requests == 27998
    assert result.errors == 8


def test_a_report_without_its_distribution_is_refused() -> None:
    with pytest.raises(RuntimeError, match="unreadable"):
        parse(REPORT.replace("     50%  850.00us\n", ""))


def test_the_script_carries_each_request_verbatim() -> None:
    body = b'{"query": "{ a(order: [X, Y]) { b } }", "odd": "]]"}'
    script = lua_script(
        [Request("GET", "/a?x=1"), Request("POST", "/graphql", body)], {"X-User-Token": "t"}
    )
    assert "{[[GET]], [[/a?x=1]], nil}" in script
    assert "[=[" + body.decode() + "]=]" in script
    assert "[ [[X-User-Token]] ] = [[t]]" in script
    assert "[ [[Content-Type]] ] = [[application/json]]" in script


def test_the_scale_table_flags_a_read_that_slows_with_the_table() -> None:
    rows = [
        ScaleRow("get_slot", "REST get one slot", False, {("api", 1): 2.0, ("api", 10): 4.0}),
        ScaleRow("rest_list", "a week", True, {("api", 1): 2.0, ("api", 10): 40.0}),
    ]
    printed = scale_table(rows, "sqlite", (1, 10))
    assert "REST get one slot: 2.00x at 10 slots" in printed
    assert "a week:" not in printed
    assert math.isclose(rows[0].ratio("api", 1, 10), 2.0)


@pytest.mark.slow
async def test_scale_measures_every_read_at_both_sizes(tmp_path: Path) -> None:
    def target_for(slots: int) -> Target:
        return sqlite_target(tmp_path / f"bench-{slots}.db")

    options = Options(
        target=target_for(200),
        slots=400,
        warmup=0.1,
        single=0.2,
        concurrency=2,
        results=tmp_path / "results",
    )
    rows = await run_scale(options, (200, 400), target_for, lambda _line: None)

    assert [row.key for row in rows] == [key for key, _title, _grows in SCALE_WORKLOADS]
    for row in rows:
        for target in ("api", "floor"):
            for slots in (200, 400):
                assert row.p50[(target, slots)] > 0, (row.key, target, slots)
    assert "REST a provider's week (50)" in scale_table(rows, "sqlite", (200, 400))
