"""``python -m bench --peer postgraphile``: the same page served by PostGraphile, side by side.

PostgreSQL only. PostGraphile 4 and its connection-filter plugin are installed with npm
into a cache folder (reused when present) and started on the bench database: loopback,
no watch (which would install event triggers), default mutations off, every transaction
read-only, query log off. Four targets then serve the same work, a 50-slot page of a
7-day window with each slot's provider names and the window's total, over the same 100
weeks: the floor, the REST list, the GraphQL list with ``totalCount`` and PostGraphile
with ``totalCount``. Before measuring, every target must answer the same rows and total
for a few weeks. Each is driven by wrk, one target at a time, one process each.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

from bench import wrk
from bench.build_db import BenchData, built_ids, prepare
from bench.load import Request
from bench.process import HOST, ServerProcess, free_port, stop_process
from bench.restore import baseline, exclusive, restore
from bench.runner import SERVER_ENV, Options
from bench.workloads import PAGE, graphql_list, rest_list, week_of

PACKAGES = ("postgraphile@4", "postgraphile-plugin-connection-filter@2")
PLUGIN = "postgraphile-plugin-connection-filter"
NPM_FLAGS = ("--no-audit", "--no-fund", "--loglevel=error")
WEEKS = 100
CHECKED_WEEKS = (0, 37, 74)
STARTUP_TIMEOUT = 120.0
# Node's JIT needs a few thousand requests before PostGraphile runs at its speed.
MIN_WARMUP = 3.0

POSTGRAPHILE_QUERY = (
    "query SlotPage($first: Int, $start: Datetime!, $end: Datetime!) { "
    "allAvailableSlots(first: $first, orderBy: [START_TIME_ASC, ID_ASC], "
    "filter: {startTime: {greaterThanOrEqualTo: $start, lessThan: $end}}) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { cursor node { id providerId startTime endTime "
    # The stored columns behind our computed `available` (PostGraphile serves tables only).
    "appointmentType adminClosed capacity bookedCount recurring recurrencePattern "
    "createdAt updatedAt "
    "providerByProviderId { id firstName lastName } } } } }"
)
TARGETS = (
    ("floor", "floor (bare ASGI, hand SQL, orjson)"),
    ("rest", "REST list page (50, with total)"),
    ("graphql", "GraphQL list page (50, totalCount)"),
    ("postgraphile", "PostGraphile (50, totalCount)"),
)


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clinic-bench" / "npm"


def install(folder: Path, say: Callable[[str], None]) -> Path:
    """PostGraphile's command in ``folder``, installed there with npm unless present."""
    command = folder / "node_modules" / ".bin" / "postgraphile"
    if command.exists() and (folder / "node_modules" / PLUGIN / "package.json").exists():
        return command
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: it installs PostGraphile for --peer")
    folder.mkdir(parents=True, exist_ok=True)
    say(f"peer: npm install {' '.join(PACKAGES)} into {folder}")
    subprocess.run(
        [npm, "install", *NPM_FLAGS, "--prefix", str(folder), *PACKAGES],
        check=True,
        cwd=folder,
    )
    return command


def version(folder: Path, package: str) -> str:
    manifest = folder / "node_modules" / package / "package.json"
    value: str = json.loads(manifest.read_text())["version"]
    return value


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostGraphileProcess:
    def __init__(self, command: Path, dsn: str, log_path: Path) -> None:
        self.command = command
        self.dsn = dsn
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        arguments = [
            str(self.command),
            "--connection",
            self.dsn,
            "--schema",
            "public",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--disable-default-mutations",
            "--disable-graphiql",
            "--disable-query-log",
            "--append-plugins",
            PLUGIN,
        ]
        # Every transaction of its pool read-only: the bench database stays untouched.
        env = {**os.environ, "PGOPTIONS": "-c default_transaction_read_only=on"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        return subprocess.Popen(
            arguments,
            cwd=self.command.parent.parent.parent,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"PostGraphile exited at startup; see {self.log_path}")
                try:
                    reply = await client.post(
                        f"http://{HOST}:{self.port}/graphql", json={"query": "{ __typename }"}
                    )
                    if reply.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        self.stop()
        raise RuntimeError(f"PostGraphile did not answer in {STARTUP_TIMEOUT:.0f} s")

    def stop(self) -> None:
        stop_process(self.process, self._log, signal.SIGTERM, timeout=20)


def _window(data: BenchData, index: int) -> tuple[str, str]:
    """The REST list's 7-day window (clinic days in UTC) as timestamps."""
    first, last = week_of(data, index)
    start = datetime.combine(first, clock.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), clock.min, tzinfo=UTC)
    return start.isoformat(), end.isoformat()


