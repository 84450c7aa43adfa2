"""graphql-transport-ws runs subscriptions only; their errors carry the HTTP extensions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from clinic_availability.app import create_app
from common.settings import Settings
from tests.events.live_client import acked, live_socket, serving, subscribe
from tests.factories import SLOTS, future, iso


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        recurrence_extend_interval_seconds=0,
        webhook_dispatcher=False,
    )


async def _reply(socket: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))


async def _send(socket: Any, ident: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await socket.send(json.dumps({"id": ident, "type": "subscribe", "payload": payload}))


CREATE = 'mutation { createProvider(input: {firstName: "Socket", lastName: "Made"}) { id } }'


async def test_queries_and_mutations_are_refused_and_nothing_runs(
    settings: Settings, auth: Any, db_count: Any
):
    app = create_app(settings)
    async with serving(app) as host, live_socket(host, auth) as socket:
        await acked(socket)
        for ident, query in (
            ("m", CREATE),
            ("q", "{ providers { totalCount } }"),
            ("named", "query A { __typename } subscription B { availabilityChanged { eventId } }"),
        ):
            await _send(socket, ident, query)
            message = await _reply(socket)
            assert message["id"] == ident and message["type"] == "error", message
            (error,) = message["payload"]
            assert error["extensions"]["code"] == "BAD_REQUEST"
            assert "POST /graphql" in error["message"]
            assert error["extensions"]["request_id"]
        # The socket stays usable for subscriptions.
        await subscribe(socket, "live")
        await asyncio.sleep(0.2)
    assert await db_count("providers", "first_name = 'Socket'") == 0


async def test_subscription_errors_carry_code_status_fields_and_request_id(
    settings: Settings, auth: Any, factory: Any
):
    provider = await factory.provider()
    app = create_app(settings)
    async with serving(app) as host, live_socket(host, auth) as socket:
        await acked(socket)
        start = future(24 * 5)
        created = await _create_slot(host, auth, provider.id, start)
        assert created == 201
        seen: list[str] = []
        for ident, after in (
            ("beyond", "99999999"),
            ("space", " 1"),
            ("zero-led", "01"),
            ("sign", "+1"),
            ("arabic", "\u0661"),
        ):
            await subscribe(socket, ident, after=after)
            message = await _reply(socket)
            assert message["id"] == ident and message["type"] == "next", message
            (error,) = message["payload"]["errors"]
            extensions = error["extensions"]
            assert extensions["code"] == "VALIDATION_FAILED", (after, error)
            assert extensions["status"] == 422
            assert list(extensions["errors"]) == ["after"], extensions
            assert extensions["request_id"] not in seen
            seen.append(extensions["request_id"])
            assert await _reply(socket) == {"id": ident, "type": "complete"}
        # The newest event itself is a valid position.
        await subscribe(socket, "newest", after="1")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), 0.5)


async def _create_slot(host: str, auth: Any, provider_id: int, start: Any) -> int:
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        response = await http.post(
            SLOTS,
            json={
                "available_slot": {
                    "provider_id": provider_id,
                    "start_time": iso(start),
                    "end_time": iso(start.replace(minute=30)),
                }
            },
            headers=auth,
        )
    return response.status_code
