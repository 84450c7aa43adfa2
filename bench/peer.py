"""``python -m bench --peer postgraphile``: the same reads served by PostGraphile 4 and 5.

PostgreSQL only. PostGraphile 4 and 5 are installed with npm into a cache folder and
started read-only on the bench database (``bench/postgraphile.py``). Five targets then
serve two workloads, one target at a time, one process each, driven by wrk:

- a 50-slot page of a 7-day window with each slot's provider names and the window's
  total, over the same 100 weeks;
- one slot by id (with its provider's names), over the same 100 ids.

The targets: the floor, the REST face, the GraphQL face and PostGraphile 4 and 5. Before
measuring, every target must answer the same ids (and totals) for a few weeks and ids.
Each target's server CPU time per request is read from /proc around its measurement.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import wrk
from bench.build_db import BenchData, built_ids, prepare
from bench.load import Request
from bench.postgraphile import (
    PEERS,
    V4,
    V5,
    Peer,
    PostGraphileProcess,
    cache_folder,
    install,
)
from bench.process import HOST, ServerProcess
from bench.restore import baseline, exclusive, restore
from bench.runner import SERVER_ENV, Options
from bench.workloads import (
    API_BASE,
    FLOOR_BASE,
    PAGE,
    SLOT_FIELDS,
    graphql_list,
    rest_list,
    week_of,
)

WEEKS = 100
CHECKED_WEEKS = (0, 37, 74)
CHECKED_RECORDS = (0, 41, 83)
# Node's JIT needs a few thousand requests before PostGraphile runs at its speed.
MIN_WARMUP = 3.0

# The stored columns behind our computed `available` (PostGraphile serves tables only).
_PEER_SLOT = (
    "{id} providerId startTime endTime appointmentType adminClosed capacity bookedCount "
    "recurring recurrencePattern createdAt updatedAt providerByProviderId {{ {id} firstName "
    "lastName }}"
)
_PEER_PAGE = (
    "query SlotPage($first: Int, $start: Datetime!, $end: Datetime!) {{ "
    "allAvailableSlots(first: $first, orderBy: [START_TIME_ASC, {order}_ASC], "
    "filter: {{startTime: {{greaterThanOrEqualTo: $start, lessThan: $end}}}}) {{ totalCount "
    "pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {slot} }} }} }} }}"
)
# PostGraphile 5's Amber preset names the primary key `rowId` (`id` is the global Node id).
POSTGRAPHILE_QUERY = _PEER_PAGE.format(order="ID", slot=_PEER_SLOT.format(id="id"))
POSTGRAPHILE5_QUERY = _PEER_PAGE.format(order="ROW_ID", slot=_PEER_SLOT.format(id="rowId"))
RECORD_QUERIES = {
    "graphql": "query Slot($id: Int!) { availableSlot(id: $id) { " + SLOT_FIELDS + " } }",
    V4.key: "query Slot($id: Int!) { availableSlotById(id: $id) { "
    + _PEER_SLOT.format(id="id")
    + " } }",
    V5.key: "query Slot($id: Int!) { availableSlotByRowId(rowId: $id) { "
    + _PEER_SLOT.format(id="rowId")
    + " } }",
}
PAGE_QUERIES = {V4.key: POSTGRAPHILE_QUERY, V5.key: POSTGRAPHILE5_QUERY}
TARGETS = (
    ("floor", "floor (bare ASGI, hand SQL, orjson)"),
    ("rest", "REST"),
    ("graphql", "GraphQL"),
    (V4.key, V4.title),
    (V5.key, V5.title),
)
WORKLOADS = (
    ("page", "a 50-slot page of a 7-day window with provider names and its total"),
    ("record", "one slot by id with its provider's names"),
)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _window(data: BenchData, index: int) -> tuple[str, str]:
    """The REST list's 7-day window (clinic days in UTC) as timestamps."""
    first, last = week_of(data, index)
    start = datetime.combine(first, clock.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), clock.min, tzinfo=UTC)
    return start.isoformat(), end.isoformat()


def postgraphile_request(data: BenchData, index: int, peer: Peer = V4) -> Request:
    start, end = _window(data, index)
    variables = {"first": PAGE, "start": start, "end": end}
    body = orjson.dumps({"query": PAGE_QUERIES[peer.key], "variables": variables})
    return Request("POST", "/graphql", body)


def _peer_page(data: BenchData, peer: Peer, index: int) -> Request:
    return postgraphile_request(data, index, peer)


def record_id(data: BenchData, index: int) -> int:
    return 1 + index * 7919 % data.slots


def record_request(data: BenchData, key: str, index: int) -> Request:
    """One slot by id, as each target asks for it."""
    slot = record_id(data, index)
    if key == "floor":
        return Request("GET", f"{FLOOR_BASE}/available_slots/{slot}")
    if key == "rest":
        return Request("GET", f"{API_BASE}/available_slots/{slot}")
    body = orjson.dumps({"query": RECORD_QUERIES[key], "variables": {"id": slot}})
    return Request("POST", "/graphql", body)


