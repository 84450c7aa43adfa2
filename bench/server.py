"""The process under measurement: the API, the floor and the defaults reference together.

``uvicorn --factory bench.server:create_bench_app`` serves, in one process and one event
loop, the real application (``create_app``), the floor under ``/floor``, the Strawberry
defaults reference at ``/graphql-defaults`` and the statement counters at
``/__bench/stats``. Settings come from the environment, as for the real server.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event

from bench.floor import Floor, Receive, Scope, Send
from bench.floor_db import open_floor_db
from bench.reference_gql import defaults_router
from clinic_availability.app import create_app
from common.settings import Settings

STATS_PATH = "/__bench/stats"
FLOOR_PREFIX = "/floor/"
DEFAULTS_PATH = "/graphql-defaults"


class StatementCounter:
    """Counts the statements the API sends, transaction control (BEGIN) aside."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any
    ) -> tuple[str, Any]:
        if not statement.startswith("BEGIN"):
            self.count += 1
        return statement, parameters


class BenchApp:
    def __init__(self, api: Any, floor: Floor, counter: StatementCounter) -> None:
        self.api = api
        self.floor = floor
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(FLOOR_PREFIX):
                await self.floor(scope, receive, send)
                return
            if path == STATS_PATH:
                await self._stats(send)
                return
        elif scope["type"] == "lifespan":
            send = self._closing_floor(send)
        await self.api(scope, receive, send)

    def _closing_floor(self, send: Send) -> Send:
        async def forward(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.floor.db.close()
            await send(message)

        return forward

    async def _stats(self, send: Send) -> None:
        body = orjson.dumps(
            {"api_statements": self.counter.count, "floor_statements": self.floor.db.statements}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_bench_app() -> BenchApp:
    settings = Settings()
    api = create_app(settings)
    counter = StatementCounter()
    # retval: called as it is, not through a wrapper (as the floor counts, at no cost).
    event.listen(api.state.engine.sync_engine, "before_cursor_execute", counter, retval=True)
    api.include_router(defaults_router(settings), prefix=DEFAULTS_PATH, include_in_schema=False)
    return BenchApp(api, Floor(open_floor_db(settings.database_url)), counter)
