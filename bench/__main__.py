"""``python -m bench``: every hot path, side by side with the floor, in one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from bench.build_db import Target, default_sqlite_path, postgres_target, sqlite_target
from bench.report import table
from bench.runner import RESULTS, Options, Runner, elapsed_since
from bench.workloads import WORKLOADS


def build_parser() -> argparse.ArgumentParser:
    keys = ", ".join(w.key for w in WORKLOADS)
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the API's hot paths against a framework-free floor.",
    )
    parser.add_argument("--slots", type=int, default=100_000, help="database size (slots)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (postgresql+asyncpg://...): the bench builds its own "
        "database clinic_bench_<slots> there. Default: DATABASE_URL if it names PostgreSQL, "
        "else a SQLite file",
    )
    parser.add_argument("--sqlite-path", type=Path, default=None, help="SQLite file to build")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up")
    parser.add_argument(
        "--single",
        type=float,
        default=1.5,
        help="seconds of one-request-at-a-time latency measurement (0: skip)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {keys}")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a database built earlier with this size"
    )
    parser.add_argument(
        "--profile", default="", help="workloads to sample with py-spy (comma-separated)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--peer",
        choices=("postgraphile",),
        default=None,
        help="instead of the workload table, the week page and one slot by id against "
        "PostGraphile 4 and 5 (PostgreSQL only; needs npm and wrk)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead of the workload table, the reads whose answer does not grow, one at a "
        "time, at --scale-from slots and at --slots (e.g. --slots 10000000)",
    )
    parser.add_argument(
        "--scale-from", type=int, default=100_000, help="the smaller size for --scale"
    )
    parser.add_argument(
        "--failing-webhook",
        action="store_true",
        help="register a webhook for every event at a loopback receiver that answers 500, "
        "so the run measures the API while its deliveries fail and are retried (by a "
        "dispatch-webhooks process beside the server)",
    )
    return parser


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def target_for(args: argparse.Namespace, slots: int) -> Target:
    url = args.database_url
    if url is None:
        env = os.environ.get("DATABASE_URL", "")
        url = env if env.startswith("postgres") else None
    if url is not None and args.sqlite_path is None:
        return postgres_target(url, slots)
    return sqlite_target(args.sqlite_path or default_sqlite_path(slots))


def options_from(args: argparse.Namespace) -> Options:
    target = target_for(args, args.slots)
    known = {w.key for w in WORKLOADS}
    unknown = set(_split(args.only)) - known
    if unknown:
        raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")
    return Options(
        target=target,
        slots=args.slots,
        duration=args.duration,
        warmup=args.warmup,
        single=args.single,
        concurrency=args.concurrency,
        only=_split(args.only),
        rebuild=not args.reuse,
        profile=_split(args.profile),
        failing_webhook=args.failing_webhook,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = options_from(args)
    started = time.perf_counter()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.peer == "postgraphile":
        return _peer(options, args.json, say, started)
    if args.scale:
        return _scale(args, options, say, started)
    run = asyncio.run(Runner(options, say).run())
    data = run.data
    print()
    print(
        f"{data.target.backend}, {data.slots:,} slots, {data.providers:,} providers; "
        f"build {'reused' if data.reused else f'{data.build_seconds:.1f} s'}; "
        f"{options.concurrency} connections, {options.duration:g} s per measurement"
    )
    print(table(run.outcomes))
    rss, peak = run.memory_kb.get("VmRSS"), run.memory_kb.get("VmHWM")
    if rss is not None:
        print(
            f"\nserver resident memory after the run: {rss / 1024:.0f} MB (peak {peak or 0:,} kB)"
        )
    for key, path in run.profiles.items():
        print(f"profile of {key}: {path} (summary beside it)")
    destination = args.json or RESULTS / f"bench-{data.target.backend}-{data.slots}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(orjson.dumps(run.as_dict(), option=orjson.OPT_INDENT_2))
    print(f"results: {destination} ({elapsed_since(started)})")
    return 0


def _peer(
    options: Options, json_path: Path | None, say: Callable[[str], None], started: float
) -> int:
    from bench.peer import peer_table, run_peer

    run = asyncio.run(run_peer(options, say))
    print()
    print(peer_table(run, options))
    destination = json_path or RESULTS / f"peer-postgraphile-{run.data.slots}.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(orjson.dumps(run.as_dict(), option=orjson.OPT_INDENT_2))
    print(f"results: {destination} ({elapsed_since(started)})")
    return 0


def _scale(
    args: argparse.Namespace, options: Options, say: Callable[[str], None], started: float
) -> int:
    from bench.scale import run_scale, scale_dict, scale_table

    if args.sqlite_path is not None:
        raise SystemExit("--scale builds one database per size: leave out --sqlite-path")
    sizes = (args.scale_from, args.slots)
    rows = asyncio.run(run_scale(options, sizes, lambda n: target_for(args, n), say))
    print()
    print(scale_table(rows, options.target.backend, sizes))
    name = f"scale-{options.target.backend}-{sizes[0]}-{sizes[1]}.json"
    destination = args.json or RESULTS / name
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(orjson.dumps(scale_dict(rows, sizes), option=orjson.OPT_INDENT_2))
    print(f"results: {destination} ({elapsed_since(started)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
