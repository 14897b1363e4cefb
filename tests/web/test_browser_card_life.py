"""The card in use in a real headless Chromium, by the vendor's console steps: Activate card,
Deactivate card (at once, and with the approval step decided on "Card approval", four-eyes), Lock
card (its reason required), and the batch order Issue multiple cards, which prints each ticked card
on the printer connector (connectors.yaml: a print job a card in the folder $CARDFLOW_PRINT_JOBS).

The cards are brought to the state a test starts from through the engine (a batch request, approved
at once under the shipped options, then `act`), as an operator would have; the browser does the rest.
The fixtures `browser`, `page` and `serve` are test_browser.py's (imported, so pytest finds them here).
Screenshots: tests/screenshots/card-life-*.png.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from console_helpers import set_value
from sqlalchemy import Engine
from test_browser import SHOTS, browser, cards, log_in, log_in_speaking, page, serve

from engine.batch.actions import act
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import db, queries

from playwright.sync_api import Page, expect  # isort: skip (after test_browser, which skips without Chromium)

__all__ = ["browser", "page", "serve"]  # the fixtures, imported for pytest

REQUEST = "CardsBoProcRequestMulitple"
#: The action process each trigger of the setup goes through, as an operator's would.
THROUGH = {"issue": "CardsProcIssue", "activate": "CardsProcActivate"}
#: The moment the console and the engine take for now: the validity is three years on from its day.
NOW, VALID_UNTIL = "2026-03-16T09:00:00Z", "2029-03-16"


@pytest.fixture
def print_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The printer connector's folder, for the engine here and for the console's server, which is
    started with this process's environment (test_browser.serve)."""
    folder = tmp_path / "print-jobs"
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(folder))
    return folder


def cards_for(web_workspace: Path, store: Engine, tmp_path: Path, users: tuple[str, ...], *steps: str) -> list[int]:
    """op1 requests a card for each of `users` (approved at once: CardsBatchRequestApproval is off),
    then fires each of `steps` (issue on the printer, activate) on them all: cards 1, 2, … in order."""
    workspace = load_workspace(web_workspace).require_valid()
    orders = DropFolder(tmp_path / "orders")
    made = run_batch(workspace, store, RunRequest(REQUEST, "op1", Selection(users=users)), orders)
    ids = [result.card for result in made.results if result.card is not None]
    for trigger in steps:
        done = act(workspace, store, trigger, ids, "op1", orders, process=THROUGH[trigger])
        assert [result.status for result in done] == ["done"] * len(ids)
    return ids


def states(store: Engine) -> list[tuple[str, str]]:
    return [(card["user_id"], card["state"]) for card in cards(store)]


def open_step(page: Page, process: str, card: int, state: str) -> None:
    """The process's link under "What do you want to do?" (the cards it can act on), the card, the
    card's button of the process: its step."""
    page.get_by_role("link", name=process, exact=True).click()
    page.get_by_role("link", name=str(card), exact=True).click()
    expect(page.locator("h1 .state")).to_have_text(state)
    page.get_by_role("button", name=process, exact=True).click()
    expect(page.get_by_role("heading", name=process)).to_be_visible()


def offered(page: Page) -> list[str]:
    """The process buttons of a card's page."""
    return page.locator(".actions button").all_inner_texts()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"card-life-{name}.png"), full_page=True)


#: The console's words of the card in use, in each language.
WORDS = {
    "en": {
        "activate": "Activate card",
        "deactivate": "Deactivate card",
        "lock": "Lock card",
        "next": "Next",
        "done": "Activate card: card 1 is now active.",
    },
    "sv": {
        "activate": "Aktivera kort",
        "deactivate": "Inaktivera kort",
        "lock": "Spärra kort",
        "next": "Nästa",
        "done": "Aktivera kort: kort 1 har nu status active.",
    },
}


