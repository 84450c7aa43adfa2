"""CPU per request in process, GraphQL against REST for the same rows.

``python -m bench.face_cpu sqlite|postgresql [SLOTS] [REQUESTS]`` builds (or reuses) the
bench database of SLOTS slots (a SQLite file, ``BENCH_SQLITE`` or under /tmp/clinic-bench;
or the PostgreSQL database ``clinic_bench_face_<SLOTS>`` at ``BENCH_POSTGRES``, by default
the local server),
then times ``time.process_time`` over REQUESTS calls of the ASGI application (no server, no
client; the best of three rounds) for a week page of slots, one slot, a page of bookings
and one booking (notes and their audit included), through each face.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.build_db import default_sqlite_path, postgres_target, prepare, sqlite_target
from bench.request_cpu import asgi_call as call
from bench.workloads import LIST_QUERY, SLOT_FIELDS
from clinic_availability.app import create_app
from common.settings import Settings

BASE = "/v1/admin/clinic/availability"
BOOK_FIELDS = (
    "id availableSlotId patientId appointmentType status cancellationReason "
    "cancelledAt rescheduledFromSlotId rescheduleCount createdAt updatedAt"
)


def gql(query: str, variables: dict[str, Any]) -> tuple[str, str, bytes]:
    return ("POST", "/graphql", json.dumps({"query": query, "variables": variables}).encode())


async def main(kind: str, slots: int, requests: int) -> None:
    server = os.environ.get(
        "BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    target = (
        sqlite_target(Path(os.environ.get("BENCH_SQLITE", default_sqlite_path(slots))))
        if kind == "sqlite"
        else postgres_target(server, slots, database=f"clinic_bench_face_{slots}")
    )
    data = await prepare(target, slots, rebuild=False)
    start = data.first_day + timedelta(days=30)
    end = start + timedelta(days=6)
    pairs = {
        "week page": (
            gql(
                LIST_QUERY, {"first": 50, "filter": {"startDate": str(start), "endDate": str(end)}}
            ),
            ("GET", f"{BASE}/available_slots?page_size=50&start_date={start}&end_date={end}", b""),
        ),
        "one slot": (
            gql(
                f"query One($id: Int!) {{ availableSlot(id: $id) {{ {SLOT_FIELDS} }} }}", {"id": 77}
            ),
            ("GET", f"{BASE}/available_slots/77", b""),
        ),
        "books page": (
            gql(
                "query B($first: Int) { books(first: $first) { totalCount edges { cursor "
                f"node {{ {BOOK_FIELDS} }} }} }} }}",
                {"first": 50},
            ),
            ("GET", f"{BASE}/books?page_size=50&include_notes=false", b""),
        ),
        "one booking": (
            gql(f"query O($id: Int!) {{ book(id: $id) {{ {BOOK_FIELDS} notes }} }}", {"id": 7}),
            ("GET", f"{BASE}/books/7", b""),
        ),
    }
    settings = Settings(database_url=target.url, token_cache_seconds=60)
    app = create_app(settings)
    results: dict[str, list[float]] = {}
    try:
        async with app.router.lifespan_context(app):
            for name, sides in pairs.items():
                row = []
                for method, path, body in sides:
                    for _ in range(30):
                        status, reply = await call(app, method, path, data.token, body)
                        assert status == 200 and b'"errors"' not in reply, (name, reply[:300])
                    rounds = []
                    for _round in range(3):
                        begin = time.process_time()
                        for _ in range(requests):
                            await call(app, method, path, data.token, body)
                        rounds.append((time.process_time() - begin) / requests * 1000)
                    row.append(min(rounds))
                results[name] = row
    finally:
        await app.state.engine.dispose()
    plan = getattr(app.state, "graphql_plan", None)
    fast = getattr(app.state, "graphql_fast", None)
    print(
        f"CPU ms per request: {kind}, {slots} slots, {requests} requests (best of 3); "
        f"rendered={getattr(plan, 'rendered', None)} fallbacks={getattr(plan, 'fallbacks', None)}"
        f" fast={getattr(fast, 'answered', None)}"
    )
    # GraphQL's speed as a share of REST's for the same rows (REST's cost / GraphQL's).
    print(f"{'workload':<12}{'GraphQL ms':>12}{'REST ms':>10}{'GQL/REST':>10}")
    for name, (g, r) in results.items():
        print(f"{name:<12}{g:>12.3f}{r:>10.3f}{r / g:>10.2f}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(
        main(
            arguments[0] if arguments else "sqlite",
            int(arguments[1]) if len(arguments) > 1 else 20_000,
            int(arguments[2]) if len(arguments) > 2 else 200,
        )
    )
