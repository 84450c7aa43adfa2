"""Webhooks: registration, signed at-least-once delivery from the database, retries."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from clinic_availability.app import create_app
from common.settings import Settings
from tests.events.receiver import Receiver, running, signature_valid, wait_for
from tests.factories import BASE, SLOTS, future, iso

HOOKS = f"{BASE}/webhooks"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        webhook_allow_private_targets=True,
        webhook_backoff_seconds=0.3,
        webhook_timeout_seconds=2.0,
        recurrence_extend_interval_seconds=0,
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """An application with its lifespan (dispatcher and listener) running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def _register(client: Any, auth: Any, url: str, events: list[str] | None = None) -> Any:
    response = await client.post(
        HOOKS, json={"webhook": {"url": url, "events": events or ["*"]}}, headers=auth
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _create_slots(
    client: Any, auth: Any, provider_id: int, first: int, count: int, sent: dict[int, float]
) -> None:
    base = future(24 * 10)
    for n in range(first, first + count):
        start = base + timedelta(hours=n)
        response = await client.post(
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
        sent[response.json()["id"]] = time.monotonic()


async def test_registration_routes(client: Any, auth: Any, settings: Settings):
    created = await _register(client, auth, "http://127.0.0.1:9/hook", ["booking.created"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == 6 + 44
    assert set(created) == {"id", "url", "events", "description", "active", "created_at", "secret"}
    hook = f"{HOOKS}/{created['id']}"
    shown = (await client.get(hook, headers=auth)).json()
    assert "secret" not in shown and shown["events"] == ["booking.created"]
    listed = (await client.get(HOOKS, headers=auth)).json()
    assert [item["id"] for item in listed] == [created["id"]]
    changed = await client.put(
        hook, json={"webhook": {"active": False, "events": ["*"]}}, headers=auth
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    rotated = (await client.post(f"{hook}/rotate_secret", headers=auth)).json()
    assert rotated["secret"] != created["secret"]
    assert (await client.get(f"{hook}/deliveries", headers=auth)).json() == []
    assert (await client.delete(hook, headers=auth)).status_code == 204
    assert (await client.get(hook, headers=auth)).status_code == 404
    assert (await client.get(HOOKS)).status_code == 401


async def test_bad_registrations_are_refused(client: Any, auth: Any, db_count: Any):
    cases = [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": ["slot.eaten"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": None, "events": ["*"]}, "url"),
    ]
    for body, field in cases:
        response = await client.post(HOOKS, json={"webhook": body}, headers=auth)
        assert response.status_code == 422, response.text
        assert field in response.json()["errors"]
    assert await db_count("webhooks") == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
        "https://192.168.0.10/x",
    ],
)
async def test_private_targets_refused_by_default(
    database_url: str, auth: Any, factory: Any, url: str
):
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            HOOKS, json={"webhook": {"url": url, "events": ["*"]}}, headers=auth
        )
    await app.state.engine.dispose()
    assert response.status_code == 422, response.text
    assert response.json()["errors"]["url"] == [
        "must not point to a private, loopback or link-local address"
    ]


