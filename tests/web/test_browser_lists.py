"""Paging through 20,000 cards in a real headless Chromium: the Cards page's place and total, Next,
Last and Previous, a filter that narrows the total and is kept from page to page. The fixtures
`browser`, `page` and `serve` are test_browser.py's. Screenshot: tests/screenshots/cards-paged-en.png.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert
from test_browser import SHOTS, browser, log_in, page, serve

from engine.store import db

from playwright.sync_api import Page, expect  # isort: skip (after test_browser, which skips without Chromium)

__all__ = ["browser", "page", "serve"]  # the fixtures, imported for pytest

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
CARDS = 20_000


@pytest.fixture
def crowded(store: Engine) -> None:
    """20,000 cards, every fourth of them failed, moved on days 1 to 28 of November."""
    rows = [
        {
            "user_id": f"u{n:05d}",
            "process": ORDER,
            "state": "failed" if n % 4 == 0 else "processing",
            "open": n % 4 != 0,
            "requester": "op1",
            "batch_id": f"B{n // 1000:02d}",
            "created_at": "2026-11-01T08:00:00Z",
            "updated_at": f"2026-11-{n % 28 + 1:02d}T12:00:00Z",
        }
        for n in range(CARDS)
    ]
    with store.begin() as connection:
        connection.execute(insert(db.cards), rows)


def test_an_operator_pages_through_twenty_thousand_cards(crowded: None, page: Page, serve: object) -> None:
    log_in(page, serve(), "op2")  # type: ignore[operator]
    page.get_by_role("link", name="Cards").first.click()
    page.get_by_role("button", name="Search").click()
    place = page.locator(".pages .count").first
    expect(place).to_have_text("1–50 of 20000")
    expect(page.locator("table.cards tbody tr")).to_have_count(50)
    page.get_by_role("link", name="Next page ›").first.click()
    expect(place).to_have_text("51–100 of 20000")
    expect(page.locator("table.cards tbody tr").first.locator("td").first).to_have_text("51")
    page.get_by_role("link", name="Last page »").first.click()
    expect(place).to_have_text("19951–20000 of 20000")
    expect(page.locator("table.cards tbody tr").last.locator("td").first).to_have_text("20000")
    expect(page.get_by_role("link", name="Next page ›")).to_have_count(0)
    page.get_by_role("link", name="‹ Previous page").first.click()
    expect(place).to_have_text("19901–19950 of 20000")
    page.get_by_label("State").select_option("failed")
    page.get_by_label("Order").select_option("newest")
    page.get_by_role("button", name="Search").click()
    expect(place).to_have_text("1–50 of 5000")
    expect(page.locator("table.cards tbody tr").first.locator("td").first).to_have_text("19997")
    page.get_by_role("link", name="Next page ›").first.click()
    expect(place).to_have_text("51–100 of 5000")
    expect(page.locator("table.cards tbody tr").first.locator("td").first).to_have_text("19797")
    page.screenshot(path=str(SHOTS / "cards-paged-en.png"), full_page=True)
