"""Requests /graphql refuses before running anything: no 5xx, and nothing about the schema
for a caller who is not an admin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from common.json_nesting import MAX_JSON_DEPTH
from models.platform.entities import Provider
from tests.factories import Factory

GRAPHQL = "/graphql"
RESPONSE_JSON = "application/graphql-response+json"
SUBSCRIPTION_OVER_HTTP = "subscriptions are served over WebSocket at /graphql"

# Valid and invalid documents: none of their errors may reach a caller who is not an admin.
DOCUMENTS = [
    "{ webhooks { secretz } }",
    "{ webhooks { id url } }",
    "{ provider }",
    "mutation { createWebhook { id } }",
    "query($x: NoSuchInput) { __typename }",
    "{{{",
    "",
    "subscription { availabilityChanged { eventId } }",
    "query A { __typename } query B { __typename }",
]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("accept", ["application/json", RESPONSE_JSON])
async def test_strangers_and_non_admins_learn_nothing_of_the_schema(
    client: httpx.AsyncClient, factory: Factory, accept: str
) -> None:
    callers = {
        "no token": ({}, "UNAUTHENTICATED", 401),
        "unknown token": ({"X-User-Token": "nope"}, "UNAUTHENTICATED", 401),
        "patient": ({"X-User-Token": await factory.token(role="patient")}, "FORBIDDEN", 403),
        "provider": ({"X-User-Token": await factory.token(role="provider")}, "FORBIDDEN", 403),
    }
    for caller, (headers, code, status) in callers.items():
        for document in DOCUMENTS:
            for method in ("POST", "GET"):
                request: dict[str, Any] = (
                    {"json": {"query": document}}
                    if method == "POST"
                    else {"params": {"query": document}}
                )
                response = await client.request(
                    method, GRAPHQL, headers={**headers, "accept": accept}, **request
                )
                where = (caller, method, document)
                expected_status = status if accept == RESPONSE_JSON else 200
                if method == "GET" and not document:
                    continue  # GET without a query is the explorer page
                assert response.status_code == expected_status, (where, response.text)
                body = response.json()
                (error,) = body["errors"]
                assert error["extensions"]["code"] == code, (where, body)
                assert error["message"] in ("Authentication required", "Admin access required")
                assert "locations" not in error, where


async def test_admins_still_get_the_document_errors(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        GRAPHQL,
        json={"query": "{ webhooks { secretz } }"},
        headers={**auth, "accept": RESPONSE_JSON},
    )
    assert response.status_code == 400
    assert "secretz" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("headers", [{}, None], ids=["no token", "admin"])
async def test_json_nested_past_the_limit_is_a_400_before_anything_else(
    client: httpx.AsyncClient, auth: dict[str, str], headers: dict[str, str] | None
) -> None:
    caller = auth if headers is None else headers
    for depth in (100_000, 2_000, MAX_JSON_DEPTH):
        body = '{"query": "{ __typename }", "variables": {"v": ' + _nested(depth) + "}}"
        response = await client.post(
            GRAPHQL, content=body, headers={**caller, "content-type": "application/json"}
        )
        assert response.status_code == 400, (depth, response.text)
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert str(MAX_JSON_DEPTH) in error["message"]
        if depth > 2_000:
            continue  # too long for a URL
        got = await client.get(
            GRAPHQL,
            params={"query": "{ __typename }", "variables": '{"v": ' + _nested(depth) + "}"},
            headers=caller,
        )
        assert got.status_code == 400, (depth, got.text)
    # Within the limit, the request runs as usual.
    body = '{"query": "{ __typename }", "variables": {"v": ' + _nested(MAX_JSON_DEPTH - 2) + "}}"
    fine = await client.post(
        GRAPHQL, content=body, headers={**auth, "content-type": "application/json"}
    )
    assert fine.status_code == 200 and fine.json() == {"data": {"__typename": "Query"}}


async def test_a_subscription_over_http_is_a_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for document, name in (
        ("subscription { availabilityChanged { eventId } }", None),
        ("subscription S { availabilityChanged { eventId } } query Q { __typename }", "S"),
        ("subscription S { availabilityChanged { eventId } } query Q { __typename }", None),
    ):
        for method in ("POST", "GET"):
            request: dict[str, Any] = {"query": document, "operationName": name}
            if method == "POST":
                response = await client.post(GRAPHQL, json=request, headers=auth)
            else:
                params = {key: value for key, value in request.items() if value is not None}
                response = await client.get(GRAPHQL, params=params, headers=auth)
            assert response.status_code == 400, (method, document, response.text)
            assert response.json() == {
                "errors": [
                    {"message": SUBSCRIPTION_OVER_HTTP, "extensions": {"code": "BAD_REQUEST"}}
                ]
            }
    # The query of that document still runs when it is the one named.
    named = {
        "query": "subscription S { availabilityChanged { eventId } } query Q { __typename }",
        "operationName": "Q",
    }
    response = await client.post(GRAPHQL, json=named, headers=auth)
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("mutation", ["createProvider", "updateProvider"])
async def test_a_time_zone_name_too_long_for_a_file_is_invalid(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: Any, mutation: str
) -> None:
    provider = await factory.provider()
    fields = 'firstName: "Long", lastName: "Zone", ' if mutation == "createProvider" else ""
    target = "" if mutation == "createProvider" else f"id: {provider.id}, "
    for zone in ("A" * 256, "Europe/" + "x" * 300, "../" * 100 + "etc/passwd", "UTC\\u0000x"):
        document = (
            f'mutation {{ {mutation}({target}input: {{{fields}timeZone: "{zone}"}}) {{ id }} }}'
        )
        response = await client.post(GRAPHQL, json={"query": document}, headers=auth)
        assert response.status_code == 200, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "VALIDATION_FAILED", (zone[:20], error)
    zones = (await session.execute(select(Provider.time_zone))).scalars().all()
    assert zones == ["UTC"]
