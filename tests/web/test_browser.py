"""The console in a real headless Chromium (Debian's), by clicking as the vendor's instructions say.

`cardflow serve` runs in a subprocess on a free port of 127.0.0.1; Playwright drives the system
browser (nothing is downloaded). Each test saves a screenshot in tests/screenshots/ (not in git).
Without /usr/bin/chromium the tests skip loudly, except in CI, where they fail (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import PASSWORD, ROOT, XSS, produce, set_value
from sqlalchemy import Engine

from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import db, queries
from engine.web.console import Console

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "tests" / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--no-first-run"]
ORDER = "CardsAddonExtProdBoProcOrderMultiple"

if not CHROMIUM.exists():
    message = "NO CHROMIUM at /usr/bin/chromium: the browser tests did not run (apt-get install chromium)"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_answering(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"cardflow serve ended: {server.stderr.read().decode() if server.stderr else ''}"
        try:
            with urllib.request.urlopen(f"{url}/login", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("cardflow serve did not answer within 30 s")


@pytest.fixture
def serve(web_workspace: Path, store: Engine, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Start `cardflow serve` over the test store and workspace; the console's base URL."""
    servers: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        port = _free_port()
        database = str(store.url.database)
        command = [str(Path(sys.executable).parent / "cardflow"), "serve", "--port", str(port), "--db", database]
        command += ["--workspace", str(web_workspace), "--orders", str(tmp_path / "orders")]
        environment = {**os.environ, "CARDFLOW_SECRET_KEY": "browser-tests-" + "k" * 32}
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        _wait_until_answering(url, server)
        return url

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser page; CSP violations and script errors fail the test; a screenshot at the end."""
    yield from _opened(browser, request, 1280, 900)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The same in a window as wide as a phone's screen, 390 by 844 CSS pixels."""
    yield from _opened(browser, request, 390, 844)


def _opened(browser: Browser, request: pytest.FixtureRequest, width: int, height: int) -> Iterator[Page]:
    if "serve" in request.fixturenames:  # the console stops after the page closes, not before: a request
        request.getfixturevalue("serve")  # the page makes late (its icon) would find no server and fail the test
    context = browser.new_context(viewport={"width": width, "height": height})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: _note(message, problems))
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("dialog", lambda dialog: problems.append(f"a dialog opened: {dialog.message}"))
    yield opened
    SHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert problems == []


def _note(message: ConsoleMessage, problems: list[str]) -> None:
    """Keep the browser's errors, except the answer to a refused form (a 403 page the test expects)."""
    if message.type == "error" and "status of 403" not in message.text:
        problems.append(message.text)


def log_in(page: Page, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="What do you want to do?")).to_be_visible()


def log_in_speaking(page: Page, url: str, user: str, language: str) -> None:
    """Log in choosing the console's language."""
    page.goto(f"{url}/login")
    page.locator("#user").fill(user)
    page.locator("#password").fill(PASSWORD)
    page.locator("#lang").select_option(language)
    page.locator("form.narrow button").click()
    expect(page.locator("h1")).to_have_count(1)


def cards(store: Engine) -> list[dict[str, Any]]:
    with db.reading(store) as connection:
        return queries.find_cards(connection)


def tick_three_and_confirm(page: Page, process: str) -> None:
    """The vendor's steps 1 to 4: BATCH ORDERS, the process, Search, tick three users, the process's button."""
    page.get_by_role("link", name="Batch orders").first.click()
    expect(page.get_by_role("heading", name="BATCH ORDERS")).to_be_visible()
    page.get_by_role("link", name=process).click()
    page.get_by_role("button", name="Search").click()
    for name in ("Alice Andersson", "Bertil Berg", "Cecilia Carlsson"):
        page.get_by_role("checkbox", name=name).check()
    page.get_by_role("button", name=process).click()
    expect(page.get_by_role("button", name="Next")).to_be_visible()


def test_order_multiple_cards_by_clicking(page: Page, serve: Callable[[], str], store: Engine) -> None:
    """Log in, Batch orders, Order multiple cards, Search, tick three users, Order multiple cards, Next: processing."""
    log_in(page, serve(), "op1")
    tick_three_and_confirm(page, "Order multiple cards")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("td.state", has_text="processing")).to_have_count(3)
    assert sorted((c["user_id"], c["state"]) for c in cards(store)) == [
        ("u01", "processing"),
        ("u02", "processing"),
        ("u03", "processing"),
    ]


def test_request_multiple_cards_by_clicking(page: Page, serve: Callable[[], str], store: Engine) -> None:
    """The same steps for Request multiple cards: the requests are approved (no approval step by default)."""
    log_in(page, serve(), "op1")
    tick_three_and_confirm(page, "Request multiple cards")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("td.state", has_text="approved")).to_have_count(3)
    assert [c["state"] for c in cards(store)] == ["approved"] * 3


