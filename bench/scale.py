"""``python -m bench --scale``: the same reads one at a time on a small and a large table.

Queries whose answer does not grow with the table (get one slot, search one provider's
day, one provider's week) should cost the same at any size; a week's window over every
provider counts rows in proportion to the table, so its total's time is reported beside
them. Each size gets its own database and server, both running at once; after a warm-up
the requests go one at a time to each size in turn, so whatever else loads the machine
falls on both alike, and the ratio holds even when the absolute figures wander.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.build_db import BenchData, Target, built_ids, prepare
from bench.load import run_alternating, run_load
from bench.process import HOST, ServerProcess
from bench.restore import Marks, baseline, exclusive, restore
from bench.runner import SERVER_ENV, Options
from bench.workloads import WORKLOADS

# (workload key, title, answer grows with the table)
SCALE_WORKLOADS = (
    ("get_slot", "REST get one slot", False),
    ("rest_search", "REST search a provider's day", False),
    ("provider_week", "REST a provider's week (50)", False),
    ("rest_list", "REST a week, every provider (total grows)", True),
)
# The most a query whose answer does not grow may slow down at the larger size.
BOUND = 1.5
TARGETS = ("api", "floor")


@dataclass
class ScaleRow:
    key: str
    title: str
    grows: bool
    # (target, slots) -> one-at-a-time p50 in ms
    p50: dict[tuple[str, int], float]

    def ratio(self, target: str, small: int, large: int) -> float:
        a, b = self.p50.get((target, small), math.nan), self.p50.get((target, large), math.nan)
        return b / a if a else math.nan


@dataclass
class _Size:
    slots: int
    data: BenchData
    marks: Marks
    server: ServerProcess


async def _open(options: Options, target: Target, slots: int, say: Callable[[str], None]) -> _Size:
    say(f"database: {target.label}, {slots:,} slots")
    data = await prepare(target, slots, rebuild=options.rebuild)
    say("database: reused" if data.reused else f"database: built in {data.build_seconds:.1f} s")
    marks = await baseline(target, built_ids(slots))
    await restore(target, marks)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log = options.results / f"server-{stamp}-{slots}.log"
    return _Size(slots, data, marks, ServerProcess(target.url, log, SERVER_ENV))


async def run_scale(
    options: Options,
    sizes: tuple[int, int],
    target_for: Callable[[int], Target],
    say: Callable[[str], None],
) -> list[ScaleRow]:
    async with AsyncExitStack() as stack:
        for slots in sorted(sizes):
            await stack.enter_async_context(exclusive(target_for(slots), say))
        return await _run_scale(options, sizes, target_for, say)


async def _run_scale(
    options: Options,
    sizes: tuple[int, int],
    target_for: Callable[[int], Target],
    say: Callable[[str], None],
) -> list[ScaleRow]:
    rows = [ScaleRow(key, title, grows, {}) for key, title, grows in SCALE_WORKLOADS]
    makers = {w.key: w.make for w in WORKLOADS}
    opened = [await _open(options, target_for(slots), slots, say) for slots in sizes]
    try:
        for size in opened:
            await size.server.start()
        for row in rows:
            for target in TARGETS:
                plans = []
                for size in opened:
                    plan = await makers[row.key](size.data, target, 0.0)
                    assert plan is not None
                    headers = {"X-User-Token": size.data.token}
                    await run_load(
                        HOST,
                        size.server.port,
                        plan.build,
                        duration=options.warmup,
                        concurrency=1,
                        headers=headers,
                    )
                    plans.append((size.server.port, plan.build, headers))
                results = await run_alternating(HOST, plans, duration=options.single)
                for size, result in zip(opened, results, strict=True):
                    if result.errors:
                        raise RuntimeError(f"{row.key} [{target}]: {result.sample_error}")
                    row.p50[(target, size.slots)] = result.percentile(0.5)
                say(
                    f"{row.title} [{target}]: p50 "
                    + ", ".join(
                        f"{row.p50[(target, s.slots)]:.2f} ms at {s.slots:,}" for s in opened
                    )
                )
    finally:
        for size in opened:
            size.server.stop()
            await restore(size.data.target, size.marks)
    return rows


def _cell(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def scale_table(rows: list[ScaleRow], backend: str, sizes: tuple[int, int]) -> str:
    small, large = sizes
    header = (
        f"{'one request at a time, p50 ms':<44} {f'{small:,}':>11} {f'{large:,}':>11}"
        f" {'x':>6} {'floor':>8} {'floor':>8} {'x':>6}"
    )
    lines = [
        f"{backend}: {small:,} slots against {large:,} slots (API, then the floor)",
        header,
        "-" * len(header),
    ]
    notes: list[str] = []
    for row in rows:
        api = row.ratio("api", small, large)
        lines.append(
            f"{row.title:<44} {_cell(row.p50.get(('api', small), math.nan)):>11}"
            f" {_cell(row.p50.get(('api', large), math.nan)):>11} {_cell(api):>6}"
            f" {_cell(row.p50.get(('floor', small), math.nan)):>8}"
            f" {_cell(row.p50.get(('floor', large), math.nan)):>8}"
            f" {_cell(row.ratio('floor', small, large)):>6}"
        )
        if not row.grows and not math.isnan(api) and api > BOUND:
            notes.append(f"{row.title}: {api:.2f}x at {large:,} slots (more than {BOUND}x)")
    return "\n".join([*lines, "", *notes])


def scale_dict(rows: list[ScaleRow], sizes: tuple[int, int]) -> dict[str, Any]:
    return {
        "sizes": list(sizes),
        "p50_ms_one_at_a_time": {
            row.key: {
                f"{target}@{slots}": round(value, 3) for (target, slots), value in row.p50.items()
            }
            for row in rows
        },
    }
