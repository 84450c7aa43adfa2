"""Every REST route and every GraphQL root field refuses callers that are not admins.

Routes and fields are enumerated from the application and the schema, so ones added
later are covered without touching this file.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    get_named_type,
    is_leaf_type,
)

from gql.schema import build_schema
from rest_compat.router import BASE_PATH
from tests.factories import Factory

UNAUTHENTICATED = (401, {"errors": "Authentication required"})
FORBIDDEN = (403, {"errors": "Admin access required"})
SCALAR_LITERALS = {
    "Int": "1",
    "Float": "1.5",
    "String": '"x"',
    "Boolean": "true",
    "ID": '"1"',
    "DateTime": '"2030-01-07T10:00:00Z"',
    "Date": '"2030-01-07"',
}


def rest_operations(app: Any) -> list[tuple[str, str, bool]]:
    """(method, concrete path, whether a non-admin gets 403) for every REST route.

    A route whose OpenAPI document lists no 403 (the calendar feed: an admin token or a
    feed key, anything else 401) must refuse a non-admin's token with 401.
    """
    document = app.openapi()["paths"]
    operations = []
    for route in iter_route_contexts(app.routes):
        if not str(route.path).startswith(BASE_PATH) or not route.methods:
            continue
        path = re.sub(r"\{[^}]+\}", "1", str(route.path))
        for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
            template = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", str(route.path))
            responses = document[template][method.lower()]["responses"]
            operations.append((method, path, "403" in responses))
    return operations


def literal(type_: Any) -> str:
    if isinstance(type_, GraphQLNonNull):
        return literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return f"[{literal(type_.of_type)}]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        fields = [
            f"{name}: {literal(field.type)}"
            for name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        ]
        return "{" + ", ".join(fields) + "}"
    assert isinstance(type_, GraphQLScalarType)
    return SCALAR_LITERALS.get(type_.name, '"x"')


def field_documents() -> list[tuple[str, str]]:
    """(operation type, document) calling each root field with its required arguments."""
    schema = build_schema()._schema
    documents = []
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, field in (root.fields if root else {}).items():
            args = [
                f"{arg_name}: {literal(arg.type)}"
                for arg_name, arg in field.args.items()
                if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
            ]
            call = f"{name}({', '.join(args)})" if args else name
            selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
            documents.append((kind, f"{kind} {{ {call}{selection} }}"))
    return documents


@pytest.fixture
async def bad_callers(factory: Factory) -> dict[str, tuple[dict[str, str], tuple[int, Any]]]:
    patient = await factory.token(role="patient")
    expired = await factory.token(role="admin", expires_in=timedelta(seconds=-1))
    return {
        "no token": ({}, UNAUTHENTICATED),
        "unknown token": ({"X-User-Token": "not-a-real-token-" + "x" * 30}, UNAUTHENTICATED),
        "expired admin token": ({"X-User-Token": expired}, UNAUTHENTICATED),
        "patient token": ({"X-User-Token": patient}, FORBIDDEN),
    }


async def test_every_route_refuses_non_admins(
    app: Any, client: httpx.AsyncClient, bad_callers: dict[str, Any], db_count: Any
) -> None:
    operations = rest_operations(app)
    assert len(operations) >= 6
    slots_before = await db_count("available_slots")
    refused = failures = 0
    for method, path, forbids in operations:
        for caller, (headers, (status, body)) in bad_callers.items():
            if not forbids and status == 403:
                status, body = UNAUTHENTICATED
            response = await client.request(
                method, path, headers={**headers, "Idempotency-Key": f"k-{method}-{path}"}, json={}
            )
            if response.status_code == status and response.json() == body:
                refused += 1
            else:
                failures += 1
                print(f"NOT REFUSED {method} {path} as {caller}: {response.status_code}")
    print(f"REST auth matrix: {refused}/{refused + failures} refused ({len(operations)} routes)")
    assert failures == 0
    assert await db_count("available_slots") == slots_before
    assert await db_count("idempotency_keys") == 0


async def test_every_graphql_field_refuses_non_admins(
    client: httpx.AsyncClient, bad_callers: dict[str, Any]
) -> None:
    documents = field_documents()
    assert len(documents) >= 5
    refused = failures = 0
    for kind, document in documents:
        for caller, (headers, (status, _body)) in bad_callers.items():
            response = await client.post("/graphql", json={"query": document}, headers=headers)
            errors = response.json().get("errors") or [{}]
            codes = {(error.get("extensions") or {}).get("code") for error in errors}
            statuses = {(error.get("extensions") or {}).get("status") for error in errors}
            expected = "UNAUTHENTICATED" if status == 401 else "FORBIDDEN"
            if codes == {expected} and statuses == {status}:
                refused += 1
            else:
                failures += 1
                print(f"NOT REFUSED {kind} {document} as {caller}: {response.text[:300]}")
    print(f"GraphQL auth matrix: {refused}/{refused + failures} refused ({len(documents)} fields)")
    assert failures == 0
