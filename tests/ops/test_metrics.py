"""Prometheus metrics: requests by route template and status, GraphQL operations, pool."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

import gql.plan.rendered as rendered_module
from clinic_availability.logging import RequestInfo
from clinic_availability.ops import MAX_OPERATION_NAMES, OTHER_OPERATION, Metrics
from gql.plan.extension import FALLBACK_REASONS
from models.scheduling import slot_render
from tests.factories import SLOTS


async def scrape(client: httpx.AsyncClient) -> dict[str, list[Any]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(matching) == 1, (name, labels, samples)
    return float(matching[0])


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Any
) -> None:
    slot = await factory.slot()
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).status_code == 200
    assert (await client.get(f"{SLOTS}/{slot.id + 1000}", headers=auth)).status_code == 404
    assert (await client.get(f"{SLOTS}/{slot.id}")).status_code == 401
    assert (await client.get("/no/such/path/42")).status_code == 404

    families = await scrape(client)
    requests = families["clinic_http_requests"]
    route = f"{SLOTS}/{{slot_id}}"
    assert (
        value(requests, "clinic_http_requests_total", method="GET", route=route, status="200") == 1
    )
    assert (
        value(requests, "clinic_http_requests_total", method="GET", route=route, status="404") == 1
    )
    assert (
        value(requests, "clinic_http_requests_total", method="GET", route=route, status="401") == 1
    )
    assert (
        value(requests, "clinic_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    # No raw path (with its ids) ever becomes a label.
    assert {sample.labels["route"] for sample in requests} == {route, "unmatched"}
    latency = families["clinic_http_request_duration_seconds"]
    assert (
        value(latency, "clinic_http_request_duration_seconds_count", method="GET", route=route) == 3
    )


async def test_graphql_operations_are_counted_by_name_and_outcome(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    query = "query SlotCount { availableSlots { totalCount } }"
    for headers in (auth, auth, {}):
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200
    await client.post("/graphql", json={"query": "{ availableSlots { totalCount } }"}, headers=auth)

    operations = (await scrape(client))["clinic_graphql_operations"]
    name = "clinic_graphql_operations_total"
    assert value(operations, name, operation="SlotCount", type="query", outcome="ok") == 2
    assert value(operations, name, operation="SlotCount", type="query", outcome="error") == 1
    assert value(operations, name, operation="anonymous", type="query", outcome="ok") == 1


async def test_pool_use_is_exported(client: httpx.AsyncClient) -> None:
    families = await scrape(client)
    connections = families["clinic_db_pool_connections"]
    states = {sample.labels["state"] for sample in connections}
    assert states == {"checked_out", "idle", "overflow"}
    assert all(sample.value >= 0 for sample in connections)
    assert families["clinic_db_pool_size"][0].value >= 1


def test_operation_names_from_clients_cannot_grow_the_label_set(app: Any) -> None:
    metrics = Metrics(app.state.engine)
    labels = {metrics._operation_label(f"Op{index}") for index in range(MAX_OPERATION_NAMES + 50)}
    assert len(labels) == MAX_OPERATION_NAMES + 1
    assert OTHER_OPERATION in labels
    assert metrics._operation_label("Op1") == "Op1"
    assert metrics._operation_label("not a name; DROP") == OTHER_OPERATION
    assert metrics._operation_label(None) == "anonymous"


def test_unknown_methods_share_one_label(app: Any) -> None:
    metrics = Metrics(app.state.engine)
    for method in ("BREW", "PROPFIND", "GET"):
        metrics.observe(RequestInfo(request_id="r", method=method, route="/healthz", status=405))
    samples = {
        sample.labels["method"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "clinic_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert samples == {"OTHER": 2, "GET": 1}


async def test_plan_fallbacks_are_counted_by_reason(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], factory: Any, monkeypatch: Any
) -> None:
    """A rendered root field answered otherwise shows in the metrics, by reason only."""
    await factory.slot()
    families = await scrape(client)
    name = "clinic_graphql_plan_fallbacks_total"
    for reason in FALLBACK_REASONS:  # present from the start
        assert value(families["clinic_graphql_plan_fallbacks"], name, reason=reason) == 0

    query = "query Secret { availableSlots { nodes { id startTime } } }"
    # A selection the renderer does not write (here: no DateTime): declined.
    kinds = {k: v for k, v in rendered_module.SCALAR_KINDS.items() if k != "DateTime"}
    monkeypatch.setattr(rendered_module, "SCALAR_KINDS", kinds)
    response = await client.post("/graphql", json={"query": query}, headers=auth)
    assert response.status_code == 200 and "errors" not in response.json()
    monkeypatch.undo()
    # A statement that fails: the rows answer, counted as a failed rendering.

    def broken(*_args: Any) -> Any:
        raise RuntimeError("statement failed")

    monkeypatch.setattr(slot_render, "_page_statement", broken)
    other = "query Other { availableSlots { nodes { id } } }"
    for _ in range(2):
        response = await client.post("/graphql", json={"query": other}, headers=auth)
        assert response.status_code == 200 and "errors" not in response.json()

    families = await scrape(client)
    fallbacks = families["clinic_graphql_plan_fallbacks"]
    assert value(fallbacks, name, reason="declined") == 1
    assert value(fallbacks, name, reason="render_failed") == 2
    # The reason is the only label: nothing of the document (names, fields) shows.
    assert {tuple(sample.labels) for sample in fallbacks} == {("reason",)}
    assert app.state.graphql_plan.fallbacks == 3