def postgraphile_request(data: BenchData, index: int) -> Request:
    start, end = _window(data, index)
    variables = {"first": PAGE, "start": start, "end": end}
    body = orjson.dumps({"query": POSTGRAPHILE_QUERY, "variables": variables})
    return Request("POST", "/graphql", body)


@dataclass
class PeerTarget:
    key: str
    title: str
    base_url: str
    requests: list[Request]
    headers: dict[str, str]
    pid: int
    result: wrk.WrkResult | None = None
    cpu_ms: float = float("nan")


@dataclass
class PeerRun:
    data: BenchData
    postgraphile_version: str
    targets: list[PeerTarget] = field(default_factory=list)

    def by_key(self) -> dict[str, PeerTarget]:
        return {t.key: t for t in self.targets}

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.data.target.backend,
            "slots": self.data.slots,
            "postgraphile": self.postgraphile_version,
            "targets": {
                t.key: {
                    "title": t.title,
                    "cpu_ms_per_request": round(t.cpu_ms, 3),
                    **(t.result.as_dict() if t.result else {}),
                }
                for t in self.targets
            },
        }


def _page_of(key: str, status: int, body: Any, total_header: str | None) -> tuple[list[int], int]:
    if status != 200:
        raise RuntimeError(f"{key} answered {status}: {str(body)[:300]}")
    if key in ("floor", "rest"):
        return [row["id"] for row in body], int(total_header or -1)
    if "errors" in body:
        raise RuntimeError(f"{key} answered errors: {str(body['errors'])[:300]}")
    connection = next(iter(body["data"].values()))
    return [edge["node"]["id"] for edge in connection["edges"]], connection["totalCount"]


async def check_same_rows(targets: Sequence[PeerTarget], indexes: Sequence[int]) -> int:
    """Every target answers the same ids in the same order, and the same total."""
    checked = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for index in indexes:
            pages: dict[str, tuple[list[int], int]] = {}
            for target in targets:
                request = target.requests[index]
                reply = await client.request(
                    request.method,
                    target.base_url + request.path,
                    content=request.body,
                    headers={**target.headers, "Content-Type": "application/json"},
                )
                body = reply.json()
                pages[target.key] = _page_of(
                    target.key, reply.status_code, body, reply.headers.get("x-total-count")
                )
            reference = pages[targets[0].key]
            if len(reference[0]) != PAGE:
                raise RuntimeError(f"week {index}: {len(reference[0])} rows, expected {PAGE}")
            for key, page in pages.items():
                if page != reference:
                    raise RuntimeError(
                        f"week {index}: {key} answered ids {page[0][:5]}... total {page[1]}, "
                        f"{targets[0].key} ids {reference[0][:5]}... total {reference[1]}"
                    )
            checked += 1
    return checked


def warmup_of(options: Options) -> float:
    return max(options.warmup, MIN_WARMUP)


async def measure(target: PeerTarget, options: Options, folder: Path) -> None:
    script = folder / f"wrk-{target.key}.lua"
    script.write_text(wrk.lua_script(target.requests, target.headers))
    await wrk.run(
        target.base_url, script, duration=warmup_of(options), connections=options.concurrency
    )
    before = cpu_seconds(target.pid)
    target.result = await wrk.run(
        target.base_url, script, duration=options.duration, connections=options.concurrency
    )
    spent = cpu_seconds(target.pid) - before
    if target.result.requests:
        target.cpu_ms = spent * 1000 / target.result.requests


async def run_peer(options: Options, say: Callable[[str], None]) -> PeerRun:
    if options.target.sqlite_path is not None:
        raise SystemExit("--peer postgraphile needs PostgreSQL (--database-url postgresql://...)")
    wrk.binary()
    folder = cache_folder()
    command = await asyncio.to_thread(install, folder, say)
    async with exclusive(options.target, say):
        return await _run_peer(options, say, folder, command)