def test_cancel_writes_nothing(page: Page, serve: Callable[[], str], store: Engine) -> None:
    """Cancel on the confirmation closes the process: back on BATCH ORDERS, no batch, no card."""
    log_in(page, serve(), "op1")
    tick_three_and_confirm(page, "Order multiple cards")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_have_text("The process was closed; nothing was written.")
    with db.reading(store) as connection:
        assert (queries.list_batches(connection), queries.find_cards(connection)) == ([], [])


def test_select_all_ticks_the_page(page: Page, serve: Callable[[], str]) -> None:
    """The select-all box ticks every user of the page; a name with markup shows as text."""
    log_in(page, serve(), "op1")
    page.goto(page.url.rstrip("/") + f"/batch/{ORDER}?searched=1")
    page.get_by_role("checkbox", name="Select all").check()
    expect(page.locator('input[name="user"]:checked')).to_have_count(12)
    expect(page.get_by_text(XSS, exact=True)).to_be_visible()


def test_an_approver_rejects_one_and_approves_another(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path
) -> None:
    """Requests, a request, Card approval: Reject with a Reason; another: Approved."""
    set_value(web_workspace, "CardsAddonExtProdBatchOrderApproval", "true")
    workspace = load_workspace(web_workspace).require_valid()
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u01", "u02"))), DropFolder(tmp_path / "orders"))
    log_in(page, serve(), "ap1")
    page.get_by_role("link", name="Requests").first.click()
    page.get_by_role("link", name="Request 1").click()
    expect(page.get_by_role("heading", name="Card approval")).to_be_visible()
    page.get_by_role("button", name="Reject").click()  # the browser asks for the required Reason first
    expect(page.locator("textarea#reason:invalid")).to_have_count(1)
    assert [c["state"] for c in cards(store)] == ["requested", "requested"]
    page.get_by_label("Reason").fill("No budget this quarter")
    page.get_by_role("button", name="Reject").click()
    page.get_by_role("link", name="Request 2").click()
    page.get_by_role("button", name="Approved").click()
    expect(page.get_by_role("link", name="Request 2")).to_have_count(0)
    assert [(c["user_id"], c["state"]) for c in cards(store)] == [("u01", "rejected"), ("u02", "processing")]


def test_an_operator_aborts_a_processing_card(page: Page, serve: Callable[[], str], store: Engine, tmp_path: Path) -> None:
    """Cards, state Processing, Search, the card, Abort card order, Next: aborted."""
    workspace = load_workspace(ROOT)
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u04",))), DropFolder(tmp_path / "orders"))
    log_in(page, serve(), "op2")
    page.get_by_role("link", name="Cards").first.click()
    page.get_by_label("State").select_option("processing")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="1", exact=True).click()
    page.get_by_role("button", name="Abort card order").click()
    expect(page.get_by_role("heading", name="Abort card order")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("h1 .state")).to_have_text("aborted")
    assert [c["state"] for c in cards(store)] == ["aborted"]


#: The words of the extended workspace's card process on the page, in each language.
ACTIVATE_WORDS = {
    "en": {"process": "Activate card", "next": "Next", "reason": "Reason", "cancel": "Cancel"},
    "sv": {"process": "Aktivera kort", "next": "Nästa", "reason": "Anledning", "cancel": "Avbryt"},
}


@pytest.mark.parametrize("language", ["en", "sv"])
def test_an_operator_activates_a_produced_card_from_its_page(
    page: Page, serve: Callable[[], str], store: Engine, extended_web_workspace: Path, tmp_path: Path, language: str
) -> None:
    """A process the code has never heard of: "What do you want to do?", Activate card, the produced card,
    its Activate card button, the step (Cancel changes nothing), a Reason, Next: the card is active."""
    workspace = load_workspace(extended_web_workspace).require_valid()
    produce(Console(workspace, store, DropFolder(tmp_path / "orders")), ordered=("u01", "u02"), produced=("u01",))
    words = ACTIVATE_WORDS[language]
    log_in_speaking(page, serve(), "op1", language)
    page.screenshot(path=str(SHOTS / f"home-processes-{language}.png"), full_page=True)
    page.get_by_role("link", name=words["process"], exact=True).click()
    page.get_by_role("link", name="1", exact=True).click()
    expect(page.get_by_role("button", name=words["process"])).to_be_visible()
    page.screenshot(path=str(SHOTS / f"card-page-process-buttons-{language}.png"), full_page=True)
    page.get_by_role("button", name=words["process"]).click()
    page.get_by_role("button", name=words["cancel"]).click()
    expect(page.locator("h1 .state")).to_have_text("produced")
    page.get_by_role("button", name=words["process"]).click()
    page.get_by_label(words["reason"]).fill("Handed over at the desk")
    page.screenshot(path=str(SHOTS / f"card-step-{language}.png"), full_page=True)
    page.get_by_role("button", name=words["next"]).click()
    expect(page.locator("h1 .state")).to_have_text("active")
    expect(page.get_by_role("button", name=words["process"], exact=True)).to_have_count(0)  # "Deactivate card" is offered
    assert [(c["user_id"], c["state"]) for c in cards(store)] == [("u01", "active"), ("u02", "ordered")]