@dataclass
class PeerTarget:
    key: str
    title: str
    base_url: str
    requests: list[Request]
    headers: dict[str, str]
    pid: int
    workload: str = "page"
    result: wrk.WrkResult | None = None
    cpu_ms: float = float("nan")


@dataclass
class PeerRun:
    data: BenchData
    versions: dict[str, str]
    targets: list[PeerTarget] = field(default_factory=list)

    def of(self, workload: str) -> list[PeerTarget]:
        return [t for t in self.targets if t.workload == workload]

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.data.target.backend,
            "slots": self.data.slots,
            "postgraphile": self.versions,
            "workloads": {
                workload: {
                    t.key: {
                        "title": t.title,
                        "cpu_ms_per_request": round(t.cpu_ms, 3),
                        **(t.result.as_dict() if t.result else {}),
                    }
                    for t in self.of(workload)
                }
                for workload, _title in WORKLOADS
            },
        }


def _checked(key: str, status: int, body: Any) -> Any:
    if status != 200:
        raise RuntimeError(f"{key} answered {status}: {str(body)[:300]}")
    if isinstance(body, dict) and "errors" in body:
        raise RuntimeError(f"{key} answered errors: {str(body['errors'])[:300]}")
    return body


def _row_id(node: dict[str, Any]) -> int:
    return int(node["rowId"] if "rowId" in node else node["id"])


def _page_of(key: str, status: int, body: Any, total_header: str | None) -> tuple[list[int], int]:
    body = _checked(key, status, body)
    if key in ("floor", "rest"):
        return [row["id"] for row in body], int(total_header or -1)
    connection = next(iter(body["data"].values()))
    return [_row_id(edge["node"]) for edge in connection["edges"]], connection["totalCount"]


def _record_of(key: str, status: int, body: Any, _total: str | None) -> tuple[int, int]:
    """The slot's id and its provider's id."""
    body = _checked(key, status, body)
    if key in ("floor", "rest"):
        return body["id"], body["provider_id"]
    record = next(iter(body["data"].values()))
    return _row_id(record), record["providerId"]


READERS: dict[str, Callable[[str, int, Any, str | None], Any]] = {
    "page": _page_of,
    "record": _record_of,
}


async def check_same_answers(targets: Sequence[PeerTarget], indexes: Sequence[int]) -> int:
    """Every target answers the same ids in the same order (and the same total)."""
    checked = 0
    workload = targets[0].workload
    read = READERS[workload]
    async with httpx.AsyncClient(timeout=60) as client:
        for index in indexes:
            answers: dict[str, Any] = {}
            for target in targets:
                request = target.requests[index]
                reply = await client.request(
                    request.method,
                    target.base_url + request.path,
                    content=request.body,
                    headers={**target.headers, "Content-Type": "application/json"},
                )
                answers[target.key] = read(
                    target.key, reply.status_code, reply.json(), reply.headers.get("x-total-count")
                )
            reference = answers[targets[0].key]
            if workload == "page" and not 0 < len(reference[0]) == min(PAGE, reference[1]):
                raise RuntimeError(f"week {index}: {len(reference[0])} rows of {reference[1]}")
            for key, answer in answers.items():
                if answer != reference:
                    raise RuntimeError(
                        f"{workload} {index}: {key} answered {str(answer)[:80]}, "
                        f"{targets[0].key} {str(reference)[:80]}"
                    )
            checked += 1
    return checked


def warmup_of(options: Options) -> float:
    return max(options.warmup, MIN_WARMUP)


async def measure(target: PeerTarget, options: Options, folder: Path) -> None:
    script = folder / f"wrk-{target.workload}-{target.key}.lua"
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


async def run_peer(
    options: Options, say: Callable[[str], None], *, measured: bool = True
) -> PeerRun:
    """The comparison; with ``measured`` false, everything up to the checks (no wrk)."""
    if options.target.sqlite_path is not None:
        raise SystemExit("--peer postgraphile needs PostgreSQL (--database-url postgresql://...)")
    if measured:
        wrk.binary()
    cache = cache_folder()
    commands = {}
    for peer in PEERS:
        commands[peer.key] = await asyncio.to_thread(install, peer, cache, say)
    versions = {peer.key: peer.version(cache) for peer in PEERS}
    async with exclusive(options.target, say):
        return await _run_peer(options, say, commands, versions, measured)


