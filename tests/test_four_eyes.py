"""Four-eyes compares the approver with whoever made the request being decided (`card.requested_by`),
not with the card's orderer: a produced card that op2 orders again (a YAML-only action process)
may be approved by op1, who ordered it first, and not by op2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest

ORDER, AGAIN, DECIDE = "CardsAddonExtProdBoProcOrderMultiple", "TestProcOrderAgain", "CardsBoProcDecideRequest"
USERS = """id,name,email,state,roles
op1,Olle,op1@example.com,active,operator approver
op2,Oda,op2@example.com,active,operator approver
u1,Alice,alice@example.com,active,
"""
ORDER_AGAIN = """symbolic_name: TestProcOrderAgain
name: Order card again
package: Cards add-on External production
component: Identity Manager Operator
start: Card > Order card again
description: As an operator I want to order a produced card again, which an approver then decides.
outcome: [requested]
kind: action
actor: operator
acts_on: [CardsAddonExtProdBoProcOrderMultiple]
triggers:
  order_again:
    description: Order the card again.
prerequisites:
  - rule: card.state == 'produced'
    message: Only a produced card can be ordered again.
"""
AGAIN_TRANSITION = """  - trigger: order_again
    source: produced
    dest: requested
    effects:
      - email: approval_requested
        to: approvers

"""


def again_workspace(workspace: Path, rule: str) -> Path:
    """The reference workspace with "Order card again" (produced -> requested) in YAML alone, its
    decide process's four-eyes rule reading `rule` (`card.requested_by`, or the old `card.requester`)."""
    processes = workspace / "processes"
    order = processes / f"{ORDER}.yaml"
    text = order.read_text(encoding="utf-8")
    end = text.index("# The console's Swedish")
    order.write_text(text[:end] + AGAIN_TRANSITION + text[end:], encoding="utf-8")
    (processes / f"{AGAIN}.yaml").write_text(ORDER_AGAIN, encoding="utf-8")
    decide = processes / f"{DECIDE}.yaml"
    shipped = "actor.id != card.requested_by"
    assert shipped in decide.read_text(encoding="utf-8")
    decide.write_text(decide.read_text(encoding="utf-8").replace(shipped, f"actor.id != {rule}"), encoding="utf-8")
    return workspace


def ordered_again(run: Run, folder: Path) -> int:
    """op1 orders u1's card, the bureau reports it produced, and op2 orders it again: the card's id."""
    (folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    made = run("run", ORDER, "--user", "u1", "--as", "op1", "--set", "CardsAddonExtProdQueue=false", "--json")
    (card,) = [result["card"] for result in json.loads(made.stdout)["results"]]
    (folder / "orders" / "status").mkdir(parents=True)
    for path in (folder / "orders").glob("*.json"):
        (folder / "orders" / "status" / path.name).write_text('{"status": "produced"}')
    assert run("orders", "sync").exit_code == 0
    again = run("run", AGAIN, "--card", str(card), "--as", "op2", "--json")
    assert json.loads(again.stdout)["results"][0]["to"] == "requested", again.output
    return int(card)


@pytest.fixture
def cf(run: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(again_workspace(workspace, "card.requested_by")))
    return run


def test_the_approver_is_compared_with_who_made_the_request(cf: Run, stored: StoreUnderTest) -> None:
    """op2 made the request being decided and may not approve it; op1, the card's orderer, may."""
    card = ordered_again(cf, stored.folder)
    refused = cf("approve", str(card), "--as", "op2")
    assert refused.exit_code == 1 and "Four-eyes" in refused.stderr
    assert cf("approve", str(card), "--as", "op1").exit_code == 0
    assert stored.scalar("select state from cards") == "processing"


@pytest.mark.parametrize(
    ("rule", "refused", "allowed"),
    [("card.requested_by", "op2", "op1"), ("card.requester", "op1", "op2")],
    ids=["requested_by", "the old rule"],
)
def test_only_requested_by_refuses_the_right_approver(
    run: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch, stored: StoreUnderTest, rule: str, refused: str, allowed: str
) -> None:
    """The old rule, on the card's orderer, refuses op1 and lets op2 approve their own request."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(again_workspace(workspace, rule)))
    card = ordered_again(run, stored.folder)
    assert run("approve", str(card), "--as", refused).exit_code == 1
    assert run("approve", str(card), "--as", allowed).exit_code == 0


def test_requested_by_is_read_by_cards_json_explain_and_where(cf: Run, stored: StoreUnderTest) -> None:
    """`cards --json` and `explain --json` show who made the request, and `--where` selects by it."""
    card = ordered_again(cf, stored.folder)
    (listed,) = json.loads(cf("cards", "--json").stdout)
    assert (listed["requested_by"], json.loads(cf("explain", str(card), "--json").stdout)["card"]["requested_by"]) == (
        "op2",
        "op2",
    )
    where = ("--where", "card.requested_by == 'op2'", "--trigger", "approve", "--as", "op1", "--json")
    decided = json.loads(cf("run", DECIDE, *where).stdout)["results"]
    assert [(result["card"], result["status"]) for result in decided] == [(card, "done")]


def test_a_new_card_is_requested_by_its_creator(cf: Run, stored: StoreUnderTest) -> None:
    """A card made by a batch waits on its creator's request, as four-eyes compared before; a move within
    a state (postpone) keeps who made the request."""
    (stored.folder / "users.csv").write_text(USERS)
    assert cf("users", "import", "users.csv").exit_code == 0
    made = cf("run", ORDER, "--user", "u1", "--as", "op1", "--set", "CardsAddonExtProdBatchOrderApproval=true", "--json")
    card = json.loads(made.stdout)["results"][0]["card"]
    assert cf("postpone", str(card), "--as", "op2").exit_code == 0
    assert stored.rows("select requester, requested_by, state from cards") == [("op1", "op1", "requested")]


def test_the_approvers_asked_are_all_but_who_made_the_request(cf: Run, stored: StoreUnderTest) -> None:
    """op2's request goes to the approvers but op2: op1, the card's orderer, is asked to decide it."""
    ordered_again(cf, stored.folder)
    assert stored.rows("select recipient_user from outbox where template = 'approval_requested'") == [("op1",)]
