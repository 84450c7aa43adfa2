"""CPU per request in process: the ASGI application called directly, no server, no client.

``python -m bench.request_cpu [--slots N] [--requests N] [--database-url URL]`` seeds a
small database (a SQLite file by default), then times ``time.process_time`` over N
requests of each workload: rendered JSON answered without the view (fast), rendered JSON
through the view, the compiled plan alone (as before rendering) and graphql-core; "one
slot by id" is the one-slot document registered and named by ``documentId``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clinic_availability.app import create_app
from clinic_availability.migrate import upgrade
from common.settings import Settings
from models.platform.db import create_engine
from models.platform.documents import StoredDocument, add_documents, sha256_of
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.slots import SlotInput, create_single_slot

SLOT = (
    "id providerId startTime endTime durationMinutes appointmentType available recurring "
    "recurrencePattern seriesId createdAt updatedAt capacity bookedCount "
    "provider { id firstName lastName }"
)
ONE_SLOT = f"query($id: Int!) {{ availableSlot(id: $id) {{ {SLOT} }} }}"
# The one-slot document registered under this id: the same text, named by ``documentId``.
DOCUMENT_ID = "bench-one-slot"
WORKLOADS = {
    "typename": ("{ __typename }", {}),
    "one slot": (ONE_SLOT, {"id": 1}),
    "one slot by id": (ONE_SLOT, {"id": 1}),
    "50-slot page": (
        f"query($first: Int!) {{ availableSlots(first: $first) {{ totalCount "
        f"pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {SLOT} }} }} }} }}",
        {"first": 50},
    ),
}
MODES = {
    "fast": {"graphql_compiled_plan": True, "graphql_rendered_json": True},
    "rendered-view": {
        "graphql_compiled_plan": True,
        "graphql_rendered_json": True,
        "fast_lane": False,
    },
    "plan": {"graphql_compiled_plan": True, "graphql_rendered_json": False},
    "graphql-core": {"graphql_compiled_plan": False},
}


async def seed(url: str, slots: int) -> str:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="B", last_name="N")
            await add_documents(
                session, [StoredDocument(DOCUMENT_ID, sha256_of(ONE_SLOT), ONE_SLOT)]
            )
            providers = [
                await people.create_provider(session, first_name=f"P{i}", last_name="Q")
                for i in range(5)
            ]
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
            for index in range(slots):
                begin = start + timedelta(hours=index)
                await create_single_slot(
                    session,
                    SlotInput(
                        provider_id=providers[index % 5].id,
                        start_time=begin,
                        end_time=begin + timedelta(minutes=30),
                    ),
                )
            return str(token)
    finally:
        await engine.dispose()


async def asgi_call(
    app: Any, method: str, path: str, token: str, body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight into the ASGI application, no server, no client."""
    raw, _, qs = path.partition("?")
    headers = [(b"host", b"bench"), (b"x-user-token", token.encode())]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw,
        "raw_path": raw.encode(),
        "root_path": "",
        "query_string": qs.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def call(app: Any, body: bytes, token: str) -> tuple[int, bytes]:
    return await asgi_call(app, "POST", "/graphql", token, body)


async def measure(url: str, token: str, requests: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for mode, changes in MODES.items():
        settings = Settings(database_url=url, token_cache_seconds=60)
        app = create_app(settings.model_copy(update=changes))
        results[mode] = {}
        try:
            for name, (query, variables) in WORKLOADS.items():
                named = (
                    {"documentId": DOCUMENT_ID} if name == "one slot by id" else {"query": query}
                )
                body = json.dumps({**named, "variables": variables}).encode()
                for _ in range(20):  # warm: the token cache, the plan, statements
                    status, reply = await call(app, body, token)
                    assert status == 200 and b'"errors"' not in reply, reply[:300]
                begin = time.process_time()
                for _ in range(requests):
                    await call(app, body, token)
                results[mode][name] = (time.process_time() - begin) / requests * 1000
        finally:
            await app.state.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slots", type=int, default=200)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="an empty database to seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        token = asyncio.run(seed(url, args.slots))
        results = asyncio.run(measure(url, token, args.requests))
    print(f"CPU ms per request ({args.requests} requests, {args.slots} slots, {url.split(':')[0]})")
    print(f"{'workload':<14}" + "".join(f"{mode:>14}" for mode in MODES))
    for name in WORKLOADS:
        print(f"{name:<14}" + "".join(f"{results[mode][name]:>14.3f}" for mode in MODES))


if __name__ == "__main__":
    main()
