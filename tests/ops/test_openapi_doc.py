"""The OpenAPI document behind /docs: real models, the token scheme, contract errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rest_compat.router import BASE_PATH

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def legacy_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith(BASE_PATH)
        for method, operation in item.items()
        if method in METHODS
    ]
    assert operations
    return operations


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def test_the_token_header_or_bearer_is_the_security_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"APIKeyHeader", "HTTPBearer"}
    scheme = schemes["APIKeyHeader"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "X-User-Token"
    assert schemes["HTTPBearer"] == {**schemes["HTTPBearer"], "type": "http", "scheme": "bearer"}
    for method, path, operation in legacy_operations(document):
        assert operation.get("security") == [{"APIKeyHeader": []}, {"HTTPBearer": []}], (
            method,
            path,
        )


def test_no_generic_validation_error_shape_remains(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


def test_every_legacy_route_has_the_contract_error_bodies(document: dict[str, Any]) -> None:
    for method, path, operation in legacy_operations(document):
        responses = operation["responses"]
        # The calendar feed answers 401 to anyone but an admin or a feed key holder.
        statuses = ("401", "500") if path.endswith("/calendar.ics") else ("401", "403", "500")
        for status in statuses:
            assert status in responses, (method, path, status)
            content = responses[status]["content"]["application/json"]
            assert "errors" in resolve(document, content["schema"])["properties"]
            assert "errors" in content["example"]
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in responses, (method, path)
        if "422" in responses:
            schema = resolve(document, responses["422"]["content"]["application/json"]["schema"])
            assert schema["properties"]["errors"]["type"] == "object", (method, path)


def test_every_legacy_route_has_a_real_success_model(document: dict[str, Any]) -> None:
    for method, path, operation in legacy_operations(document):
        success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        # One success status, or a second for an answer the query asks for (dry_run, scope).
        assert 1 <= len(success) <= 2, (method, path)
        for status, response in success.items():
            if status == "204":
                assert "content" not in response, (method, path)
                continue
            if path.endswith(".ics"):  # the calendar feed answers RFC 5545, not JSON
                assert list(response["content"]) == ["text/calendar"], (method, path)
                continue
            schema = response["content"]["application/json"]["schema"]
            item = schema.get("items", schema)
            for alternative in item.get("anyOf", [item]):
                assert "$ref" in alternative, (method, path, schema)


def test_list_routes_document_their_pagination_headers(document: dict[str, Any]) -> None:
    lists = 0
    for method, path, operation in legacy_operations(document):
        ok = operation["responses"].get("200", {})
        if (
            ok.get("content", {}).get("application/json", {}).get("schema", {}).get("type")
            == "array"
        ):
            lists += 1
            headers = ok.get("headers", {})
            for name in ("X-Total-Count", "X-Page", "X-Page-Size", "X-Total-Pages", "Link"):
                assert name in headers, (method, path, name)
    assert lists >= 2


def test_request_bodies_carry_the_documented_examples(document: dict[str, Any]) -> None:
    for method, path, operation in legacy_operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        content = body["content"]["application/json"]
        schema = resolve(document, content["schema"])
        example = content.get("example") or schema.get("example") or schema.get("examples")
        assert example, (method, path)
    created = document["paths"][f"{BASE_PATH}/available_slots"]["post"]
    example = created["requestBody"]["content"]["application/json"]["example"]
    assert example["available_slot"]["recurrence_pattern"] == "weekly"
