"""GraphiQL and the REST reference, loaded by a real browser with no network but loopback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import IN_CI, LiveServer, Offline

if not IN_CI:
    pytest.importorskip("playwright", reason="playwright is not installed")
from playwright.async_api import expect

from tests.factories import Factory, future, iso

TOKEN_KEY = "clinic-availability.admin-token"


def assert_offline_and_clean(offline: Offline) -> None:
    assert offline.blocked == [], f"the page tried to leave the server: {offline.blocked}"
    assert offline.problems == [], offline.problems


async def test_graphiql_runs_a_query_with_the_token_field(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    provider = await seed.provider(first_name="Dr. Jane", last_name="Smith")
    start = future(48)
    slot = await seed.slot(provider, start=start, appointment_type="therapy")
    token = await seed.token(role="admin")
    page = offline_page.page
    sent_tokens: list[str | None] = []
    page.on(
        "request",
        lambda request: (
            sent_tokens.append(request.headers.get("x-user-token"))
            if request.method == "POST" and request.url.endswith("/graphql")
            else None
        ),
    )

    await page.goto(f"{live_server.url}/graphql")
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await expect(page.locator("[data-example=ListAvailableSlots]")).to_be_visible()
    await page.fill("#admin-token", token)
    await page.press("#admin-token", "Enter")
    await expect(page.locator("#token-state")).to_have_text("token set")
    await page.click("[data-example=ListAvailableSlots]")
    await page.click(".graphiql-execute-button")

    result = page.locator(".result-window")
    await expect(result).to_contain_text('"totalCount": 1')
    await expect(result).to_contain_text(f'"id": {slot.id}')
    await expect(result).to_contain_text(f'"startTime": "{iso(start)}"')
    await expect(result).to_contain_text('"appointmentType": "therapy"')
    await expect(result).to_contain_text('"lastName": "Smith"')
    await offline_page.screenshot("graphiql.png")

    assert token in sent_tokens
    assert await page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") == token
    assert_offline_and_clean(offline_page)


async def test_graphiql_without_a_token_shows_the_authentication_error(
    live_server: LiveServer, offline_page: Offline
) -> None:
    page = offline_page.page
    await page.goto(f"{live_server.url}/graphql")
    await expect(page.locator("#token-state")).to_contain_text("no token")
    await page.click("[data-example=ListAvailableSlots]")
    await page.click(".graphiql-execute-button")
    await expect(page.locator(".result-window")).to_contain_text("UNAUTHENTICATED")
    assert_offline_and_clean(offline_page)


async def test_graphiql_loads_the_schema_only_once_a_token_is_entered(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    """Introspection is for admins: no schema request without a token, one with it."""
    token = await seed.token(role="admin")
    page = offline_page.page
    introspections: list[str | None] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/graphql"):
            if "__schema" in (request.post_data or ""):
                introspections.append(request.headers.get("x-user-token"))

    page.on("request", record)
    await page.goto(f"{live_server.url}/graphql")
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await expect(page.locator("#token-state")).to_contain_text("no token")
    await page.wait_for_load_state("networkidle")
    assert introspections == []

    await page.fill("#admin-token", token)
    await page.press("#admin-token", "Enter")
    await page.click(".graphiql-sidebar button[aria-label='Show Documentation Explorer']")
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Mutation")
    assert introspections == [token]
    assert_offline_and_clean(offline_page)


def documented_operations(app: Any) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return [
        (method, path)
        for path, item in paths.items()
        if path.startswith("/v1/admin/clinic/availability")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


async def test_rest_reference_lists_every_documented_route(
    live_server: LiveServer, offline_page: Offline
) -> None:
    operations = documented_operations(live_server.app)
    assert ("post", "/v1/admin/clinic/availability/available_slots") in operations
    page = offline_page.page

    await page.goto(f"{live_server.url}/docs", wait_until="load")
    # Drawn by the time the load event fires: no spinner, every route already there.
    assert await page.locator(".swagger-ui .loading-container").count() == 0
    assert await page.locator(".opblock-summary-path").count() >= len(operations)
    await offline_page.screenshot("rest-reference-at-load.png")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Clinic Availability Admin API"
    )
    await expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()
    for method, path in operations:
        block = page.locator(f".opblock-{method} .opblock-summary-path[data-path='{path}']")
        await expect(block).to_have_count(1)
    await offline_page.screenshot("rest-reference.png")
    assert_offline_and_clean(offline_page)


async def test_a_first_visit_through_the_demo_address_runs_the_first_tab(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    """What `serve --demo` prints: the GraphiQL address with the token in its fragment."""
    from clinic_availability.demo import prepare_demo

    report = await prepare_demo(seed.session)
    page = offline_page.page
    sent: list[tuple[str | None, Any]] = []
    page.on(
        "request",
        lambda request: (
            sent.append((request.headers.get("x-user-token"), request.post_data_json))
            if request.method == "POST" and request.url.endswith("/graphql")
            else None
        ),
    )

    await page.goto(f"{live_server.url}/graphql#token={report.token}")
    await expect(page.locator("#token-state")).to_have_text("token set")
    # The fragment is taken off the address once read.
    await expect(page).to_have_url(f"{live_server.url}/graphql")
    await page.click(".graphiql-execute-button")

    result = page.locator(".result-window")
    await expect(result).to_contain_text('"totalCount"')
    await expect(result).to_contain_text('"firstName": "Dr. Jane"')
    await offline_page.screenshot("graphiql-first-visit.png")
    runs = [body for token, body in sent if body and body.get("operationName")]
    assert runs and runs[-1]["operationName"] == "ListAvailableSlots"
    assert runs[-1]["variables"]["filter"]["providerId"] == 1
    assert all(token == report.token for token, _body in sent)

    # An example opens in its own tab; the tab being worked on is left as it is.
    await page.click("[data-example=CreateBook]")
    await expect(page.locator(".graphiql-tab-active")).to_contain_text("CreateBook")
    await page.click("[data-example=ListAvailableSlots]")
    await expect(page.locator(".graphiql-tab-active")).to_contain_text("ListAvailableSlots")
    assert_offline_and_clean(offline_page)
