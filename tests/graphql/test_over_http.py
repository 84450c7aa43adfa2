"""GraphQL over HTTP: admin-only operations (introspection included), the
``application/graphql-response+json`` media type, and JSON for every error reply."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from gql.media import GRAPHQL_RESPONSE, JSON, negotiate
from tests.factories import Factory
from tests.graphql.helpers import GRAPHQL

INTROSPECTION = [
    "{ __schema { queryType { name } types { name } } }",
    "{ __typename }",
    '{ __type(name: "Booking") { fields { name } } }',
    get_introspection_query(),
]


@pytest.mark.parametrize("document", INTROSPECTION, ids=["schema", "typename", "type", "full"])
async def test_introspection_is_for_admins(
    client: httpx.AsyncClient, factory: Factory, auth: dict[str, str], document: str
) -> None:
    refusals = {
        "no token": ({}, "UNAUTHENTICATED", 401),
        "unknown token": ({"X-User-Token": "nope"}, "UNAUTHENTICATED", 401),
        "patient": ({"X-User-Token": await factory.token(role="patient")}, "FORBIDDEN", 403),
        "provider": ({"X-User-Token": await factory.token(role="provider")}, "FORBIDDEN", 403),
    }
    for caller, (headers, code, status) in refusals.items():
        response = await client.post(GRAPHQL, json={"query": document}, headers=headers)
        assert response.status_code == 200, caller
        body = response.json()
        assert body["data"] is None, (caller, body)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == code, caller
        assert error["extensions"]["status"] == status, caller
        assert "Booking" not in response.text and "Query" not in response.text, caller
    admin = (await client.post(GRAPHQL, json={"query": document}, headers=auth)).json()
    assert "errors" not in admin, admin
    assert admin["data"]


async def test_refusal_is_one_error_per_operation(client: httpx.AsyncClient) -> None:
    document = "{ a: __typename b: providers { totalCount } c: patients { totalCount } }"
    body = (await client.post(GRAPHQL, json={"query": document})).json()
    assert body == {
        "data": None,
        "errors": [
            {
                "message": body["errors"][0]["message"],
                "extensions": {
                    "code": "UNAUTHENTICATED",
                    "status": 401,
                    "errors": body["errors"][0]["extensions"]["errors"],
                },
            }
        ],
    }


async def test_introspection_setting_still_turns_it_off(
    database_url: str, factory: Factory, auth: dict[str, str]
) -> None:
    from clinic_availability.app import create_app
    from common.settings import Settings

    app = create_app(Settings(database_url=database_url, introspection=False))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.post(GRAPHQL, json={"query": INTROSPECTION[0]}, headers=auth)).json()
    finally:
        await app.state.engine.dispose()
    assert body["data"] is None
    assert "introspection" in body["errors"][0]["message"].lower()


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", JSON),
    ],
)
def test_media_type_negotiation(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


def graphql_response(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Accept": GRAPHQL_RESPONSE}


async def test_graphql_response_media_type_is_answered_with_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    query = {"query": "{ providers { totalCount } }"}
    response = await client.post(GRAPHQL, json=query, headers=graphql_response(auth))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"providers": {"totalCount": 0}}}
    legacy = await client.post(GRAPHQL, json=query, headers=auth)
    assert legacy.headers["content-type"].startswith(JSON)


REQUEST_ERRORS = {
    "does not parse": {"query": "{ providers { totalCount "},
    "does not validate": {"query": "{ noSuchField }"},
    "variables do not coerce": {
        "query": "query Q($first: Int) { providers(first: $first) { totalCount } }",
        "variables": {"first": "many"},
    },
}


@pytest.mark.parametrize("case", list(REQUEST_ERRORS))
async def test_request_errors_are_400_without_data_for_graphql_response_clients(
    client: httpx.AsyncClient, auth: dict[str, str], case: str
) -> None:
    payload = REQUEST_ERRORS[case]
    response = await client.post(GRAPHQL, json=payload, headers=graphql_response(auth))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert body["errors"] and all("path" not in error for error in body["errors"])
    # application/json clients keep today's 200 with data: null.
    legacy = await client.post(GRAPHQL, json=payload, headers=auth)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith(JSON)
    assert legacy.json()["data"] is None


async def test_field_errors_keep_200_and_data_for_graphql_response_clients(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    query = {"query": "{ provider(id: 999) { id } }"}
    response = await client.post(GRAPHQL, json=query, headers=graphql_response(auth))
    body = response.json()
    assert response.status_code == 200, body
    assert "data" in body
    assert body["errors"][0]["path"] == ["provider"]


async def test_refusal_under_graphql_response_is_its_status(client: httpx.AsyncClient) -> None:
    response = await client.post(
        GRAPHQL, json={"query": "{ __typename }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def assert_json_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON)
    body: dict[str, Any] = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    return error


async def test_every_malformed_request_is_a_json_error(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    batch = [{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    error = assert_json_error(await client.post(GRAPHQL, json=batch, headers=auth))
    assert error["message"] == "Batching is not enabled"
    secret = "Patient-Jane-Doe-diagnosis"
    for headers in (auth, {}):
        response = await client.post(
            GRAPHQL,
            json={"query": "query A { __typename }", "operationName": secret},
            headers=headers,
        )
        if headers:
            assert_json_error(response)
        assert secret not in response.text
    assert_json_error(
        await client.post(
            GRAPHQL, content=b"{not json", headers={**auth, "content-type": "application/json"}
        )
    )
    assert_json_error(
        await client.post(GRAPHQL, content=b"query", headers={**auth, "content-type": "text/x"})
    )
    assert_json_error(await client.post(GRAPHQL, json={"query": 3}, headers=auth))
    assert_json_error(await client.post(GRAPHQL, json={}, headers=auth))
    response = await client.post(GRAPHQL, json=batch, headers=graphql_response(auth))
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.status_code == 400