async def _run_peer(
    options: Options,
    say: Callable[[str], None],
    commands: dict[str, list[str]],
    versions: dict[str, str],
    measured: bool,
) -> PeerRun:
    say(f"database: {options.target.label}, {options.slots:,} slots")
    data = await prepare(options.target, options.slots, rebuild=options.rebuild)
    say("database: reused" if data.reused else f"database: built in {data.build_seconds:.1f} s")
    marks = await baseline(options.target, built_ids(options.slots))
    await restore(options.target, marks)
    run = PeerRun(data, versions)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    server = ServerProcess(options.target.url, options.results / f"server-{stamp}.log", SERVER_ENV)
    peers = {
        peer.key: PostGraphileProcess(
            peer,
            commands[peer.key],
            options.target.asyncpg_dsn,
            options.results / f"{peer.key}-{stamp}.log",
        )
        for peer in PEERS
    }
    try:
        await server.start()
        for process in peers.values():
            await process.start()
        say(
            f"server: uvicorn pid {server.pid}; "
            + "; ".join(
                f"{p.peer.title} {versions[key]} pid {p.pid} on port {p.port}"
                for key, p in peers.items()
            )
        )
        run.targets = await _targets(data, server, peers)
        for workload, _title in WORKLOADS:
            indexes = CHECKED_WEEKS if workload == "page" else CHECKED_RECORDS
            checked = await check_same_answers(run.of(workload), indexes)
            say(f"checked {workload}: all five answer the same ids for {checked} requests")
        if not measured:
            return run
        for target in run.targets:
            await measure(target, options, options.results)
            r = target.result
            assert r is not None
            say(
                f"{target.workload} {target.title}: {r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms, "
                f"p99 {r.p99_ms:.2f} ms, {target.cpu_ms:.2f} ms CPU/req, {r.errors} errors"
            )
    finally:
        for process in peers.values():
            process.stop()
        server.stop()
        await restore(options.target, marks)
    return run


async def _targets(
    data: BenchData, server: ServerProcess, peers: dict[str, PostGraphileProcess]
) -> list[PeerTarget]:
    ours = f"http://{HOST}:{server.port}"
    token = {"X-User-Token": data.token}
    rest = await rest_list(data, "api", 0)
    floor = await rest_list(data, "floor", 0)
    gql = await graphql_list(data, "api", 0)
    assert rest is not None and floor is not None and gql is not None
    pages: dict[str, Callable[[int], Request]] = {
        "floor": floor.build,
        "rest": rest.build,
        "graphql": gql.build,
    }
    for key, process in peers.items():
        pages[key] = functools.partial(_peer_page, data, process.peer)
    where = {
        "floor": (ours, token, server.pid),
        "rest": (ours, token, server.pid),
        "graphql": (ours, token, server.pid),
        **{key: (p.base_url, {}, p.pid) for key, p in peers.items()},
    }
    targets = []
    for workload, _title in WORKLOADS:
        for key, title in TARGETS:
            base, headers, pid = where[key]
            if workload == "page":
                requests = [pages[key](i) for i in range(WEEKS)]
            else:
                requests = [record_request(data, key, i) for i in range(WEEKS)]
            targets.append(PeerTarget(key, title, base, requests, headers, pid, workload))
    return targets


def _ratio(a: PeerTarget | None, b: PeerTarget | None) -> float:
    if a is None or b is None or a.result is None or b.result is None or not b.result.rps:
        return float("nan")
    return a.result.rps / b.result.rps


def peer_table(run: PeerRun, options: Options) -> str:
    header = (
        f"{'target':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'errors':>6}"
        f" {'x floor':>7} {'x PG 5':>7} {'x PG 4':>7}"
    )
    versions = ", ".join(f"{p.title} {run.versions.get(p.key, '?')}" for p in PEERS)
    lines = [
        f"PostgreSQL, {run.data.slots:,} slots; wrk -t{wrk.THREADS} -c{options.concurrency} "
        f"-d{max(1, round(options.duration))}s after {warmup_of(options):g} s of warm-up; "
        f"{versions}",
    ]
    for workload, title in WORKLOADS:
        targets = run.of(workload)
        keys = {t.key: t for t in targets}
        floor, v5, v4 = keys.get("floor"), keys.get(V5.key), keys.get(V4.key)
        lines += ["", title, header, "-" * len(header)]
        for target in targets:
            r = target.result
            if r is None:
                continue
            lines.append(
                f"{target.title:<38} {r.rps:>7.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}"
                f" {target.cpu_ms:>7.2f} {r.errors:>6} {_ratio(target, floor):>7.2f}"
                f" {_ratio(target, v5):>7.2f} {_ratio(target, v4):>7.2f}"
            )
        lines.append(
            f"REST / PostGraphile 5: {_ratio(keys.get('rest'), v5):.2f}; "
            f"GraphQL / PostGraphile 5: {_ratio(keys.get('graphql'), v5):.2f}"
        )
    lines += [
        "",
        "CPU ms: the serving process's CPU time per request (the database's own not counted).",
    ]
    return "\n".join(lines)
