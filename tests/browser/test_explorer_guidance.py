"""GraphiQL tells a newcomer what is going on: a refused token, a subscription waiting for a
change; its tabs and Docs search fit the window, and the booking example is valid as shown.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import IN_CI, LiveServer, Offline

if not IN_CI:
    pytest.importorskip("playwright", reason="playwright is not installed")
from playwright.async_api import expect

from tests.factories import Factory, future

DOCS_BUTTON = ".graphiql-sidebar button[aria-label='Show Documentation Explorer']"


async def _open_with_token(page: Any, live_server: LiveServer, token: str) -> None:
    await page.goto(f"{live_server.url}/graphql#token={token}")
    await expect(page.locator(".graphiql-container")).to_be_visible()


async def _schema_loaded(page: Any) -> None:
    """Completion and validation need the schema: wait until the Docs show it."""
    await page.click(DOCS_BUTTON)
    await expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Mutation")


async def test_a_refused_token_says_what_to_do(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    """A restarted demo revokes the token a tab still holds: the answer is a 200 with
    UNAUTHENTICATED, and the page says so instead of a green "token set"."""
    from models.platform.users import revoke_token

    stale = await seed.token(role="admin")
    await revoke_token(seed.session, token=stale)
    page = offline_page.page
    await _open_with_token(page, live_server, stale)
    await page.click(".graphiql-execute-button")

    await expect(page.locator(".result-window")).to_contain_text("UNAUTHENTICATED")
    await expect(page.locator("#token-state")).to_have_text("token refused")
    help_text = page.locator("#token-help")
    await expect(help_text).to_be_visible()
    await expect(help_text).to_contain_text("revoked")
    await expect(help_text).to_contain_text("serve --demo")
    await expect(help_text).to_contain_text("create-user --role admin")
    await offline_page.screenshot("graphiql-token-refused.png")

    # A good token clears the warning and runs.
    fresh = await seed.token(role="admin")
    await page.fill("#admin-token", fresh)
    await page.press("#admin-token", "Enter")
    await expect(page.locator("#token-state")).to_have_text("token set")
    await expect(help_text).to_be_hidden()
    await page.click(".graphiql-execute-button")
    await expect(page.locator(".result-window")).to_contain_text('"totalCount"')
    await expect(help_text).to_be_hidden()
    assert offline_page.blocked == []


@pytest.mark.parametrize("width", [1280, 1440])
async def test_the_example_tabs_fit_the_window(
    live_server: LiveServer, seed: Factory, offline_page: Offline, width: int
) -> None:
    token = await seed.token(role="admin")
    page = offline_page.page
    await page.set_viewport_size({"width": width, "height": 800})
    await _open_with_token(page, live_server, token)
    tabs = page.locator(".graphiql-tab")
    await expect(tabs).to_have_count(7)
    await expect(tabs.last).to_contain_text("WatchAvailability")

    geometry = await page.evaluate(
        """() => {
            const list = document.querySelector('.graphiql-tabs');
            const box = list.getBoundingClientRect();
            return {
                scroll: list.scrollWidth, client: list.clientWidth, right: box.right,
                tabs: [...list.querySelectorAll('.graphiql-tab')].map(
                    (tab) => tab.getBoundingClientRect().right),
                add: list.querySelector('.graphiql-tab-add').getBoundingClientRect().right,
            };
        }"""
    )
    await offline_page.screenshot(f"graphiql-tabs-{width}.png")
    assert geometry["scroll"] <= geometry["client"], geometry
    for right in [*geometry["tabs"], geometry["add"]]:
        assert right <= geometry["right"] + 0.5, geometry
        assert right <= width, geometry
    assert offline_page.problems == []


async def test_the_docs_search_box_leaves_the_title_readable(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    token = await seed.token(role="admin")
    page = offline_page.page
    await page.set_viewport_size({"width": 1280, "height": 800})
    await _open_with_token(page, live_server, token)
    await _schema_loaded(page)
    # A long type name fills the title's width.
    await page.click(".graphiql-doc-explorer-content a:has-text('AvailableSlotConnection')")
    title = page.locator(".graphiql-doc-explorer-title")
    await expect(title).to_have_text("AvailableSlotConnection")

    title_box = await title.bounding_box()
    search_box = await page.locator(".graphiql-doc-explorer-search").bounding_box()
    await offline_page.screenshot("graphiql-docs-search.png")
    assert title_box is not None and search_box is not None
    overlap_x = min(
        title_box["x"] + title_box["width"], search_box["x"] + search_box["width"]
    ) - max(title_box["x"], search_box["x"])
    overlap_y = min(
        title_box["y"] + title_box["height"], search_box["y"] + search_box["height"]
    ) - max(title_box["y"], search_box["y"])
    assert overlap_x <= 0 or overlap_y <= 0, (title_box, search_box)
    assert offline_page.problems == []


async def _error_marks(page: Any) -> int:
    count: int = await page.locator(".CodeMirror-lint-mark-error").count()
    return count


async def test_the_booking_example_is_valid_as_shown(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    """No red squiggle (overrideRules is a required field with a default)."""
    provider = await seed.provider()
    await seed.slot(provider, start=future(48))
    await seed.patient()
    token = await seed.token(role="admin")
    page = offline_page.page
    await _open_with_token(page, live_server, token)
    await _schema_loaded(page)
    await page.click(".graphiql-sidebar button[aria-label='Show Examples']")
    await page.click("[data-example=CreateBook]")
    await expect(page.locator(".graphiql-tab-active")).to_contain_text("CreateBook")
    variables = page.locator(".graphiql-editor-tool .CodeMirror").first
    await expect(variables).to_contain_text("overrideRules")
    await page.wait_for_timeout(1500)  # the editors lint after a pause
    await offline_page.screenshot("graphiql-book-example.png")
    assert await _error_marks(page) == 0

    # The same check sees a squiggle where there is one: a required field left out.
    await page.evaluate(
        """() => document.querySelector('.graphiql-editor-tool .CodeMirror')
            .CodeMirror.setValue('{"input": {"availableSlotId": 1}}')"""
    )
    await expect(page.locator(".CodeMirror-lint-mark-error").first).to_be_attached()


async def test_a_subscription_says_it_waits_for_a_change(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    provider = await seed.provider()
    token = await seed.token(role="admin")
    page = offline_page.page
    await _open_with_token(page, live_server, token)
    await page.click("[data-example=WatchAvailability]")
    await expect(page.locator(".graphiql-tab-active")).to_contain_text("WatchAvailability")
    await page.evaluate(
        f"""() => document.querySelector('.graphiql-editor-tool .CodeMirror')
            .CodeMirror.setValue('{{"providerId": {provider.id}}}')"""
    )
    hint = page.locator("#live-hint")
    await expect(hint).to_be_hidden()
    await page.click(".graphiql-execute-button")

    await expect(hint).to_be_visible()
    await expect(hint).to_contain_text("waiting for a change")
    await offline_page.screenshot("graphiql-subscription-waiting.png")

    await seed.slot(provider, start=future(72))
    await expect(page.locator(".result-window")).to_contain_text("eventId", timeout=20_000)
    await expect(hint).to_be_hidden()
    assert offline_page.blocked == []


async def test_a_run_right_after_switching_tabs_runs_the_new_tab(
    live_server: LiveServer, seed: Factory, offline_page: Offline
) -> None:
    """GraphiQL learns a tab's operation name a moment after the switch: a Run inside that
    moment carried the previous tab's name, and the subscription went out over HTTP and was
    refused ("The operation name matches no operation of the document")."""
    token = await seed.token(role="admin")
    page = offline_page.page
    posted: list[str] = []
    page.on("request", lambda request: _keep_post(request, posted))
    await _open_with_token(page, live_server, token)
    await expect(page.locator("[data-example=WatchAvailability]")).to_be_visible()
    await page.evaluate(
        """() => {
            document.querySelector('[data-example=WatchAvailability]').click();
            setTimeout(() => document.querySelector('.graphiql-execute-button').click(), 30);
        }"""
    )
    hint = page.locator("#live-hint")
    await expect(hint).to_be_visible()
    await expect(hint).to_contain_text("waiting for a change")
    assert not [body for body in posted if "WatchAvailability" in body]
    assert "matches no operation" not in await page.locator(".result-window").inner_text()


def _keep_post(request: Any, posted: list[str]) -> None:
    if request.method == "POST" and request.post_data:
        posted.append(request.post_data)