async def test_idempotent_replay_never_shows_the_secret_again(client: Any, auth: Any):
    headers = {**auth, "Idempotency-Key": "hook-1"}
    body = {"webhook": {"url": "http://127.0.0.1:9/x", "events": ["*"]}}
    first = await client.post(HOOKS, json=body, headers=headers)
    again = await client.post(HOOKS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "secret" in first.json() and "secret" not in again.json()
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"


async def test_every_event_arrives_signed_across_a_restart(
    settings: Settings, auth: Any, factory: Any, capsys: Any
):
    provider = await factory.provider()
    sent: dict[int, float] = {}
    async with running(Receiver()) as receiver:
        async with serving(settings) as (_app, client):
            hook = await _register(client, auth, receiver.url)
            await _create_slots(client, auth, provider.id, 0, 100, sent)
        # The first server is gone, possibly mid-delivery; a new one takes over.
        async with serving(settings) as (_app, client):
            await _create_slots(client, auth, provider.id, 100, 100, sent)
            await wait_for(lambda: len(receiver.unique_ids()) >= 200, within=60)
            for _ in range(100):  # the last outcomes are stored just after the receiver answers
                deliveries = (
                    await client.get(
                        f"{HOOKS}/{hook['id']}/deliveries", params={"limit": 1000}, headers=auth
                    )
                ).json()
                if all(item["status"] == "delivered" for item in deliveries):
                    break
                await asyncio.sleep(0.05)
    assert len(receiver.unique_ids()) == 200
    assert all(signature_valid(hook["secret"], item) for item in receiver.got)
    slot_ids = {item.json["data"]["slot_id"] for item in receiver.got}
    assert slot_ids == set(sent)
    assert {item.json["type"] for item in receiver.got} == {"slot.created"}
    assert len(deliveries) == 200 and {d["status"] for d in deliveries} == {"delivered"}
    delays = []
    for item in receiver.got:
        slot_id = item.json["data"]["slot_id"]
        delays.append(item.at - sent[slot_id])
    with capsys.disabled():
        print(f"\nwebhook commit-to-delivery median {statistics.median(delays) * 1000:.1f} ms")


async def test_failing_receiver_is_retried_with_back_off(
    settings: Settings, auth: Any, factory: Any
):
    provider = await factory.provider()
    async with running(Receiver(status=500)) as failing, running(Receiver()) as healthy:
        async with serving(settings) as (_app, client):
            bad = await _register(client, auth, failing.url)
            await _register(client, auth, healthy.url)
            await _create_slots(client, auth, provider.id, 0, 1, {})
            await wait_for(lambda: len(failing.got) >= 4, within=30)
            await wait_for(lambda: len(healthy.got) >= 1, within=5)
            history = (await client.get(f"{HOOKS}/{bad['id']}/deliveries", headers=auth)).json()
    gaps = [later.at - earlier.at for earlier, later in pairwise(failing.got)]
    # 0.3 s, 0.6 s, 1.2 s: each wait at least the back-off, and growing.
    assert gaps[0] >= 0.25 and gaps[1] >= 0.55 and gaps[2] >= 1.1, gaps
    assert len(failing.unique_ids()) == 1 and len(healthy.got) == 1
    assert history[0]["last_response_code"] == 500 and history[0]["attempts"] >= 4
    assert history[0]["status"] == "pending"


async def test_graphql_webhook_operations(client: Any, auth: Any):
    async def call(query: str, **variables: Any) -> Any:
        reply = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=auth
        )
        body = reply.json()
        assert "errors" not in body, body
        return body["data"]

    created = (
        await call(
            "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) "
            "{ id url events active secret } }",
            input={"url": "http://127.0.0.1:9/x", "events": ["booking.created"]},
        )
    )["createWebhook"]
    assert created["secret"].startswith("whsec_") and created["active"] is True
    ident = created["id"]
    listed = (await call("{ webhooks { id secret } }"))["webhooks"]
    assert listed == [{"id": ident, "secret": None}]
    updated = (
        await call(
            "mutation($id: Int!) { updateWebhook(id: $id, input: {active: false}) { active } }",
            id=ident,
        )
    )["updateWebhook"]
    assert updated == {"active": False}
    rotated = (
        await call("mutation($id: Int!) { rotateWebhookSecret(id: $id) { secret } }", id=ident)
    )["rotateWebhookSecret"]
    assert rotated["secret"] not in (None, created["secret"])
    deliveries = await call(
        "query($id: Int!) { webhookDeliveries(webhookId: $id) { eventId status } }", id=ident
    )
    assert deliveries == {"webhookDeliveries": []}
    gone = await call("mutation($id: Int!) { deleteWebhook(id: $id) { deleted } }", id=ident)
    assert gone == {"deleteWebhook": {"deleted": True}}
    missing = await client.post(
        "/graphql",
        json={"query": "query($id: Int!) { webhook(id: $id) { id } }", "variables": {"id": ident}},
        headers=auth,
    )
    assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_slow_receiver_does_not_hold_back_another(
    settings: Settings, auth: Any, factory: Any
):
    provider = await factory.provider()
    async with running(Receiver(delay=5.0)) as slow, running(Receiver()) as healthy:
        async with serving(settings) as (_app, client):
            await _register(client, auth, slow.url)
            await _register(client, auth, healthy.url)
            await _create_slots(client, auth, provider.id, 0, 20, {})
            # Every slow attempt times out (2 s); the healthy receiver still gets all 20
            # while at most a few of the slow one's are in flight.
            await wait_for(lambda: len(healthy.unique_ids()) == 20, within=10)
            assert len(slow.got) <= settings.webhook_concurrency_per_receiver * 2


