"""availabilityChanged over graphql-transport-ws: auth, order, resume, filters, revocation;
only subscriptions run over the socket."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from clinic_availability.app import create_app
from common.settings import Settings
from gql import live_ws
from models.platform.users import revoke_token
from tests.events.live_client import acked, live_socket, next_events, serving, subscribe
from tests.factories import SLOTS, future, iso


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        recurrence_extend_interval_seconds=0,
        webhook_dispatcher=False,
    )


async def _create(http: Any, auth: Any, provider_id: int, n: int) -> int:
    start = future(24 * 5) + timedelta(hours=n)
    response = await http.post(
        SLOTS,
        json={
            "available_slot": {
                "provider_id": provider_id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(minutes=30)),
            }
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _closed_with(socket: Any) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)


async def test_connection_needs_an_admin_token(settings: Settings, factory: Any, admin_token: str):
    provider_token = await factory.token(role="provider")
    app = create_app(settings)
    async with serving(app) as host:
        for payload, code in (
            (None, 4401),
            ({"X-User-Token": "unknown"}, 4401),
            ({"X-User-Token": provider_token}, 4403),
        ):
            async with live_socket(host, payload) as socket:
                assert await _closed_with(socket) == code
        async with live_socket(host, {"X-User-Token": admin_token}) as socket:
            await acked(socket)


async def test_changes_arrive_in_order_and_resume_after_a_reconnect(
    settings: Settings, factory: Any, auth: Any, capsys: Any
):
    provider = await factory.provider()
    other = await factory.provider("Other")
    app = create_app(settings)
    made: dict[int, float] = {}
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        async with live_socket(host, auth) as socket:
            await acked(socket)
            await subscribe(socket, providerId=provider.id)
            await asyncio.sleep(0.3)  # the subscription takes its position
            first: list[dict[str, Any]] = []
            arrived: dict[int, float] = {}

            async def read() -> None:
                for _ in range(50):
                    event = (await next_events(socket, 1))[0]
                    arrived[event["slotId"]] = time.monotonic()
                    first.append(event)

            reader = asyncio.create_task(read())
            await _create(http, auth, other.id, 0)  # another provider's: filtered out
            for n in range(1, 51):
                made[await _create(http, auth, provider.id, n)] = time.monotonic()
            await reader
        # Disconnected: 50 more changes happen meanwhile.
        for n in range(51, 101):
            made[await _create(http, auth, provider.id, n)] = time.monotonic()
        async with live_socket(host, auth) as socket:
            await acked(socket)
            await subscribe(socket, providerId=provider.id, after=first[-1]["eventId"])
            rest = await next_events(socket, 50)
            with pytest.raises(TimeoutError):
                await next_events(socket, 1, within=1)
    events = first + rest
    assert [event["slotId"] for event in events] == list(made)
    ids = [int(event["eventId"]) for event in events]
    assert ids == sorted(set(ids)) and len(ids) == 100
    assert {event["type"] for event in events} == {"slot.created"}
    assert events[0]["slot"] == {"id": events[0]["slotId"], "available": True}
    delays = [arrived[slot_id] - made[slot_id] for slot_id in arrived]
    with capsys.disabled():
        print(f"\nsubscription commit-to-delivery median {statistics.median(delays) * 1000:.1f} ms")


async def test_date_filter_and_deleted_slot(settings: Settings, factory: Any, auth: Any):
    provider = await factory.provider()
    app = create_app(settings)
    day = (future(24 * 5) + timedelta(hours=3)).date()
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        async with live_socket(host, auth) as socket:
            await acked(socket)
            await subscribe(socket, startDate=str(day), endDate=str(day))
            await asyncio.sleep(0.3)
            far = future(24 * 40)
            await http.post(
                SLOTS,
                json={
                    "available_slot": {
                        "provider_id": provider.id,
                        "start_time": iso(far),
                        "end_time": iso(far + timedelta(minutes=30)),
                    }
                },
                headers=auth,
            )
            slot_id = await _create(http, auth, provider.id, 3)
            assert (await http.delete(f"{SLOTS}/{slot_id}", headers=auth)).status_code == 204
            created, deleted = await next_events(socket, 2)
    assert created["type"] == "slot.created" and created["slotId"] == slot_id
    assert deleted["type"] == "slot.deleted" and deleted["slot"] is None


async def test_bad_arguments_and_the_subscription_bound(settings: Settings, auth: Any):
    app = create_app(settings)
    async with serving(app) as host, live_socket(host, auth) as socket:
        await acked(socket)
        await subscribe(socket, "bad", after="yesterday")
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert message["id"] == "bad" and message["type"] == "next", message
        error = message["payload"]["errors"][0]
        assert error["extensions"]["errors"] == {"after": ["is invalid"]}, error
        done = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert done == {"id": "bad", "type": "complete"}
        for n in range(live_ws.MAX_SUBSCRIPTIONS_PER_SOCKET):
            await subscribe(socket, f"s{n}")
        await subscribe(socket, "one-too-many")
        refused = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert refused["id"] == "one-too-many" and refused["type"] == "error"


async def test_revoked_token_closes_its_sockets(
    settings: Settings, session: Any, admin_token: str, monkeypatch: Any
):
    monkeypatch.setattr(live_ws, "RECHECK_SECONDS", 0.2)
    app = create_app(settings)
    async with serving(app) as host, live_socket(host, {"X-User-Token": admin_token}) as socket:
        await acked(socket)
        await revoke_token(session, token=admin_token)
        assert await _closed_with(socket) == 4401


async def test_the_explorer_subscription_example_runs(settings: Settings, factory: Any, auth: Any):
    from clinic_availability.explorer import LIVE_EXAMPLES

    (example,) = LIVE_EXAMPLES
    provider = await factory.provider()
    app = create_app(settings)
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        async with live_socket(host, auth) as socket:
            await acked(socket)
            variables = {**json.loads(example.variables), "providerId": provider.id}
            payload = {"query": example.query, "variables": variables}
            await socket.send(json.dumps({"id": "x", "type": "subscribe", "payload": payload}))
            await asyncio.sleep(0.3)
            slot_id = await _create(http, auth, provider.id, 1)
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert message["type"] == "next", message
    assert message["payload"]["data"]["availabilityChanged"]["slot"]["id"] == slot_id


async def test_sockets_per_process_are_bounded(database_url: str, auth: Any):
    settings = Settings(
        database_url=database_url,
        token_cache_seconds=0,
        recurrence_extend_interval_seconds=0,
        webhook_dispatcher=False,
        subscription_max_sockets=1,
    )
    app = create_app(settings)
    async with serving(app) as host, live_socket(host, auth) as first:
        await acked(first)
        async with websockets.connect(
            f"ws://{host}/graphql", subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as second:
            assert await _closed_with(second) == 4429
        await subscribe(first, providerId=1)
        await first.ping()


async def test_a_resume_position_older_than_the_events_kept_is_an_error(
    settings: Settings, factory: Any, auth: Any, session: Any
):
    from sqlalchemy import insert

    from models.platform import events
    from models.platform.db import write_transaction
    from models.platform.entities import AvailabilityEvent

    provider_id = (await factory.provider()).id
    old = {"type": "slot.updated", "provider_id": provider_id, "occurred_at": future(-24 * 40)}
    async with write_transaction(session):
        await session.execute(insert(AvailabilityEvent), [old, old, old])
    gone = [row.id for row in await events.events_after(session, 0)]
    await session.rollback()
    app = create_app(settings)
    async with serving(app) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        slot_id = await _create(http, auth, provider_id, 1)
        assert await events.purge_events(session, retention_days=30) == 3
        async with live_socket(host, auth) as socket:
            await acked(socket)
            # Events after these positions were purged: resuming would skip them silently.
            for position in ("0", str(gone[0]), str(gone[1])):
                await subscribe(socket, f"old-{position}", after=position)
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert message["id"] == f"old-{position}" and message["type"] == "next"
                (error,) = message["payload"]["errors"]
                assert error["extensions"]["code"] == "EVENT_EXPIRED", error
                assert error["extensions"]["status"] == 410
                assert "subscribe again without after" in error["message"]
                done = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert done == {"id": f"old-{position}", "type": "complete"}
            # The last purged event is a position with nothing missing after it.
            await subscribe(socket, "kept", after=str(gone[-1]))
            (event,) = await next_events(socket, 1)
            assert event["type"] == "slot.created" and event["slotId"] == slot_id
            for malformed in ("yesterday", "-1", "1.5", "9" * 19, ""):
                await subscribe(socket, "bad", after=malformed)
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                (error,) = message["payload"]["errors"]
                assert error["extensions"]["code"] == "VALIDATION_FAILED", (malformed, error)
                assert error["extensions"]["errors"] == {"after": ["is invalid"]}
                done = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert done == {"id": "bad", "type": "complete"}


# Over the socket only subscriptions run; their errors carry the extensions of HTTP.


async def _reply_of(socket: Any) -> dict[str, Any]:
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
            message = await _reply_of(socket)
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
        async with httpx.AsyncClient(base_url=f"http://{host}") as http:
            await _create(http, auth, provider.id, 1)
        seen: list[str] = []
        for ident, after in (
            ("beyond", "99999999"),
            ("space", " 1"),
            ("zero-led", "01"),
            ("sign", "+1"),
            ("arabic", "\u0661"),
        ):
            await subscribe(socket, ident, after=after)
            message = await _reply_of(socket)
            assert message["id"] == ident and message["type"] == "next", message
            (error,) = message["payload"]["errors"]
            extensions = error["extensions"]
            assert extensions["code"] == "VALIDATION_FAILED", (after, error)
            assert extensions["status"] == 422
            assert list(extensions["errors"]) == ["after"], extensions
            assert extensions["request_id"] not in seen
            seen.append(extensions["request_id"])
            assert await _reply_of(socket) == {"id": ident, "type": "complete"}
        # The newest event itself is a valid position.
        await subscribe(socket, "newest", after="1")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), 0.5)
