"""Requests and the "Card approval" form: Approved, Reject (a Reason is required), Postpone; four-eyes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import XSS, csrf_of, set_value, sign_in
from fastapi.testclient import TestClient

from engine import clock
from engine.batch.actions import act
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.store import db, queries
from engine.web.app import create_app
from engine.web.console import Console


@pytest.fixture
def console(make_console: Callable[[], Console], web_workspace: object) -> Console:
    """A console with the approval step on and three requests: u01, u02 (by op1) and u06 (by ap2)."""
    set_value(web_workspace, "CardsAddonExtProdBatchOrderApproval", "true")  # type: ignore[arg-type]
    built = make_console()
    order = "CardsAddonExtProdBoProcOrderMultiple"
    run_batch(built.workspace, built.engine, RunRequest(order, "op1", Selection(users=("u01", "u02"))), built.connector)
    run_batch(built.workspace, built.engine, RunRequest(order, "ap2", Selection(users=("u06",))), built.connector)
    return built


@pytest.fixture
def approver(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        yield client


def state_of(console: Console, card: int) -> str:
    with db.reading(console.engine) as connection:
        return str(queries.get_cards(connection, [card])[card]["state"])


def decide(client: TestClient, card: int, decision: str, reason: str = "") -> object:
    return client.post(f"/requests/{card}", data={"csrf": csrf_of(client), "decision": decision, "reason": reason})


def test_requests_lists_the_open_requests(approver: TestClient) -> None:
    """One row per open request, each a link to its Card approval form; names escaped."""
    html = approver.get("/requests").text
    assert all(f'href="/requests/{card}">Request {card}</a>' in html for card in (1, 2, 3))
    assert XSS not in html and "&lt;script&gt;" in html


def test_the_card_approval_form_has_the_vendor_buttons(approver: TestClient) -> None:
    """The form shows request, card and requester information, a Reason field and the three buttons."""
    html = approver.get("/requests/1").text
    assert "<h1>Card approval</h1>" in html
    assert "Olle Operator (op1)" in html and "Alice Andersson (u01)" in html
    assert '<label for="reason">Reason</label>' in html
    assert '<textarea id="reason" name="reason" rows="3" required' in html
    for label in ("Approved", "Reject", "Postpone"):
        assert f">{label}</button>" in html


def test_approved_moves_the_card_on(approver: TestClient, console: Console) -> None:
    """Approved continues the card as the options say (queued: processing)."""
    response = decide(approver, 1, "approve")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert state_of(console, 1) == "processing"
    assert 'href="/requests/1"' not in approver.get("/requests").text


def test_reject_needs_a_reason(approver: TestClient, console: Console) -> None:
    """Reject without a Reason is refused with the engine's message; the card stays requested."""
    response = decide(approver, 2, "reject")
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert "needs a reason" in response.text  # type: ignore[attr-defined]
    assert state_of(console, 2) == "requested"


def test_reject_with_a_reason(approver: TestClient, console: Console) -> None:
    """Reject with a Reason rejects the card and keeps the reason in its story."""
    decide(approver, 2, "reject", "No budget this quarter")
    assert state_of(console, 2) == "rejected"
    assert "Reason given: No budget this quarter" in approver.get("/cards/2").text


def test_postpone_keeps_the_request_open(approver: TestClient, console: Console) -> None:
    """Postpone leaves the card requested and in the Requests list."""
    decide(approver, 1, "postpone")
    assert state_of(console, 1) == "requested"
    assert 'href="/requests/1"' in approver.get("/requests").text


def test_nobody_decides_their_own_request(console: Console) -> None:
    """Four-eyes: ap2 started the request for u06 and may not approve it."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap2")
        response = decide(client, 3, "approve")
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert state_of(console, 3) == "requested"


def test_operators_cannot_decide(console: Console) -> None:
    """An operator is refused the Requests page and the decision."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        assert client.get("/requests").status_code == 403
        assert client.get("/requests/1").status_code == 403
        assert decide(client, 1, "approve").status_code == 403  # type: ignore[attr-defined]
    assert state_of(console, 1) == "requested"


def test_an_unknown_decision_is_refused(approver: TestClient, console: Console) -> None:
    """Only Approved, Reject and Postpone are decisions."""
    assert decide(approver, 1, "abort").status_code == 400  # type: ignore[attr-defined]
    assert state_of(console, 1) == "requested"


def test_a_postponed_request_stays_on_the_home_page(approver: TestClient) -> None:
    """The approver's "What do you want to do?" lists the waiting requests, a postponed one too."""
    decide(approver, 1, "postpone")
    html = approver.get("/").text
    assert all(f'href="/requests/{card}">Request {card}</a>' in html for card in (1, 2, 3))


def test_the_form_s_buttons_are_the_workspace_s_trigger_labels_in_swedish(console: Console) -> None:
    """In Swedish the Card approval form's buttons carry the triggers' `sv:` labels from the workspace."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1", lang="sv")
        html = client.get("/requests/1").text
    for label in ("Godkänd", "Avvisa", "Skjut upp"):
        assert f">{label}</button>" in html
    assert "Krävs för Avvisa; de andra knapparna klarar sig utan." in html


def test_a_request_s_card_page_offers_the_approver_the_decision_step(approver: TestClient, console: Console) -> None:
    """A requested card's page has a "Decide card requests" button for an approver; its step has a
    button per decision and the required Reason; Reject there rejects the card."""
    page = approver.get("/cards/1").text
    assert ">Decide card requests</button>" in page and "Card approval</a>" not in page
    step = approver.get("/cards/1/process/CardsBoProcDecideRequest").text
    for label in ("Approved", "Reject", "Postpone"):
        assert f">{label}</button>" in step
    assert '<textarea id="reason" name="reason" rows="3" required' in step
    data = {"csrf": csrf_of(approver), "trigger": "reject", "reason": "No budget"}
    done = approver.post("/cards/1/process/CardsBoProcDecideRequest", data=data).text
    assert '<p class="flash" role="status">Reject: card 1 is now rejected.</p>' in done
    assert state_of(console, 1) == "rejected"


def test_the_form_says_what_a_deactivation_asks_when_and_why(
    make_console: Callable[[], Console], web_workspace: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deactivation waiting for its approval step: the form gives the state's description from the YAML,
    when the deactivation was asked (not when the card was made) and the reason given with it."""
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(tmp_path / "print-jobs"))  # the printer "Issue card" prints on
    set_value(web_workspace, "CardsDeactivationApproval", "true")  # type: ignore[arg-type]
    built = make_console()
    request = "CardsBoProcRequestMulitple"
    run_batch(built.workspace, built.engine, RunRequest(request, "op1", Selection(users=("u01",))), built.connector)
    with clock.frozen("2027-05-04T10:00:00Z"):
        for trigger, reason in (("issue", None), ("activate", None), ("deactivate", "Left the company")):
            (done,) = act(built.workspace, built.engine, trigger, [1], "op2", built.connector, reason=reason)
            assert done.status == "done", done.message
    assert state_of(built, 1) == "deactivation_requested"
    with TestClient(create_app(built)) as client:
        sign_in(client, "ap1")
        html = client.get("/requests/1").text
    assert '<dd translate="no">2027-05-04T10:00:00Z</dd>' in html
    assert "The card&#39;s deactivation waits for an approver" in html
    assert '<dd class="reason" translate="no">Left the company</dd>' in html