#: The words of the extended workspace's batch order over cards, in each language.
ACTIVATE_MANY_WORDS = {
    "en": {"orders": "Batch orders", "process": "Activate multiple cards", "search": "Search", "next": "Next"},
    "sv": {"orders": "Batchbeställningar", "process": "Aktivera flera kort", "search": "Sök", "next": "Nästa"},
}


@pytest.mark.parametrize("language", ["en", "sv"])
def test_an_operator_activates_ticked_cards_as_a_batch_order(
    page: Page, serve: Callable[[], str], store: Engine, extended_web_workspace: Path, tmp_path: Path, language: str
) -> None:
    """BATCH ORDERS, Activate multiple cards, Search, tick two produced cards and an ordered one, the
    process's button: the confirmation says two done, one refused; Next: two cards are active."""
    workspace = load_workspace(extended_web_workspace).require_valid()
    produced = ("u01", "u02")
    produce(Console(workspace, store, DropFolder(tmp_path / "orders")), ordered=(*produced, "u03"), produced=produced)
    words = ACTIVATE_MANY_WORDS[language]
    log_in_speaking(page, serve(), "op1", language)
    page.get_by_role("link", name=words["orders"]).first.click()
    page.get_by_role("link", name=words["process"]).click()
    page.get_by_role("button", name=words["search"], exact=True).click()
    for name in ("Alice Andersson", "Bertil Berg", "Cecilia Carlsson"):
        page.get_by_role("checkbox", name=name).check()
    page.screenshot(path=str(SHOTS / f"batch-over-cards-search-{language}.png"), full_page=True)
    page.get_by_role("button", name=words["process"]).click()
    expect(page.locator("table.plan tr.done")).to_have_count(2)
    expect(page.locator("table.plan tr.refused")).to_have_count(1)
    page.screenshot(path=str(SHOTS / f"batch-over-cards-confirm-{language}.png"), full_page=True)
    assert [c["state"] for c in cards(store)] == ["produced", "produced", "ordered"]
    page.get_by_role("button", name=words["next"]).click()
    expect(page.locator("td.state", has_text="active")).to_have_count(2)
    assert [c["state"] for c in cards(store)] == ["active", "active", "ordered"]


def test_the_process_graph_is_drawn(page: Page, serve: Callable[[], str]) -> None:
    """Mermaid (served by the console, under its CSP) draws the compiled machine as SVG."""
    log_in(page, serve(), "adm")
    page.get_by_role("link", name="Process graph").first.click()
    page.get_by_role("link", name="Order multiple cards").click()
    expect(page.locator("body[data-graph=drawn]")).to_have_count(1)
    expect(page.locator("pre.mermaid svg")).to_have_count(1)


def test_a_cards_page_draws_its_path(page: Page, serve: Callable[[], str], store: Engine, tmp_path: Path) -> None:
    """The card's page: its path on the process graph (its state marked current, those it passed
    through visited) and its story as a timeline whose last entry is open on its decision trace."""
    workspace = load_workspace(ROOT)
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u04",))), DropFolder(tmp_path / "orders"))
    log_in(page, serve(), "op2")
    page.goto(page.url.rsplit("/", 1)[0] + "/cards/1")
    expect(page.locator("body[data-graph=drawn]")).to_have_count(1)
    expect(page.locator("#path svg g.current")).to_have_count(1)
    expect(page.locator("#path svg g.current")).to_contain_text("processing")
    expect(page.locator("#path svg g.visited")).to_have_count(1)
    expect(page.locator("ol.timeline details[open]")).to_contain_text("Taken: to 'processing'")
    page.screenshot(path=str(SHOTS / "card-path-en.png"), full_page=True)


def test_the_api_documentation_is_drawn(page: Page, serve: Callable[[], str]) -> None:
    """Swagger UI (served by the console, under its CSP) shows the API's routes."""
    page.goto(f"{serve()}/api/docs")
    expect(page.get_by_text("/api/run", exact=True)).to_be_visible()


