"""/docs as a newcomer reads it: the documented routes first, one type per parameter,
examples the demo answers, and the FHIR routes. Screenshot in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.browser.conftest import IN_CI, LiveServer, Offline

if not IN_CI:
    pytest.importorskip("playwright", reason="playwright is not installed")
from playwright.async_api import expect

from tests.factories import SLOTS


async def test_the_slot_list_reads_plainly(live_server: LiveServer, offline_page: Offline) -> None:
    page = offline_page.page
    await page.goto(f"{live_server.url}/docs", wait_until="load")
    sections = page.locator(".swagger-ui .opblock-tag-section .opblock-tag")
    await expect(sections.first).to_contain_text("Available slots")
    await expect(sections.nth(1)).to_contain_text("Provider available slots")
    await expect(sections.nth(2)).to_contain_text("Books")
    await expect(page.locator(".swagger-ui .opblock-tag", has_text="FHIR")).to_have_count(1)

    await page.click(f".opblock-get .opblock-summary-path[data-path='{SLOTS}']")
    types = page.locator(".opblock.is-open .parameters .parameter__type")
    await expect(types.first).to_be_visible()
    shown = [text.strip() for text in await types.all_inner_texts()]
    await offline_page.screenshot("rest-reference-slot-list.png")
    assert shown, "no parameter types drawn"
    assert all("null" not in text and "|" not in text for text in shown), shown
    names = await page.locator(".opblock.is-open .parameters .parameter__name").all_inner_texts()
    assert any(name.startswith("appointment_type") for name in names), names
    today = datetime.now(UTC).date().isoformat()
    await expect(page.locator(".opblock.is-open .parameters")).to_contain_text(today)
    assert offline_page.blocked == []
    assert offline_page.problems == []
