"""The Releases page in a real headless Chromium: the admin who published a release sees its plan
and cannot approve it; a second admin approves it and it is live. The fixtures `browser`, `page` and
`serve` are test_browser.py's. Screenshots: tests/screenshots/releases-pending-en.png, releases-approved-en.png."""

from __future__ import annotations

from pathlib import Path

from release_helpers import waiting_release
from sqlalchemy import Engine
from test_browser import SHOTS, browser, log_in, page, serve

from playwright.sync_api import Page, expect  # isort: skip (after test_browser, which skips without Chromium)

__all__ = ["browser", "page", "serve"]  # the fixtures, imported for pytest


def test_a_second_admin_approves_the_release_its_publisher_cannot(
    web_workspace: Path, store: Engine, tmp_path: Path, page: Page, serve: object
) -> None:
    first, waiting = waiting_release(web_workspace, store, tmp_path)
    url = serve()  # type: ignore[operator]
    log_in(page, url, "adm")
    page.get_by_role("link", name="Releases", exact=True).click()
    pending = page.locator(f"#release-{waiting}")
    expect(pending).to_have_attribute("data-status", "pending")
    expect(pending.locator(".plan")).to_contain_text("CardsAddonExtProdQueue")
    expect(pending.locator(".plan")).to_contain_text("true (default)")
    expect(pending).to_contain_text("You asked for this release to go live: another admin approves it.")
    expect(pending.get_by_role("button", name="Approve")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "releases-pending-en.png"), full_page=True)
    page.get_by_role("button", name="Log out").click()
    log_in(page, url, "ad2")
    page.goto(f"{url}/releases")
    page.locator(f"#release-{waiting}").get_by_role("button", name="Approve").click()
    expect(page.locator(".flash")).to_have_text(f"Release {waiting} is live.")
    expect(page.locator(f"#release-{waiting}")).to_have_attribute("data-status", "live")
    expect(page.locator(f"#release-{first}").get_by_role("button", name="Make it live again")).to_be_visible()
    page.screenshot(path=str(SHOTS / "releases-approved-en.png"), full_page=True)
