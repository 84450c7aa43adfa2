"""Errors that say what went wrong: a body without its root key, a body not sent as JSON,
a day not written YYYY-MM-DD. Each is a 422 in the contract's shape that stores nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.factories import BASE, BOOKS, SLOTS, Factory, future, iso

NOT_JSON = {"errors": {"body": ["must be JSON, sent with Content-Type: application/json"]}}


@pytest.mark.parametrize(
    ("path", "root"),
    [
        (SLOTS, "available_slot"),
        (BOOKS, "book"),
        (f"{BASE}/holds", "hold"),
        (f"{BASE}/time_offs", "time_off"),
        (f"{BASE}/webhooks", "webhook"),
    ],
)
async def test_a_create_without_its_root_key_names_the_key(
    client: httpx.AsyncClient, auth: dict[str, str], db_count: Any, path: str, root: str
) -> None:
    fields = {"provider_id": 1, "start_time": iso(future(48)), "end_time": iso(future(49))}
    for body in ({}, fields, {"slot": fields}):
        response = await client.post(path, json=body, headers=auth)

        assert response.status_code == 422, response.text
        assert response.json() == {"errors": {root: ["can't be blank"]}}
    assert await db_count("available_slots") == 0


async def test_a_body_sent_as_a_form_is_asked_for_as_json(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    body = json.dumps(
        {
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(future(48)),
                "end_time": iso(future(49)),
            }
        }
    )
    # What `curl -d` sends without -H, and a client that names no type at all.
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        response = await client.post(
            SLOTS, content=body, headers={**auth, "Content-Type": content_type}
        )
        assert response.status_code == 422, content_type
        assert response.json() == NOT_JSON
    assert await db_count("available_slots") == 0
    # The same bytes as JSON are a good request.
    sent = await client.post(
        SLOTS, content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert sent.status_code == 201, sent.text


async def test_a_form_without_a_token_is_still_a_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SLOTS, content="x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("day", ["27/10/2030", "2030-02-30", "tomorrow"])
async def test_a_bad_day_names_the_format(
    client: httpx.AsyncClient, auth: dict[str, str], day: str
) -> None:
    response = await client.get(SLOTS, params={"start_date": day}, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": {"start_date": ["is invalid (expected YYYY-MM-DD)"]}}
