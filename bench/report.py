"""The table the bench prints, and the same numbers as JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bench.load import LoadResult


@dataclass
class Measurement:
    """Throughput under load (``result``) and service time one request at a time."""

    target: str
    result: LoadResult
    statements: float
    single: LoadResult | None = None

    @property
    def errors(self) -> int:
        return self.result.errors + (self.single.errors if self.single else 0)

    @property
    def sample_error(self) -> str | None:
        return self.result.sample_error or (self.single.sample_error if self.single else None)

    def single_p50(self) -> float:
        return self.single.percentile(0.50) if self.single else math.nan

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "requests": r.requests,
            "errors": self.errors,
            "rps": round(r.rps, 1),
            "p50_ms": round(r.percentile(0.50), 2),
            "p99_ms": round(r.percentile(0.99), 2),
            "p50_ms_one_at_a_time": round(self.single_p50(), 2),
            "p99_ms_one_at_a_time": round(self.single.percentile(0.99), 2) if self.single else None,
            "statements_per_request": round(self.statements, 2),
            "sample_error": self.sample_error,
        }


@dataclass
class Outcome:
    key: str
    title: str
    measurements: dict[str, Measurement] = field(default_factory=dict)
    skipped: str | None = None

    def ratio(self, target: str, reference: str) -> float:
        mine, other = self.measurements.get(target), self.measurements.get(reference)
        if mine is None or other is None or other.result.rps == 0:
            return math.nan
        return mine.result.rps / other.result.rps


HEADER = (
    f"{'workload':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 c1':>7} {'SQL/req':>7}"
    f" {'errors':>6} {'floor/s':>7} {'fl p50':>7} {'fl c1':>6} {'fl SQL':>6} {'x floor':>7}"
)
LEGEND = (
    "req/s, p50, p99: under load (all connections busy); c1: one request at a time; "
    "fl: the floor; x floor: req/s over the floor's req/s."
)


def _number(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _row(title: str, mine: Measurement | None, floor: Measurement | None) -> str:
    if mine is None:
        return f"{title:<38} {'n/a':>7}"
    r = mine.result
    cells = (
        f"{title:<38} {r.rps:>7.0f} {_number(r.percentile(0.5), 2):>8} "
        f"{_number(r.percentile(0.99), 2):>8} {_number(mine.single_p50(), 2):>7}"
        f" {mine.statements:>7.2f} {mine.errors:>6}"
    )
    if floor is None:
        return cells
    f = floor.result
    ratio = r.rps / f.rps if f.rps else math.nan
    return (
        cells + f" {f.rps:>7.0f} {_number(f.percentile(0.5), 2):>7}"
        f" {_number(floor.single_p50(), 2):>6} {floor.statements:>6.2f} {_number(ratio, 2):>7}"
    )


def table(outcomes: list[Outcome]) -> str:
    lines = [HEADER, "-" * len(HEADER)]
    notes: list[str] = []
    for outcome in outcomes:
        if outcome.skipped is not None:
            lines.append(f"{outcome.title:<38} {'n/a':>7}  ({outcome.skipped})")
            continue
        floor = outcome.measurements.get("floor")
        lines.append(_row(outcome.title, outcome.measurements.get("api"), floor))
        defaults = outcome.measurements.get("defaults")
        if defaults is not None:
            lines.append(_row("  same, Strawberry defaults", defaults, floor))
            notes.append(
                f"{outcome.title}: {_number(outcome.ratio('api', 'defaults'), 2)}x the "
                "throughput of the same schema with Strawberry's defaults"
            )
        for measurement in outcome.measurements.values():
            if measurement.sample_error:
                notes.append(
                    f"{outcome.title} [{measurement.target}] first error: "
                    f"{measurement.sample_error[:200]}"
                )
    by_key = {outcome.key: outcome for outcome in outcomes}
    pairs = (
        ("gql_list", "rest_list"),
        ("gql_search", "rest_search"),
        ("gql_get_slot", "get_slot"),
    )
    for graphql, rest in pairs:
        if graphql in by_key and rest in by_key:
            a, b = by_key[graphql].measurements.get("api"), by_key[rest].measurements.get("api")
            if a is not None and b is not None and b.result.rps:
                notes.append(
                    f"{by_key[graphql].title}: {a.result.rps / b.result.rps:.2f}x the "
                    f"throughput of {by_key[rest].title}"
                )
    return "\n".join([*lines, "", LEGEND, *notes])
