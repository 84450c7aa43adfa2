"""The OpenAPI document says what the REST face accepts and answers, and the server holds
to it: formats, enums, required and nullable fields, id bounds, every success reply,
and 405 with ``Allow``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.entities import APPOINTMENT_TYPES, MAX_ID
from tests.factories import BASE, BOOKS, SLOTS, Factory, future, iso

SLOT = f"{SLOTS}/{{slot_id}}"
BOOK = f"{BOOKS}/{{book_id}}"
BATCH_CREATE = f"{BASE}/providers/available_slots/create_in_batch"
UTILIZATION = f"{BASE}/providers/utilization"
NULL = {"type": "null"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("doc") / "unused.db"
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    generated: dict[str, Any] = app.openapi()
    return generated


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [parameter] = [p for p in document["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter


def _body(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _resolve(document, content["schema"])


def _property(document: dict[str, Any], schema: dict[str, Any], name: str) -> dict[str, Any]:
    return _resolve(document, schema["properties"][name])


def test_dates_enums_and_ids_are_described(document: dict[str, Any]) -> None:
    for path, method, name in [
        (SLOTS, "get", "start_date"),
        (SLOTS, "get", "end_date"),
        (f"{SLOTS}/search", "get", "date"),
        (BOOKS, "get", "start_date"),
        (UTILIZATION, "get", "start_date"),
        (UTILIZATION, "get", "end_date"),
    ]:
        schema = _parameter(document, path, method, name)["schema"]
        assert schema["format"] == "date", (path, name)
    assert _parameter(document, UTILIZATION, "get", "start_date")["required"] is True
    assert _parameter(document, UTILIZATION, "get", "end_date")["required"] is True

    search_type = _parameter(document, f"{SLOTS}/search", "get", "appointment_type")["schema"]
    # A catalog (/appointment_types), not a closed list: the legacy keys are examples.
    assert "enum" not in search_type
    assert search_type["examples"] == list(APPOINTMENT_TYPES)
    status = _parameter(document, BOOKS, "get", "status")["schema"]
    assert set(status["enum"]) == {
        "confirmed",
        "cancelled",
        "no_show",
        "completed",
        "pending",
        "declined",
        "expired",
    }
    for method in ("put", "delete"):
        scope = _parameter(document, SLOT, method, "scope")["schema"]
        assert scope["enum"] == ["single", "following", "series"]

    batch = _body(document, BATCH_CREATE, "post")
    assert batch["properties"]["provider_id"]["minimum"] == 1
    assert batch["properties"]["provider_id"]["maximum"] == MAX_ID
    assert set(batch["required"]) == {"provider_id", "slots"}


def test_nullable_fields_are_the_ones_null_clears(document: dict[str, Any]) -> None:
    new_slot = _property(document, _body(document, SLOTS, "post"), "available_slot")
    assert set(new_slot["required"]) == {"provider_id", "start_time", "end_time"}
    changed_slot = _property(document, _body(document, SLOT, "put"), "available_slot")
    assert "required" not in changed_slot
    for fields in (new_slot, changed_slot):
        properties = fields["properties"]
        assert properties["provider_id"]["type"] == "integer"
        assert properties["provider_id"]["minimum"] == 1
        for name in ("start_time", "end_time"):
            assert properties[name]["type"] == "string"
        for name in ("available", "recurring"):
            assert properties[name]["type"] == "boolean"
        assert properties["appointment_type"]["anyOf"] == [
            {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]{0,39}$",
                "examples": list(APPOINTMENT_TYPES),
            },
            NULL,
        ]
        assert properties["recurrence_end_date"]["anyOf"] == [
            {"type": "string", "format": "date"},
            NULL,
        ]
        assert NULL in properties["recurrence_rule"]["anyOf"]

    book = _property(document, _body(document, BOOKS, "post"), "book")
    assert set(book["required"]) == {"available_slot_id", "patient_id"}
    assert book["properties"]["patient_id"]["minimum"] == 1
    assert NULL in book["properties"]["notes"]["anyOf"]
    change = _property(document, _body(document, BOOK, "put"), "book")
    assert change["properties"]["status"]["type"] == "string"
    assert "null" not in str(change["properties"]["status"])
    assert NULL in change["properties"]["cancellation_reason"]["anyOf"]


def test_every_success_reply_is_documented(document: dict[str, Any]) -> None:
    def schema_of(path: str, method: str, status: str) -> dict[str, Any]:
        response = document["paths"][path][method]["responses"][status]
        return _resolve(document, response["content"]["application/json"]["schema"])

    assert "would_create" in schema_of(SLOTS, "post", "200")["properties"]
    assert "would_create" in schema_of(BATCH_CREATE, "post", "200")["properties"]
    assert "deleted_slots" in schema_of(SLOT, "delete", "200")["properties"]
    updates = [_resolve(document, s) for s in schema_of(SLOT, "put", "200")["anyOf"]]
    assert {"updated_slots", "kept_slots"} <= set(updates[1]["properties"])
    assert "provider" in updates[0]["properties"]


async def test_method_not_allowed_names_the_allowed_ones(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for method, path, allowed in [
        ("TRACE", SLOTS, "GET, POST"),
        ("PATCH", f"{SLOTS}/1", "DELETE, GET, PUT"),
        ("PUT", f"{SLOTS}/search", "GET"),
        ("POST", UTILIZATION, "GET"),
        ("TRACE", "/healthz", "GET"),
    ]:
        response = await client.request(method, path, headers=auth)

        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allowed, (method, path)
        assert response.json() == {"errors": "Method not allowed"}


async def test_null_clears_an_optional_field_and_blanks_a_required_one(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    slot = await factory.slot(appointment_type="therapy")
    url = f"{SLOTS}/{slot.id}"

    cleared = await client.put(
        url, json={"available_slot": {"appointment_type": None}}, headers=auth
    )

    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["appointment_type"] is None
    assert (await client.get(url, headers=auth)).json()["appointment_type"] is None
    for name in ("provider_id", "start_time", "end_time"):
        blank = await client.put(url, json={"available_slot": {name: None}}, headers=auth)
        assert blank.status_code == 422
        assert blank.json() == {"errors": {name: ["can't be blank"]}}


async def test_values_outside_the_document_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, db_count: Any
) -> None:
    provider = await factory.provider()
    slot = await factory.slot(provider, appointment_type="therapy")
    url = f"{SLOTS}/{slot.id}"
    start = future(24 * 5)
    new = {
        "provider_id": provider.id,
        "start_time": iso(start),
        "end_time": iso(start + timedelta(hours=1)),
    }
    before = (await client.get(url, headers=auth)).json()
    for method, path, body, field in [
        ("PUT", url, {"recurring": 0}, "recurring"),
        ("PUT", url, {"available": "true"}, "available"),
        ("PUT", url, {"recurrence_end_date": "AAA"}, "recurrence_end_date"),
        ("PUT", url, {"provider_id": str(provider.id)}, "provider_id"),
        ("POST", SLOTS, {**new, "provider_id": str(provider.id)}, "provider_id"),
        ("POST", SLOTS, {**new, "recurring": 1}, "recurring"),
    ]:
        response = await client.request(method, path, json={"available_slot": body}, headers=auth)
        assert response.status_code == 422, (method, body, response.text)
        assert list(response.json()["errors"]) == [field], (method, body)
    for query in ("start_date=2030-W01-1", "start_date=20300101"):
        listed = await client.get(f"{SLOTS}?{query}", headers=auth)
        assert listed.status_code == 422
        assert listed.json() == {"errors": {"start_date": ["is invalid (expected YYYY-MM-DD)"]}}
    missing = await client.get(UTILIZATION, headers=auth)
    assert missing.status_code == 422
    assert missing.json() == {
        "errors": {"start_date": ["can't be blank"], "end_date": ["can't be blank"]}
    }
    assert (await client.get(url, headers=auth)).json() == before
    assert await db_count("available_slots") == 1