async def _run_peer(
    options: Options, say: Callable[[str], None], folder: Path, command: Path
) -> PeerRun:
    say(f"database: {options.target.label}, {options.slots:,} slots")
    data = await prepare(options.target, options.slots, rebuild=options.rebuild)
    say("database: reused" if data.reused else f"database: built in {data.build_seconds:.1f} s")
    marks = await baseline(options.target, built_ids(options.slots))
    await restore(options.target, marks)
    run = PeerRun(data, version(folder, "postgraphile"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    server = ServerProcess(options.target.url, options.results / f"server-{stamp}.log", SERVER_ENV)
    peer = PostGraphileProcess(
        command, options.target.asyncpg_dsn, options.results / f"postgraphile-{stamp}.log"
    )
    try:
        await server.start()
        await peer.start()
        say(
            f"server: uvicorn pid {server.pid}; PostGraphile {run.postgraphile_version} "
            f"pid {peer.pid} on {HOST}:{peer.port}"
        )
        ours = f"http://{HOST}:{server.port}"
        token = {"X-User-Token": data.token}
        rest = await rest_list(data, "api", 0)
        floor = await rest_list(data, "floor", 0)
        gql = await graphql_list(data, "api", 0)
        assert rest is not None and floor is not None and gql is not None
        weeks = range(WEEKS)
        builders: dict[str, tuple[str, Callable[[int], Request], dict[str, str], int]] = {
            "floor": (ours, floor.build, token, server.pid),
            "rest": (ours, rest.build, token, server.pid),
            "graphql": (ours, gql.build, token, server.pid),
            "postgraphile": (
                f"http://{HOST}:{peer.port}",
                lambda i: postgraphile_request(data, i),
                {},
                peer.pid,
            ),
        }
        for key, title in TARGETS:
            base, build, headers, pid = builders[key]
            requests = [build(i) for i in weeks]
            run.targets.append(PeerTarget(key, title, base, requests, headers, pid))
        checked = await check_same_rows(run.targets, CHECKED_WEEKS)
        say(f"checked: all four answer the same {PAGE} rows and total for {checked} weeks")
        for target in run.targets:
            await measure(target, options, options.results)
            r = target.result
            assert r is not None
            say(
                f"{target.title}: {r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms, "
                f"p99 {r.p99_ms:.2f} ms, {target.cpu_ms:.2f} ms CPU/req, {r.errors} errors"
            )
    finally:
        peer.stop()
        server.stop()
        await restore(options.target, marks)
    return run


def _ratio(a: PeerTarget | None, b: PeerTarget | None) -> float:
    if a is None or b is None or a.result is None or b.result is None or not b.result.rps:
        return float("nan")
    return a.result.rps / b.result.rps


def peer_table(run: PeerRun, options: Options) -> str:
    keys = run.by_key()
    floor, peer = keys.get("floor"), keys.get("postgraphile")
    header = (
        f"{'target':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'errors':>6}"
        f" {'x floor':>7} {'x PostGraphile':>14}"
    )
    lines = [
        f"PostgreSQL, {run.data.slots:,} slots: a 50-slot page of a 7-day window with provider "
        f"names and its total; wrk -t{wrk.THREADS} -c{options.concurrency} "
        f"-d{max(1, round(options.duration))}s after {warmup_of(options):g} s of warm-up; "
        f"PostGraphile {run.postgraphile_version}",
        header,
        "-" * len(header),
    ]
    for target in run.targets:
        r = target.result
        if r is None:
            continue
        lines.append(
            f"{target.title:<38} {r.rps:>7.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"
            f" {target.cpu_ms:>7.2f} {r.errors:>6} {_ratio(target, floor):>7.2f}"
            f" {_ratio(target, peer):>14.2f}"
        )
    lines += [
        "",
        "CPU ms: the serving process's CPU time per request (the database's own not counted).",
        f"REST / PostGraphile: {_ratio(keys.get('rest'), peer):.2f}; "
        f"GraphQL / PostGraphile: {_ratio(keys.get('graphql'), peer):.2f}",
    ]
    return "\n".join(lines)
