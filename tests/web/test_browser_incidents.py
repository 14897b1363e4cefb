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
