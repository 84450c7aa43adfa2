"""Request ids and the one JSON line per request: what it holds and what it never holds."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clinic_availability.logging import JsonFormatter, RequestIdFilter
from tests.factories import BOOKS, SLOTS


class Lines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["logger"] == "clinic_availability.access"]

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The service's JSON log output, through the same formatter and filter as in serve."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("clinic_availability")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def test_each_request_gets_an_id_in_the_header_and_the_log(
    client: httpx.AsyncClient, auth: dict[str, str], log_lines: Lines
) -> None:
    first = await client.get(SLOTS, headers=auth)
    second = await client.get(SLOTS, headers=auth)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert len(set(ids)) == 2 and all(len(value) == 32 for value in ids)

    lines = log_lines.requests()
    assert [line["request_id"] for line in lines] == ids
    line = lines[0]
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["route"] == SLOTS
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["ts"].endswith("+00:00")


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("req-2024.10:abc_DEF", True),
        ("x" * 65, False),
        ("has space", False),
        ("new\nline", False),
        ("", False),
    ],
)
async def test_a_sane_incoming_request_id_is_kept(
    client: httpx.AsyncClient, offered: str, kept: bool
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": offered})
    assert (response.headers["x-request-id"] == offered) is kept
    assert response.headers["x-request-id"]
    assert len(response.headers.get_list("x-request-id")) == 1


async def test_the_log_never_holds_tokens_query_strings_or_bodies(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Any, log_lines: Lines
) -> None:
    slot = await factory.slot()
    patient = await factory.patient()
    body = {
        "book": {
            "available_slot_id": slot.id,
            "patient_id": patient.id,
            "notes": "PHI-NOTE-anxiety-history",
        }
    }
    await client.post(BOOKS, json=body, headers=auth)
    await client.get(f"{SLOTS}?provider_id=98765&start_date=2031-01-02", headers=auth)
    graphql = {
        "query": "query Find($d: String) { searchAvailableSlots(date: $d) { totalCount } }",
        "variables": {"d": "2031-03-04"},
    }
    await client.post("/graphql", json=graphql, headers=auth)

    text = log_lines.text
    for secret in (auth["X-User-Token"], "PHI-NOTE", "98765", "2031-01-02", "2031-03-04"):
        assert secret not in text
    routes = [(line["method"], line["route"]) for line in log_lines.requests()]
    assert routes == [("POST", BOOKS), ("GET", SLOTS), ("POST", "/graphql")]
    assert log_lines.requests()[-1]["operation"] == "Find"


async def test_an_unexpected_failure_is_logged_with_its_id_and_no_message(
    app: Any, log_lines: Lines
) -> None:
    message = "patient " + "Alex Rivera" + ": PHI in an exception message"

    async def explode() -> None:
        raise RuntimeError(message)

    app.add_api_route("/explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/explode")

    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["errors"] == "Internal server error"
    assert response.json().get("request_id", request_id) == request_id
    lines = log_lines.all()
    failure = next(line for line in lines if line.get("exc_type"))
    assert failure["request_id"] == request_id
    assert failure["exc_type"] == "builtins.RuntimeError"
    assert "explode" in failure["stack"]
    access = log_lines.requests()[-1]
    assert (access["request_id"], access["status"], access["route"]) == (
        request_id,
        500,
        "/explode",
    )
    assert "Alex Rivera" not in log_lines.text


async def test_probes_are_logged_at_debug_only(client: httpx.AsyncClient, log_lines: Lines) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200
    assert log_lines.requests() == []
