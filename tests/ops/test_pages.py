"""The GraphiQL page and the REST reference: served from the package, nothing external."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import httpx
from graphql import build_client_schema, get_introspection_query, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode

from clinic_availability.explorer import EXAMPLES
from clinic_availability.pages import STATIC_DIR

HTML = {"Accept": "text/html"}


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


async def test_both_pages_load_only_files_of_this_server(client: httpx.AsyncClient) -> None:
    for path in ("/graphql", "/docs"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        urls = references(page.text)
        assert urls, path
        for url in urls:
            if url.startswith("data:"):
                continue
            assert url.startswith("/static/"), (path, url)
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url


def test_stylesheets_import_nothing_from_elsewhere() -> None:
    for stylesheet in STATIC_DIR.rglob("*.css"):
        text = stylesheet.read_text(encoding="utf-8")
        assert "@import" not in text, stylesheet
        for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
            assert target.startswith("data:"), (stylesheet, target[:60])


def test_vendored_assets_ship_with_their_licences() -> None:
    vendor = STATIC_DIR / "vendor"
    for package in ("graphiql", "react", "react-dom", "swagger-ui"):
        licence = vendor / package / "LICENSE"
        assert licence.is_file() and licence.stat().st_size > 500, package
    assert (vendor / "swagger-ui" / "NOTICE").is_file()


async def test_fastapi_cdn_pages_are_off(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404
    docs = await client.get("/docs")
    assert "cdn" not in docs.text.lower()


async def test_every_example_operation_validates_against_the_served_schema(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    reply = await client.post("/graphql", json={"query": get_introspection_query()}, headers=auth)
    schema = build_client_schema(reply.json()["data"])
    names = [example.name for example in EXAMPLES]
    assert len(set(names)) == len(names)
    for example in EXAMPLES:
        document = parse(example.query)
        assert validate(schema, document) == [], example.name
        (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        assert operation.name is not None and operation.name.value == example.name
        variables: dict[str, Any] = json.loads(example.variables)
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        assert not isinstance(coerced, list), (example.name, coerced)
        declared = {node.variable.name.value for node in operation.variable_definitions or ()}
        assert set(variables) <= declared, example.name


async def test_the_examples_cover_list_search_create_batch_and_book(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/graphql", headers=HTML)
    config = re.search(
        r'<script id="explorer-config" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert config is not None
    served = json.loads(config.group(1))
    assert served["endpoint"] == "/graphql"
    fields = " ".join(example["query"] for example in served["examples"])
    for field in (
        "availableSlots(",
        "searchAvailableSlots(",
        "createAvailableSlot(",
        "createBook(",
    ):
        assert field in fields


async def test_the_examples_run_in_order_on_a_new_clinic(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Any
) -> None:
    provider = await factory.provider()
    patient = await factory.patient()
    assert (provider.id, patient.id) == (1, 1)  # the ids the examples use
    for example in EXAMPLES:
        payload = {"query": example.query, "variables": json.loads(example.variables)}
        reply = (await client.post("/graphql", json=payload, headers=auth)).json()
        assert "errors" not in reply, (example.name, reply)
    booked = reply["data"]["createBook"]
    assert (booked["availableSlotId"], booked["notes"]) == (1, "Initial consultation")


async def test_the_served_examples_run_as_shown_on_the_demo_clinic(
    client: httpx.AsyncClient, session: Any
) -> None:
    from clinic_availability.demo import prepare_demo

    report = await prepare_demo(session)
    page = await client.get("/graphql", headers=HTML)
    config = re.search(
        r'<script id="explorer-config" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert config is not None
    examples = json.loads(config.group(1))["examples"]
    auth = {"X-User-Token": report.token}
    replies = {}
    for example in examples:
        if example["query"].startswith("subscription"):
            continue  # over the WebSocket: tests/events
        payload = {"query": example["query"], "variables": json.loads(example["variables"])}
        reply = (await client.post("/graphql", json=payload, headers=auth)).json()
        assert "errors" not in reply, (example["name"], reply)
        replies[example["name"]] = reply["data"]
    # The list and search examples find the demo's open slots; the booking books one of them.
    assert replies["ListAvailableSlots"]["availableSlots"]["totalCount"] > 0
    assert replies["SearchAvailableSlots"]["searchAvailableSlots"]["totalCount"] > 0
    assert replies["CreateBook"]["createBook"]["status"] == "CONFIRMED"
