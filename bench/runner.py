"""One benchmark run: build the database, start the server, drive every workload."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import profile
from bench.build_db import BenchData, Target, built_ids, prepare
from bench.load import LoadResult, request_once, run_load
from bench.process import HOST, DispatcherProcess, ServerProcess
from bench.receiver import failing_receiver, register
from bench.report import Measurement, Outcome
from bench.restore import baseline, exclusive, restore
from bench.workloads import GRAPHQL_ERROR, WORKLOADS, Plan, Workload

RESULTS = Path(__file__).resolve().parent / "results"
# The server settings the bench runs with, beside the defaults: a one-year weekly series
# is materialised in full, the log stays quiet, and the expired-hold sweep (the bench makes
# no holds) puts no statement of its own into the per-request counts.
SERVER_ENV = {
    "RECURRENCE_HORIZON_DAYS": "400",
    "LOG_LEVEL": "WARNING",
    "HOLD_SWEEP_INTERVAL_SECONDS": "0",
}


@dataclass
class Options:
    target: Target
    slots: int
    duration: float = 4.0
    warmup: float = 1.0
    # Seconds of one-request-at-a-time measurement: service time without queueing.
    single: float = 1.5
    concurrency: int = 16
    only: tuple[str, ...] = ()
    rebuild: bool = True
    profile: tuple[str, ...] = ()
    results: Path = RESULTS
    # A webhook for every event pointing at a loopback receiver that answers 500, so the
    # run measures the API while deliveries fail and are retried by a dispatcher process
    # of their own (the server runs with WEBHOOK_DISPATCHER=false, as in production).
    failing_webhook: bool = False


@dataclass
class Run:
    options: Options
    data: BenchData
    outcomes: list[Outcome] = field(default_factory=list)
    memory_kb: dict[str, int] = field(default_factory=dict)
    started: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    # Rows the run added and deleted again, per table.
    restored: dict[str, int] = field(default_factory=dict)
    # With --failing-webhook: deliveries the receiver refused, the dispatcher's CPU time.
    dispatcher: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "backend": self.data.target.backend,
            "slots": self.data.slots,
            "providers": self.data.providers,
            "build_seconds": round(self.data.build_seconds, 1),
            "database_reused": self.data.reused,
            "duration": self.options.duration,
            "concurrency": self.options.concurrency,
            "machine": platform.platform(),
            "server_memory_kb": self.memory_kb,
            "workloads": {
                o.key: {
                    "title": o.title,
                    "skipped": o.skipped,
                    **{t: m.as_dict() for t, m in o.measurements.items()},
                }
                for o in self.outcomes
            },
            "profiles": self.profiles,
            "dispatcher": self.dispatcher,
        }


def _route_missing(status: int, body: bytes) -> str | None:
    if status in (404, 405):
        return "route not available"
    if b"Cannot query field" in body or b"Unknown type" in body:
        return "GraphQL field not available"
    return None


class Runner:
    def __init__(self, options: Options, say: Callable[[str], None] = print) -> None:
        self.options = options
        self.say = say

    async def run(self) -> Run:
        async with exclusive(self.options.target, self.say):
            return await self._run()

    async def _run(self) -> Run:
        o = self.options
        self.say(f"database: {o.target.label}, {o.slots:,} slots")
        data = await prepare(o.target, o.slots, rebuild=o.rebuild)
        if data.reused:
            self.say("database: reused (built earlier with the same size)")
        else:
            self.say(f"database: built in {data.build_seconds:.1f} s")
        marks = await baseline(o.target, built_ids(o.slots))
        leftover = await restore(o.target, marks)
        if leftover:
            self.say(f"database: deleted rows an interrupted run left: {_rows(leftover)}")
        run = Run(options=o, data=data, started=datetime.now(UTC).isoformat(timespec="seconds"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        env = {
            **SERVER_ENV,
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": str(o.failing_webhook).lower(),
            "WEBHOOK_DISPATCHER": "false",
        }
        server = ServerProcess(o.target.url, o.results / f"server-{stamp}.log", env)
        dispatcher = DispatcherProcess(o.target.url, o.results / f"dispatcher-{stamp}.log", env)
        async with contextlib.AsyncExitStack() as stack:
            try:
                await server.start()
                self.say(f"server: uvicorn pid {server.pid} on {HOST}:{server.port}")
                if o.failing_webhook:
                    receiver, url = await stack.enter_async_context(failing_receiver())
                    await register(server.port, data.token, url)
                    await dispatcher.start()
                    self.say(
                        f"webhook: every event to {url}, which answers 500; "
                        f"dispatch-webhooks pid {dispatcher.pid}"
                    )
                await self._workloads(server, data, run)
                run.memory_kb = server.memory_kb()
                if o.failing_webhook:
                    # A short run may end before the first poll (SQLite: every second).
                    deadline = time.monotonic() + 10.0
                    while receiver.deliveries == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - a plain counter
                        await asyncio.sleep(0.1)
                    run.dispatcher = {
                        "deliveries_refused": receiver.deliveries,
                        "cpu_seconds": round(dispatcher.cpu_seconds(), 2),
                    }
                    self.say(
                        f"webhook: {receiver.deliveries} deliveries refused with 500; "
                        f"the dispatcher used {dispatcher.cpu_seconds():.1f} s of CPU"
                    )
            finally:
                # The receiver still answers: the last sends finish, their answers stored.
                await asyncio.to_thread(dispatcher.stop)
                server.stop()
                run.restored = await restore(o.target, marks)
                if run.restored:
                    self.say(f"database: as built again, deleted {_rows(run.restored)}")
        return run

    async def _workloads(self, server: ServerProcess, data: BenchData, run: Run) -> None:
        only = self.options.only
        for workload in WORKLOADS:
            if only and workload.key not in only:
                continue
            run.outcomes.append(await self._workload(server, data, workload, run))

    async def _workload(
        self, server: ServerProcess, data: BenchData, workload: Workload, run: Run
    ) -> Outcome:
        outcome = Outcome(workload.key, workload.title)
        headers = {"X-User-Token": data.token}
        for target in workload.targets:
            o = self.options
            plan = await workload.make(data, target, o.warmup + o.duration + o.single)
            if plan is None:
                continue
            status, body = await request_once(HOST, server.port, plan.build(0), headers)
            missing = _route_missing(status, body)
            if missing is not None:
                if target == "api":
                    outcome.skipped = missing
                    self.say(f"{workload.title}: n/a ({missing})")
                    return outcome
                continue
            measurement = await self._measure(server, workload, target, plan, headers, run)
            outcome.measurements[target] = measurement
            r = measurement.result
            loaded = (
                f"{r.rps:.0f} req/s, p50 {r.percentile(0.5):.2f} ms,"
                f" p99 {r.percentile(0.99):.2f} ms, {measurement.statements:.2f} SQL/req, "
                if r.requests
                else ""
            )
            self.say(
                f"{workload.title} [{target}]: {loaded}one at a time p50"
                f" {measurement.single_p50():.2f} ms, {measurement.errors} errors"
            )
        return outcome

    async def _measure(
        self,
        server: ServerProcess,
        workload: Workload,
        target: str,
        plan: Plan,
        headers: dict[str, str],
        run: Run,
    ) -> Measurement:
        o = self.options

        def budget(first: int) -> int | None:
            return None if plan.limit is None else max(0, plan.limit - first)

        marker = plan.error_marker if plan.error_marker == GRAPHQL_ERROR else None
        common: dict[str, Any] = {
            "concurrency": o.concurrency,
            "headers": headers,
            "error_marker": marker,
        }
        warm = await run_load(
            HOST,
            server.port,
            plan.build,
            duration=o.warmup,
            first_index=1,
            max_requests=budget(1),
            **common,
        )
        before = await server.stats()
        spy = None
        if target == "api" and workload.key in o.profile:
            output = o.results / f"profile-{workload.key}-{o.target.backend}.txt"
            spy = profile.start(server.pid, o.duration, output)
        # A duration of 0 measures one request at a time only (the scale comparison).
        result = (
            await run_load(
                HOST,
                server.port,
                plan.build,
                duration=o.duration,
                first_index=warm.next_index,
                max_requests=budget(warm.next_index),
                **common,
            )
            if o.duration > 0
            else LoadResult(next_index=warm.next_index)
        )
        after = await server.stats()
        single = None
        if o.single > 0:
            single = await run_load(
                HOST,
                server.port,
                plan.build,
                duration=o.single,
                first_index=result.next_index,
                max_requests=budget(result.next_index),
                **{**common, "concurrency": 1},
            )
        if spy is not None:
            await asyncio.to_thread(spy.wait, 60)
            summary = profile.summarise(output)
            output.with_suffix(".summary.txt").write_text(summary + "\n")
            run.profiles[workload.key] = str(output)
        key = "floor_statements" if target == "floor" else "api_statements"
        statements = (after[key] - before[key]) / result.requests if result.requests else 0.0
        return Measurement(target, result, statements, single)


def _rows(deleted: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {table}" for table, count in deleted.items())


def elapsed_since(start: float) -> str:
    return f"{time.perf_counter() - start:.0f} s"