def test_every_user_found_runs_as_a_batch(page: Page, serve: Callable[[], str], store: Engine) -> None:
    """The choice "All users found by the search", the button, Next: the batch page ends with every card."""
    log_in(page, serve(), "op1")
    page.goto(page.url.rstrip("/") + f"/batch/{ORDER}")
    page.get_by_label("Department").fill("Sales")
    page.get_by_label("State").select_option("active")
    page.get_by_role("button", name="Search").click()
    page.get_by_label("All 3 users found by the search").check()
    page.get_by_role("button", name="Order multiple cards").click()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("td.state", has_text="processing")).to_have_count(3, timeout=20_000)
    assert sorted(c["user_id"] for c in cards(store)) == ["u01", "u02", "u03"]


PHONE_PAGES = (
    "/",
    "/batch",
    f"/batch/{ORDER}?searched=1",
    "/requests",
    "/requests/1",
    "/cards",
    "/cards/1",
    "/cards/1/process/CardsBoProcDecideRequest",
    "/outbox",
    "/batches",
    "/options",
    "/graph",
    f"/graph/{ORDER}",
)
#: How far the page reaches past the window's right edge (0: no sideways scroll of the whole page).
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _requests(store: Engine, web_workspace: Path, tmp_path: Path) -> None:
    """Two open requests of op1's (the approval step on), so every page has rows to show."""
    set_value(web_workspace, "CardsAddonExtProdBatchOrderApproval", "true")
    workspace = load_workspace(web_workspace).require_valid()
    run_batch(workspace, store, RunRequest(ORDER, "op1", Selection(users=("u01", "u06"))), DropFolder(tmp_path / "orders"))


@pytest.mark.parametrize("language", ["en", "sv"])
def test_no_page_scrolls_sideways_on_a_phone(
    phone: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, language: str
) -> None:
    """At 390 by 844, in either language, no page (log-in, every page of an approver and operator, the
    confirmation, the batch) is wider than the screen: a wide table scrolls in its own box."""
    _requests(store, web_workspace, tmp_path)
    url = serve()
    phone.goto(f"{url}/login")
    wider = {"/login": phone.evaluate(OVERFLOW)}
    phone.locator("#user").fill("ap2")
    phone.locator("#password").fill(PASSWORD)
    phone.locator("#lang").select_option(language)
    phone.locator("form.narrow button").click()
    expect(phone.locator("h1")).to_have_count(1)
    for path in PHONE_PAGES:
        phone.goto(url + path)
        if path.startswith("/graph/"):
            expect(phone.locator("body[data-graph=drawn]")).to_have_count(1)
        wider[path] = phone.evaluate(OVERFLOW)
        name = path.strip("/").split("?")[0].replace("/", "-") or "home"
        phone.screenshot(path=str(SHOTS / f"phone-{language}-{name}.png"), full_page=True)
    phone.goto(f"{url}/batch/{ORDER}?searched=1")
    phone.locator('input[name="user"][value="u03"]').check()
    phone.locator("#selection button.primary").click()
    expect(phone.locator(".steps button.primary")).to_be_visible()
    wider["confirmation"] = phone.evaluate(OVERFLOW)
    phone.locator(".steps button.primary").click()
    expect(phone.locator("td.state", has_text="requested")).to_have_count(1)
    wider["batch"] = phone.evaluate(OVERFLOW)
    assert {path: px for path, px in wider.items() if px > 0} == {}


def test_the_menu_folds_on_a_phone(phone: Page, serve: Callable[[], str]) -> None:
    """On a phone the menu is folded under "Menu"; opening it shows the links."""
    log_in(phone, serve(), "op1")
    menu = phone.get_by_role("navigation", name="Main")
    expect(menu).to_be_hidden()
    phone.get_by_text("Menu", exact=True).click()
    expect(menu.get_by_role("link", name="Batch orders")).to_be_visible()


def test_labels_sit_by_their_fields_on_a_phone(phone: Page, serve: Callable[[], str]) -> None:
    """On a phone each search field's label sits right above it, at its left edge."""
    log_in(phone, serve(), "op1")
    phone.goto(phone.url.rstrip("/") + f"/batch/{ORDER}")
    gaps = []
    for name in ("Name", "Department", "State"):
        label = phone.locator("form.search label", has_text=name).bounding_box()
        field = phone.get_by_label(name).bounding_box()
        assert label and field
        gaps.append((name, round(field["y"] - (label["y"] + label["height"])), round(field["x"] - label["x"])))
    assert [(name, 0 <= below <= 8, left) for name, below, left in gaps] == [
        (n, True, 0) for n in ("Name", "Department", "State")
    ]


def test_the_keyboard_skips_to_the_content_and_lands_on_the_results(page: Page, serve: Callable[[], str]) -> None:
    """The first Tab reaches "Skip to the content", which moves the focus to the page's content;
    after Search the focus is on the results."""
    log_in(page, serve(), "op1")
    page.goto(page.url.rstrip("/") + f"/batch/{ORDER}")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.get_by_label("Department").fill("Sales")
    page.get_by_label("Department").press("Enter")
    expect(page.get_by_role("region", name="Search results")).to_be_focused()