@pytest.mark.parametrize("language", ["en", "sv"])
def test_an_operator_activates_an_issued_card(
    page: Page,
    serve: Callable[[], str],
    store: Engine,
    web_workspace: Path,
    tmp_path: Path,
    print_jobs: Path,
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    """Activate card under "What do you want to do?" (the issued cards), card 1, Activate card, Next:
    the card is active, valid three years from today, and Deactivate card and Lock card are offered."""
    monkeypatch.setenv("CARDFLOW_NOW", NOW)  # the server's clock too: it inherits the environment
    cards_for(web_workspace, store, tmp_path, ("u01", "u02"), "issue")
    words = WORDS[language]
    log_in_speaking(page, serve(), "op1", language)
    open_step(page, words["activate"], 1, "issued")
    page.get_by_role("button", name=words["next"]).click()
    expect(page.locator("h1 .state")).to_have_text("active")
    expect(page.get_by_role("status")).to_have_text(words["done"])
    expect(page.locator("dd.field", has_text=VALID_UNTIL)).to_have_count(1)  # beside the PIN's fields
    assert offered(page) == [words["deactivate"], words["lock"]]
    shoot(page, f"activate-{language}")
    assert states(store) == [("u01", "active"), ("u02", "issued")]
    assert [json.loads(card["fields"]).get("valid_until") for card in cards(store)] == [VALID_UNTIL, None]


def test_an_operator_deactivates_an_active_card(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, print_jobs: Path
) -> None:
    """Without the approval step (CardsDeactivationApproval off, as shipped): Deactivate card, a
    Reason, Next: the card is inactive at once; Lock card and Reactivate card are offered."""
    cards_for(web_workspace, store, tmp_path, ("u01",), "issue", "activate")
    log_in(page, serve(), "op1")
    open_step(page, "Deactivate card", 1, "active")
    page.get_by_label("Reason").fill("Left for a long trip")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("h1 .state")).to_have_text("inactive")
    expect(page.get_by_role("status")).to_have_text("Deactivate card: card 1 is now inactive.")
    assert offered(page) == ["Lock card", "Reactivate card"]  # in the workspace's order
    shoot(page, "deactivate-en")
    assert states(store) == [("u01", "inactive")]


def test_a_deactivation_waits_for_an_approver(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, print_jobs: Path
) -> None:
    """With CardsDeactivationApproval: op2's Deactivate card leaves the card deactivation_requested
    (still usable); ap1 finds it among the requests, opens "Card approval" (op2 the requester) and
    clicks Approved: the card is inactive."""
    set_value(web_workspace, "CardsDeactivationApproval", "true")
    cards_for(web_workspace, store, tmp_path, ("u01",), "issue", "activate")
    url = serve()
    log_in(page, url, "op2")
    open_step(page, "Deactivate card", 1, "active")
    page.get_by_label("Reason").fill("On parental leave for a year")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("h1 .state")).to_have_text("deactivation_requested")
    shoot(page, "deactivate-requested-en")
    assert states(store) == [("u01", "deactivation_requested")]
    assert cards(store)[0]["requested_by"] == "op2"
    log_out(page)
    log_in(page, url, "ap1")
    page.get_by_role("link", name="Request 1").click()
    expect(page.get_by_role("heading", name="Card approval")).to_be_visible()
    expect(page.locator("dd.state")).to_have_text("deactivation_requested")
    expect(page.get_by_text("Oda Operator (op2)")).to_be_visible()
    expect(page.locator("form.decision button")).to_have_text(["Approved", "Reject", "Postpone"])
    shoot(page, "deactivate-approval-en")
    page.get_by_role("button", name="Approved").click()
    expect(page.get_by_role("status")).to_have_text("Approved: card 1 is now inactive.")
    expect(page.get_by_role("link", name="Request 1")).to_have_count(0)
    assert states(store) == [("u01", "inactive")]