async def test_one_round_stores_answers_gives_back_unsent_and_claims_in_batches(
    factory: Any, session: Any
):
    from sqlalchemy import select

    from models.integrations.webhooks import DeliveryPolicy, Outcome, create_webhook, dispatch_step
    from models.platform.event_tables import WebhookDelivery
    from models.platform.timeutil import now_utc

    policy = DeliveryPolicy(max_attempts=2, backoff_seconds=60, lease_seconds=30)
    hook, _secret = await create_webhook(
        session, url="http://127.0.0.1:9/x", events=["*"], allow_private=True
    )
    provider = await factory.provider()
    for n in range(6):
        await factory.slot(provider, start=future(24 + n))
    first = await dispatch_step(session, wanted=lambda _id: 4, policy=policy)
    assert [claim.attempt for claim in first] == [1, 1, 1, 1]
    assert {claim.webhook_id for claim in first} == {hook.id}
    assert [claim.payload["type"] for claim in first] == ["slot.created"] * 4
    # Claimed: no one else gets them until their lease runs out; two more are due.
    again = await dispatch_step(session, wanted=lambda _id: 10, policy=policy)
    assert len(again) == 2 and not {c.delivery_id for c in again} & {c.delivery_id for c in first}
    ok, refused, dead, late = first
    await dispatch_step(
        session,
        outcomes=[Outcome(ok, 204, None), Outcome(refused, 500, "HTTP 500")],
        unsent=[dead],
        policy=policy,
    )
    retried = await dispatch_step(session, wanted=lambda _id: 10, policy=policy)
    # The unsent claim is due again at once, its attempt not counted; the refused one waits.
    assert [(c.delivery_id, c.attempt) for c in retried] == [(dead.delivery_id, 1)]
    # Past the lease (30 s), the claims never answered are due again: a second attempt.
    later = now_utc() + timedelta(seconds=31)
    expired = await dispatch_step(session, wanted=lambda _id: 10, policy=policy, now=later)
    assert {c.delivery_id: c.attempt for c in expired} == {
        late.delivery_id: 2,
        dead.delivery_id: 2,
        **{c.delivery_id: 2 for c in again},
    }
    second = next(c for c in expired if c.delivery_id == late.delivery_id)
    # The first attempt's answer arrives late: it changes nothing. The second's counts,
    # and it was the last attempt (max_attempts=2).
    await dispatch_step(
        session,
        outcomes=[Outcome(late, 204, None), Outcome(second, 503, "HTTP 503")],
        policy=policy,
        now=later,
    )
    await session.rollback()
    rows = {
        row.id: row
        for row in (
            await session.execute(select(WebhookDelivery).execution_options(populate_existing=True))
        ).scalars()
    }
    delivered = rows[ok.delivery_id]
    assert (delivered.status, delivered.last_response_code) == ("delivered", 204)
    assert delivered.delivered_at is not None
    waiting = rows[refused.delivery_id]
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 1, "HTTP 500")
    failed = rows[late.delivery_id]
    assert (failed.status, failed.attempts, failed.last_response_code) == ("failed", 2, 503)
    assert failed.delivered_at is None


async def test_shutdown_lets_sends_in_flight_finish_and_gives_back_the_rest(
    settings: Settings, auth: Any, factory: Any, session: Any
):
    from sqlalchemy import select

    from models.platform.event_tables import WebhookDelivery

    provider = await factory.provider()
    async with running(Receiver(delay=0.4)) as receiver:
        async with serving(settings) as (app, client):
            await _register(client, auth, receiver.url)
            await _create_slots(client, auth, provider.id, 0, 30, {})
            dispatcher = app.state.webhook_dispatcher
            queued_at_close = 0

            def close_with_claims_queued() -> bool:
                # Closed in the same step that sees claims waiting, so some surely are.
                nonlocal queued_at_close
                if len(receiver.got) >= 6 and dispatcher.queued:
                    queued_at_close = dispatcher.queued
                    dispatcher.close()
                    return True
                return False

            await wait_for(close_with_claims_queued, within=30)
        # The server is gone: every send it had begun was answered before it stopped.
        got = receiver.unique_ids()
    await session.rollback()
    rows = list(
        (
            await session.execute(select(WebhookDelivery).execution_options(populate_existing=True))
        ).scalars()
    )
    delivered = {str(row.event_id) for row in rows if row.status == "delivered"}
    assert delivered == got
    rest = [row for row in rows if row.status != "delivered"]
    # Never sent: no attempt counted. Those claimed but still queued at shutdown were
    # given back (due from then on, not after their lease).
    assert rest and all(row.status == "pending" and row.attempts == 0 for row in rest)
    given_back = [row for row in rest if row.next_attempt_at > row.created_at]
    assert len(given_back) >= queued_at_close > 0
