"""What the request pipeline costs: an empty authenticated request, in process.

``python -m bench.pipeline_cost`` builds the app on a throw-away SQLite database, adds a
route that only runs the admin dependency (token lookups cached, so no SQL per request),
and calls the ASGI app in a loop with no server and no client library in between. It
prints the median CPU microseconds per request through the whole app and through a bare
FastAPI app holding only that route; the difference is what the service's layers cost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response

from clinic_availability.app import create_app
from clinic_availability.migrate import upgrade
from common.deps import AdminDep
from common.settings import Settings
from models.platform.users import create_user

EMPTY_PATH = "/_bench/empty"


async def _token(app: Any) -> str:
    async with app.state.sessionmaker() as session:
        _user, token = await create_user(
            session, role="admin", first_name="Bench", last_name="Admin"
        )
    return token


def _scope(_app: Any, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": EMPTY_PATH,
        "raw_path": EMPTY_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"x-user-token", token.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("bench", 80),
        "state": {},
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _time(app: Any, target: Any, token: str, rounds: int, per_round: int) -> float:
    """Median over rounds of the mean CPU microseconds per call within a round."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    samples = []
    # A collection landing in one round and not another is noise here.
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            # CPU time of this process: the machine's other load does not count.
            started = time.process_time()
            for _ in range(per_round):
                await target(_scope(app, token), _receive, send)
            samples.append((time.process_time() - started) / per_round * 1e6)
    finally:
        gc.enable()
    assert set(statuses) == {200}, set(statuses)
    return statistics.median(samples)


async def measure(rounds: int, per_round: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        app = create_app(Settings(database_url=url, token_cache_seconds=3600))

        async def empty(_admin: AdminDep) -> Response:
            return Response(b"", media_type="application/json")

        # First in the route list, so route matching costs the same in both apps.
        app.add_api_route(EMPTY_PATH, empty)
        app.router.routes.insert(0, app.router.routes.pop())
        bare = FastAPI()
        bare.state.settings = app.state.settings
        bare.state.sessionmaker = app.state.sessionmaker
        bare.add_api_route(EMPTY_PATH, empty)
        try:
            token = await _token(app)
            # Warm-up: token cache, middleware stacks, route lookups.
            await _time(app, app, token, 1, 200)
            await _time(bare, bare, token, 1, 200)
            # Alternate the two, so that load from elsewhere hits both alike.
            wholes, bares = [], []
            for _ in range(rounds):
                wholes.append(await _time(app, app, token, 1, per_round))
                bares.append(await _time(bare, bare, token, 1, per_round))
            layers = await _layers_only(app, token, rounds, per_round)
        finally:
            await app.state.engine.dispose()
    whole, bare_us = statistics.median(wholes), statistics.median(bares)
    return {
        "app_us": whole,
        "bare_us": bare_us,
        "pipeline_us": whole - bare_us,
        "layers_us": layers,
    }


async def _layers_only(app: Any, token: str, rounds: int, per_round: int) -> float:
    """The app's middleware stack around an endpoint that answers at once, minus the
    endpoint alone: what the layers cost, free of routing and dependencies."""

    async def endpoint(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    router = app.router
    app.router = endpoint
    try:
        stack = app.build_middleware_stack()
    finally:
        app.router = router

    async def through_stack(scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = app
        await stack(scope, receive, send)

    # Cheap calls: more of them per round, so the clock's resolution does not show.
    stacked, alone = [], []
    for _ in range(rounds):
        stacked.append(await _time(app, through_stack, token, 1, per_round * 5))
        alone.append(await _time(app, endpoint, token, 1, per_round * 5))
    return statistics.median(stacked) - statistics.median(alone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=400)
    args = parser.parse_args()
    result = asyncio.run(measure(args.rounds, args.per_round))
    print(
        f"empty authenticated GET: {result['app_us']:.1f} us through the app, "
        f"{result['bare_us']:.1f} us through a bare FastAPI app, "
        f"{result['pipeline_us']:.1f} us more for the service; "
        f"its middleware stack alone {result['layers_us']:.1f} us (CPU, medians)"
    )


if __name__ == "__main__":
    main()
