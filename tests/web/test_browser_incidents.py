"""The Incidents page in a real headless Chromium, after the card bureau failed two orders and the
mail server refused the holders' emails: the groups with their counts, and a group's cards one click
away. The fixtures `browser`, `page` and `serve` are test_browser.py's. Screenshot: tests/screenshots/incidents-en.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from console_helpers import set_value
from smtp_server import SmtpServer
from sqlalchemy import Engine
from test_browser import SHOTS, browser, log_in, page, serve

from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.status import sync_order_status
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.outbound.delivery import send_outbox, transport_for

from playwright.sync_api import Page, expect  # isort: skip (after test_browser, which skips without Chromium)

__all__ = ["browser", "page", "serve"]  # the fixtures, imported for pytest

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


@pytest.fixture
def troubled(web_workspace: Path, store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cards ordered at once (the queue off); the bureau fails two of them for one reason; the
    mail server refuses the three holders' "card ordered" emails."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    workspace = load_workspace(web_workspace).require_valid()
    orders = DropFolder(tmp_path / "orders")
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u01", "u02", "u03"))), orders)
    (orders.folder / "status").mkdir()
    for path in sorted(orders.folder.glob("*.json"))[:2]:
        (orders.folder / "status" / path.name).write_text(json.dumps({"status": "failed", "reason": "no such layout"}))
    sync_order_status(workspace, store, orders)
    with SmtpServer() as server:
        server.refuse.update({"u01@example.com", "u02@example.com", "u03@example.com"})
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        send_outbox(store, transport_for(None))


def test_the_incidents_page_shows_what_the_outages_left(troubled: None, page: Page, serve: object) -> None:
    url = serve()  # type: ignore[operator]
    log_in(page, url, "op1")
    page.get_by_role("link", name="Incidents", exact=True).click()
    expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    cards = page.locator('article[data-kind="cards"]')
    expect(cards.locator("h2")).to_have_text("2 · Cards that need a person")
    expect(cards).to_contain_text("the card bureau reports the order failed: no such layout")
    expect(cards).to_contain_text("cardflow retry CARD... --as YOU")
    expect(page.locator('article[data-kind="emails"] h2')).to_have_text("3 · Emails not delivered")
    page.screenshot(path=str(SHOTS / "incidents-en.png"), full_page=True)
    cards.get_by_role("link", name="Show them").click()
    expect(page.locator("td.state")).to_have_count(2)


@pytest.fixture
def outage(web_workspace: Path, store: Engine, tmp_path: Path) -> None:
    """Three cards ordered at once (the queue off); the bureau fails two while it is unavailable and
    the third for its layout."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    workspace = load_workspace(web_workspace).require_valid()
    orders = DropFolder(tmp_path / "orders")
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u01", "u02", "u03"))), orders)
    (orders.folder / "status").mkdir()
    for path in sorted(orders.folder.glob("*.json")):
        why = "no such layout" if ".u03." in path.name else "bureau unavailable"
        (orders.folder / "status" / path.name).write_text(json.dumps({"status": "failed", "reason": why}))
    sync_order_status(workspace, store, orders)


def test_a_bulk_retry_from_the_incidents_page_empties_its_group(outage: None, page: Page, serve: object) -> None:
    """The outage's group offers Retry card order over its cards: the preview counts two, Next runs
    them as a batch, and the group is gone; the layout's card still needs a person. Screenshot:
    tests/screenshots/bulk-retry-en.png (the preview)."""
    url = serve()  # type: ignore[operator]
    log_in(page, url, "op1")
    page.get_by_role("link", name="Incidents", exact=True).click()
    outage_group = page.locator('article[data-kind="cards"]', has_text="bureau unavailable")
    expect(outage_group.locator("h2")).to_have_text("2 · Cards that need a person")
    outage_group.get_by_role("link", name="Retry card order").click()
    expect(page.locator("p.summary")).to_contain_text("done: 2")
    expect(page.locator("table.plan tbody tr")).to_have_count(2)
    page.screenshot(path=str(SHOTS / "bulk-retry-en.png"), full_page=True)
    page.get_by_role("button", name="Next").first.click()
    expect(page.locator("p.summary")).to_contain_text("done: 2", timeout=30_000)
    expect(page.locator("p.summary")).to_contain_text("complete")
    page.get_by_role("link", name="Incidents", exact=True).click()
    groups = page.locator('article[data-kind="cards"]')
    expect(groups).to_have_count(1)
    expect(groups).to_contain_text("no such layout")
    expect(groups.locator("h2")).to_have_text("1 · Cards that need a person")


def test_the_cards_page_saves_a_view_and_offers_the_bulk_actions(outage: None, page: Page, serve: object) -> None:
    """Failed cards found on the Cards page: saved as a view of one's own, opened again in one click,
    and the actions over all of them offered. Screenshot: tests/screenshots/cards-views-en.png."""
    log_in(page, serve(), "op1")  # type: ignore[operator]
    page.get_by_role("link", name="Cards").first.click()
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Search").click()
    page.get_by_label("View name").fill("Failed orders")
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("heading", name="Act on all 3 cards found")).to_be_visible()
    page.screenshot(path=str(SHOTS / "cards-views-en.png"), full_page=True)
    page.get_by_role("link", name="Cards").first.click()
    expect(page.locator("td.state")).to_have_count(3)
    page.get_by_role("link", name="Failed orders").click()
    expect(page.get_by_label("State")).to_have_value("failed")
    page.get_by_label("Action").select_option(label="Retry card order")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("p.summary")).to_contain_text("done: 3")
