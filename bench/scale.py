"""``python -m bench --scale``: the same reads one at a time on a small and a large table.

Queries whose answer does not grow with the table (get one slot, search one provider's
day, one provider's week) should cost the same at any size; a week's window over every
provider counts rows in proportion to the table, so its total's time is reported beside
them. Each size runs in its own database and server; only the one-request-at-a-time
latency is measured (after a warm-up), for the API and for the floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bench.build_db import Target
from bench.runner import Options, Runner

# (workload key, title, answer grows with the table)
SCALE_WORKLOADS = (
    ("get_slot", "REST get one slot", False),
    ("rest_search", "REST search a provider's day", False),
    ("provider_week", "REST a provider's week (50)", False),
    ("rest_list", "REST a week, every provider (total grows)", True),
)
# The most a query whose answer does not grow may slow down at the larger size.
BOUND = 1.5


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


async def run_scale(
    options: Options,
    sizes: tuple[int, int],
    target_for: Callable[[int], Target],
    say: Callable[[str], None],
) -> list[ScaleRow]:
    rows = {key: ScaleRow(key, title, grows, {}) for key, title, grows in SCALE_WORKLOADS}
    for slots in sizes:
        sized = replace(
            options,
            target=target_for(slots),
            slots=slots,
            duration=0.0,
            only=tuple(rows),
        )
        run = await Runner(sized, say).run()
        for outcome in run.outcomes:
            for target, measurement in outcome.measurements.items():
                rows[outcome.key].p50[(target, slots)] = measurement.single_p50()
    return list(rows.values())


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
