"""A webhook's secret is shown once on every face: never in a replay, never stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from common.settings import Settings
from models.platform.entities import IdempotencyRecord
from tests.factories import BASE

HOOKS = f"{BASE}/webhooks"
GRAPHQL = "/graphql"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, token_cache_seconds=0, webhook_allow_private_targets=True
    )


async def _stored_bodies(session: Any) -> list[bytes]:
    session.expire_all()
    rows = (await session.execute(select(IdempotencyRecord.response_body))).scalars().all()
    return [bytes(row or b"") for row in rows]


CREATE = """
mutation($url: String!) {
  createWebhook(input: {url: $url, events: ["*"]}) { id signing: secret again: secret }
}
"""
ROTATE = "mutation($id: Int!) { rotateWebhookSecret(id: $id) { id secret } }"


async def test_graphql_replays_leave_the_secret_out(client: Any, auth: Any, session: Any):
    variables = {"url": "http://127.0.0.1:9/hook"}
    headers = {**auth, "Idempotency-Key": "create-hook"}
    request = {"query": CREATE, "variables": variables}
    first = await client.post(GRAPHQL, json=request, headers=headers)
    created = first.json()["data"]["createWebhook"]
    assert created["signing"].startswith("whsec_") and created["again"] == created["signing"]
    replay = await client.post(GRAPHQL, json=request, headers=headers)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == {
        "data": {"createWebhook": {"id": created["id"], "signing": None, "again": None}}
    }

    rotate = {"query": ROTATE, "variables": {"id": created["id"]}}
    rotate_headers = {**auth, "Idempotency-Key": "rotate-hook"}
    rotated = (await client.post(GRAPHQL, json=rotate, headers=rotate_headers)).json()
    secret = rotated["data"]["rotateWebhookSecret"]["secret"]
    assert secret.startswith("whsec_") and secret != created["signing"]
    again = await client.post(GRAPHQL, json=rotate, headers=rotate_headers)
    assert again.json() == {"data": {"rotateWebhookSecret": {"id": created["id"], "secret": None}}}

    bodies = await _stored_bodies(session)
    assert len(bodies) == 2
    assert all(b"whsec_" not in body for body in bodies), bodies


async def test_rest_stores_no_secret_either(client: Any, auth: Any, session: Any):
    body = {"webhook": {"url": "http://127.0.0.1:9/x", "events": ["*"]}}
    headers = {**auth, "Idempotency-Key": "rest-hook"}
    first = await client.post(HOOKS, json=body, headers=headers)
    assert first.json()["secret"].startswith("whsec_")
    hook = first.json()["id"]
    rotated = await client.post(
        f"{HOOKS}/{hook}/rotate_secret", headers={**auth, "Idempotency-Key": "rest-rotate"}
    )
    assert rotated.json()["secret"].startswith("whsec_")
    again = await client.post(
        f"{HOOKS}/{hook}/rotate_secret", headers={**auth, "Idempotency-Key": "rest-rotate"}
    )
    assert "secret" not in again.json() and again.json()["id"] == hook
    bodies = await _stored_bodies(session)
    assert len(bodies) == 2
    assert all(b"whsec_" not in body for body in bodies), bodies
