"""The REST reference as a newcomer reads it: one type per parameter, examples the demo
answers, the documented routes first, and the FHIR routes described."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.openapi.utils import get_openapi

from clinic_availability.app import create_app
from clinic_availability.docs import complete_openapi
from common.settings import Settings
from tests.factories import BASE, BOOKS, SLOTS

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("doc") / "unused.db"
    generated: dict[str, Any] = create_app(
        Settings(database_url=f"sqlite+aiosqlite:///{path}")
    ).openapi()
    return generated


def _parameters(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, parameter)
        for path, item in document["paths"].items()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
    ]


def test_every_query_parameter_has_one_type(document: dict[str, Any]) -> None:
    """Swagger drew ``int | None`` as "integer | (integer | null)"; a query has no null."""
    for path, parameter in _parameters(document):
        schema = parameter["schema"]
        assert "anyOf" not in schema, (path, parameter["name"], schema)
        assert "type" in schema, (path, parameter["name"])
    [page] = [p for path, p in _parameters(document) if path == SLOTS and p["name"] == "page"]
    assert page["schema"]["type"] == "integer"
    assert page["schema"]["minimum"] == 1


def test_examples_are_days_the_demo_has() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    generated = get_openapi(title=app.title, version=app.version, routes=app.routes)
    again = complete_openapi(generated, today=date(2031, 5, 6))
    listed = {p["name"]: p for p in again["paths"][SLOTS]["get"]["parameters"]}
    assert listed["start_date"]["example"] == "2031-05-06"
    # The demo's first provider, not the documentation's 456.
    assert listed["provider_id"]["example"] == 1
    searched = {p["name"]: p for p in again["paths"][f"{SLOTS}/search"]["get"]["parameters"]}
    assert searched["date"]["example"] == "2031-05-07"


def test_the_documented_routes_come_first(document: dict[str, Any]) -> None:
    tags = [tag["name"] for tag in document["tags"]]
    assert tags[:3] == ["Available slots", "Provider available slots", "Books"]
    assert "FHIR" in tags[3:]
    paths = list(document["paths"])
    books = paths.index(BOOKS)
    assert paths.index(SLOTS) < paths.index(f"{BASE}/providers/available_slots") < books
    assert all(paths.index(path) > books for path in paths if path.startswith("/fhir"))
    assert all(paths.index(path) > books for path in paths if path.startswith(f"{BASE}/holds"))


def test_the_fhir_routes_are_described(document: dict[str, Any]) -> None:
    fhir = {
        path: item["get"] for path, item in document["paths"].items() if path.startswith("/fhir")
    }
    assert set(fhir) == {
        "/fhir/metadata",
        "/fhir/Schedule",
        "/fhir/Schedule/{schedule_id}",
        "/fhir/Slot",
        "/fhir/Slot/{slot_id}",
        "/fhir/$bulk-publish",
        "/fhir/$bulk-publish/Schedule.ndjson",
        "/fhir/$bulk-publish/Slot.ndjson",
    }
    # The CapabilityStatement is open to anyone, as FHIR expects.
    metadata = fhir.pop("/fhir/metadata")
    assert metadata["security"] == [] and {"200", "406"} <= set(metadata["responses"])
    for path, operation in fhir.items():
        assert operation["tags"] == ["FHIR"], path
        responses = operation["responses"]
        assert {"200", "401", "403", "406", "500"} <= set(responses), path
        assert list(responses["401"]["content"]) == [FHIR_JSON], path
        assert "application/json" not in responses["200"]["content"] or path.endswith("publish")
        assert {"APIKeyHeader": []} in operation["security"], path
    assert list(fhir["/fhir/Slot"]["responses"]["200"]["content"]) == [FHIR_JSON]
    assert {"400"} <= set(fhir["/fhir/Slot"]["responses"])
    assert {"404"} <= set(fhir["/fhir/Schedule/{schedule_id}"]["responses"])
    assert {"404"} <= set(fhir["/fhir/Slot/{slot_id}"]["responses"])
    assert list(fhir["/fhir/$bulk-publish/Slot.ndjson"]["responses"]["200"]["content"]) == [
        "application/fhir+ndjson"
    ]
    names = {parameter["name"] for parameter in fhir["/fhir/Slot"]["parameters"]}
    assert names == {"schedule", "start", "status", "_count", "_offset"}