def test_nobody_decides_the_deactivation_they_asked_for(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, print_jobs: Path
) -> None:
    """Four-eyes: ap2, approver and operator, asks for the deactivation of card 1, then clicks Approved
    on its "Card approval": refused with the rule's message, the card still waits."""
    set_value(web_workspace, "CardsDeactivationApproval", "true")
    cards_for(web_workspace, store, tmp_path, ("u01",), "issue", "activate")
    log_in(page, serve(), "ap2")
    open_step(page, "Deactivate card", 1, "active")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("h1 .state")).to_have_text("deactivation_requested")
    page.get_by_role("link", name="Requests").first.click()
    page.get_by_role("link", name="Request 1").click()
    page.get_by_role("button", name="Approved").click()
    expect(page.get_by_role("alert")).to_contain_text("Four-eyes rule, nobody decides a request they started")
    shoot(page, "deactivate-four-eyes-en")
    assert states(store) == [("u01", "deactivation_requested")]


def test_an_operator_locks_a_lost_card(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, print_jobs: Path
) -> None:
    """Lock card needs a reason: the browser keeps Next back without one, and the console refuses a
    form sent without it; with "Reported lost" the card is locked for good (no process is offered
    any more) and its holder is told by email."""
    cards_for(web_workspace, store, tmp_path, ("u01",), "issue", "activate")
    log_in(page, serve(), "op1")
    open_step(page, "Lock card", 1, "active")
    expect(page.get_by_text("Required.", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("textarea#reason:invalid")).to_have_count(1)
    page.locator("textarea#reason").evaluate("field => field.removeAttribute('required')")
    page.get_by_role("button", name="Next").click()  # sent without a reason: the engine refuses it
    expect(page.get_by_role("alert")).to_contain_text("'lock' needs a reason")
    assert states(store) == [("u01", "active")]
    page.get_by_label("Reason").fill("Reported lost")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("h1 .state")).to_have_text("locked")
    expect(page.get_by_role("status")).to_have_text("Lock card: card 1 is now locked.")
    assert offered(page) == []
    shoot(page, "lock-en")
    assert states(store) == [("u01", "locked")]
    with db.reading(store) as connection:
        told = [(email["template"], email["recipient_user"]) for email in queries.list_outbox(connection)]
    assert ("card_locked", "u01") in told


def test_an_operator_issues_ticked_cards_as_a_batch_order(
    page: Page, serve: Callable[[], str], store: Engine, web_workspace: Path, tmp_path: Path, print_jobs: Path
) -> None:
    """BATCH ORDERS, Issue multiple cards, state approved, Search, tick two of three approved cards,
    Issue multiple cards: the confirmation prints nothing yet; Next: both cards are issued, a print
    job each in the printer's folder."""
    cards_for(web_workspace, store, tmp_path, ("u01", "u02", "u03"))
    log_in(page, serve(), "op1")
    page.get_by_role("link", name="Batch orders").first.click()
    expect(page.get_by_role("heading", name="BATCH ORDERS")).to_be_visible()
    page.get_by_role("link", name="Issue multiple cards").click()
    page.get_by_label("State").select_option("approved")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("table.cards td.state", has_text="approved")).to_have_count(3)
    for name in ("Alice Andersson (1)", "Bertil Berg (2)"):
        page.get_by_role("checkbox", name=name).check()
    shoot(page, "issue-multiple-search-en")
    page.get_by_role("button", name="Issue multiple cards").click()
    expect(page.locator("table.plan tr.done")).to_have_count(2)
    expect(page.locator("table.plan tr.done td.state", has_text="issued")).to_have_count(2)
    shoot(page, "issue-multiple-confirm-en")
    assert (states(store), list(print_jobs.glob("*"))) == ([("u01", "approved"), ("u02", "approved"), ("u03", "approved")], [])
    page.get_by_role("button", name="Next").click()
    expect(page.locator("td.state", has_text="issued")).to_have_count(2)
    shoot(page, "issue-multiple-en")
    assert states(store) == [("u01", "issued"), ("u02", "issued"), ("u03", "approved")]
    jobs = [json.loads(job.read_text(encoding="utf-8")) for job in sorted(print_jobs.glob("*.json"))]
    assert [(job["operation"], job["card"]["id"], job["holder"]["name"]) for job in jobs] == [
        ("print", 1, "Alice Andersson"),
        ("print", 2, "Bertil Berg"),
    ]
