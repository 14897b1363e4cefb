"""Running processes through the real CLI on a real SQLite file: every path of DOMAIN.md."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

ORDER, REQUEST = "CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
op2,Oda Operator,op2@example.com,active,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,HR
ap2,Arvid Approver,ap2@example.com,active,approver operator,HR
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
u3,Cecilia,cecilia@example.com,active,,Support
u4,David,david@example.com,inactive,,Sales
"""


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    """The CLI in a folder holding a store with operators, approvers and card holders."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else result.stdout


def states(cf: Run, *cards: int) -> list[str]:
    rows = {row["id"]: row["state"] for row in ok(cf("cards", "--json"))}
    return [rows[card] for card in cards]


def emails(cf: Run) -> list[tuple[str, str]]:
    return sorted((row["template"], row["to"]) for row in ok(cf("outbox", "--json")))


def start(cf: Run, process: str, *args: str) -> list[dict[str, Any]]:
    return ok(cf("run", process, "--as", "op1", "--json", *args))["results"]  # type: ignore[no-any-return]


def card_of(results: list[dict[str, Any]], user: str) -> int:
    return next(r["card"] for r in results if r["user"] == user)


def test_default_order_queues_cards(cf: Run) -> None:
    """Default options: each active user's card waits in the queue (processing); nothing is ordered or emailed."""
    output = ok(cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json"))
    assert set(output) == {"batch", "process", "results"}
    assert output["process"] == ORDER
    assert [(r["user"], r["state"], r["status"]) for r in output["results"]] == [
        ("u1", "processing", "created"),
        ("u2", "processing", "created"),
    ]
    assert emails(cf) == []
    assert not Path("orders").exists()
    cards = ok(cf("cards", "--json"))
    assert {key for key in cards[0]} == {
        "id",
        "user",
        "process",
        "state",
        "requested_by",
        "production_type",
        "batch",
        "created_at",
        "updated_at",
        "fields",
    }
    assert cards[0]["production_type"] == "standard" and cards[0]["batch"] == output["batch"]


def test_inactive_user_is_skipped_with_the_prerequisite_message(cf: Run) -> None:
    """A user not active gets no card; the result says why."""
    (skipped,) = [r for r in start(cf, ORDER, "--where", "user.department == 'Sales'") if r["status"] == "skipped"]
    assert skipped == {
        "user": "u4",
        "card": None,
        "state": None,
        "status": "skipped",
        "reason": 'The user must be in state "active".',
    }


def test_multiple_orders_off_skips_a_user_with_an_open_card(cf: Run) -> None:
    """With multiple orders off, a second order for a user with an open card is skipped; on, it is made."""
    start(cf, ORDER, "--user", "u1")
    (again,) = start(cf, ORDER, "--user", "u1")
    assert again["status"] == "skipped" and "already has an open card order" in again["reason"]
    (allowed,) = start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdMultipleCards=true")
    assert allowed["status"] == "created" and allowed["state"] == "processing"


def test_a_closed_card_does_not_block_a_new_order(cf: Run) -> None:
    """An aborted card is final, so the user can be ordered a card again."""
    card = card_of(start(cf, ORDER, "--user", "u1"), "u1")
    ok(cf("abort", str(card), "--as", "op2"))
    (again,) = start(cf, ORDER, "--user", "u1")
    assert again["status"] == "created"


def test_queue_then_sync_orders_at_the_bureau(cf: Run) -> None:
    """The batch sync orders every queued card: one drop-folder file each, the card ordered, the holder emailed."""
    results = start(cf, ORDER, "--user", "u1", "--user", "u2")
    synced = ok(cf("queue", "run", "--json"))
    assert [(r["card"], r["from"], r["to"], r["status"]) for r in synced] == [
        (card_of(results, "u1"), "processing", "ordered", "done"),
        (card_of(results, "u2"), "processing", "ordered", "done"),
    ]
    files = sorted(Path("orders").glob("*.json"))
    assert len(files) == 2
    order = json.loads(files[0].read_text())
    assert (order["card"], order["production_type"], order["holder"]["name"], order["holder"]["email"]) == (
        card_of(results, "u1"),
        "standard",
        "Alice",
        "alice@example.com",
    )
    assert emails(cf) == [("card_ordered", "alice@example.com"), ("card_ordered", "bertil@example.com")]
    assert ok(cf("queue", "run", "--json")) == []


def test_queue_run_limit(cf: Run) -> None:
    """--limit orders at most N queued cards; the rest stay queued."""
    start(cf, ORDER, "--user", "u1", "--user", "u2", "--user", "u3")
    assert len(ok(cf("queue", "run", "--limit", "2", "--json"))) == 2
    assert sorted(row["state"] for row in ok(cf("cards", "--json"))) == ["ordered", "ordered", "processing"]


def test_queue_off_orders_at_once(cf: Run) -> None:
    """Queue off: the card is ordered during the run and the holder is emailed."""
    (result,) = start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdQueue=false")
    assert result["state"] == "ordered"
    assert len(list(Path("orders").glob("*.json"))) == 1
    assert emails(cf) == [("card_ordered", "alice@example.com")]


def test_queue_off_without_the_ordered_email(cf: Run) -> None:
    """With the "Card ordered" email off, ordering sends nothing."""
    sets = ["--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdOrderedEmail=false"]
    (result,) = start(cf, ORDER, "--user", "u1", *sets)
    assert result["state"] == "ordered" and emails(cf) == []


def test_queue_then_abort(cf: Run) -> None:
    """An operator aborts a queued card (CardsAddonExtProdProcAbort); the sync then leaves it alone."""
    card = card_of(start(cf, ORDER, "--user", "u1"), "u1")
    (done,) = ok(cf("abort", str(card), "--as", "op2", "--json"))
    assert (done["process"], done["from"], done["to"]) == ("CardsAddonExtProdProcAbort", "processing", "aborted")
    assert ok(cf("queue", "run", "--json")) == []
    assert states(cf, card) == ["aborted"]


def test_refused_order_then_retry(cf: Run) -> None:
    """The bureau refuses an order (a layout it does not produce): the card fails with the reason; a retry orders it."""
    card = card_of(start(cf, ORDER, "--user", "u1"), "u1")
    Path("orders").mkdir()
    Path("orders/layouts.txt").write_text("premium\n")
    refused = cf("queue", "run", "--json")
    assert refused.exit_code == 1, refused.output  # the bureau refused every order of the sync
    (synced,) = json.loads(refused.stdout)
    assert (synced["to"], states(cf, card)) == ("failed", ["failed"])
    story = ok(cf("explain", str(card), "--json"))
    assert story["orders"][0]["accepted"] is False and "does not produce layout 'standard'" in story["orders"][0]["message"]
    Path("orders/layouts.txt").write_text("premium\nstandard\n")
    (retried,) = ok(cf("retry", str(card), "--as", "op2", "--json"))
    assert (retried["process"], retried["from"], retried["to"]) == ("CardsAddonExtProdProcRetryOrder", "failed", "ordered")
    keys = [order["idempotency_key"] for order in ok(cf("explain", str(card), "--json"))["orders"]]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert emails(cf) == [("card_ordered", "alice@example.com")]


def test_retry_refused_for_non_operator_and_wrong_state(cf: Run, stored: StoreUnderTest) -> None:
    """Retry needs the operator role and a failed card."""
    card = card_of(start(cf, ORDER, "--user", "u1"), "u1")
    before = stored.snapshot()
    result = cf("retry", str(card), "--as", "op2")
    assert result.exit_code == 1 and 'Only a card in state "failed"' in result.stderr
    assert cf("retry", str(card), "--as", "ap1").exit_code == 1
    assert stored.snapshot() == before


def test_approval_on_requests_and_tells_each_approver_once(cf: Run, stored: StoreUnderTest) -> None:
    """Approval on: cards wait in requested; each approver gets one email for the batch, listing its cards."""
    results = start(cf, ORDER, "--user", "u1", "--user", "u2", "--set", "CardsAddonExtProdBatchOrderApproval=true")
    assert [r["state"] for r in results] == ["requested", "requested"]
    assert emails(cf) == [("approval_requested", "ap1@example.com"), ("approval_requested", "ap2@example.com")]
    context = stored.scalar("select context from outbox where recipient = 'ap1@example.com'")
    assert [card["id"] for card in json.loads(context)["cards"]] == [card_of(results, "u1"), card_of(results, "u2")]


def test_approve_reject_postpone_and_withdraw(cf: Run) -> None:
    """Approval on: approve queues the card, reject closes it with the reason, postpone keeps it open, the requester withdraws."""
    results = start(
        cf,
        ORDER,
        "--where",
        "user.state == 'active' and user.roles|length == 0",
        "--set",
        "CardsAddonExtProdBatchOrderApproval=true",
    )
    u1, u2, u3 = (card_of(results, user) for user in ("u1", "u2", "u3"))
    ok(cf("approve", str(u1), "--as", "ap1"))
    ok(cf("reject", str(u2), "--as", "ap1", "--reason", "No budget"))
    ok(cf("postpone", str(u3), "--as", "ap2", "--reason", "Ask the manager"))
    assert states(cf, u1, u2, u3) == ["processing", "rejected", "requested"]
    ok(cf("abort", str(u3), "--as", "op1"))
    assert states(cf, u3) == ["aborted"]
    requester_mail = [e for e in emails(cf) if e[0] != "approval_requested"]
    assert requester_mail == [("request_approved", "op1@example.com"), ("request_rejected", "op1@example.com")]
    history = ok(cf("explain", str(u3), "--json"))["transitions"]
    assert [(t["trigger"], t["source"], t["dest"], t["actor"], t["reason"]) for t in history] == [
        ("start", "registered", "requested", "op1", None),
        ("postpone", "requested", "requested", "ap2", "Ask the manager"),
        ("abort", "requested", "aborted", "op1", None),
    ]


def test_withdraw_is_for_the_requester_only(cf: Run, stored: StoreUnderTest) -> None:
    """Another operator cannot withdraw someone else's request; nothing changes."""
    card = card_of(start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdBatchOrderApproval=true"), "u1")
    before = stored.snapshot()
    result = cf("abort", str(card), "--as", "op2")
    assert result.exit_code == 1 and "Only the requester can withdraw" in result.stderr
    assert stored.snapshot() == before


def test_approval_on_and_queue_off_orders_on_approval(cf: Run) -> None:
    """Approval on, queue off: approving orders the card at once; requester and holder are emailed."""
    sets = ["--set", "CardsAddonExtProdBatchOrderApproval=true", "--set", "CardsAddonExtProdQueue=false"]
    card = card_of(start(cf, ORDER, "--user", "u1", *sets), "u1")
    (done,) = ok(cf("approve", str(card), "--as", "ap1", "--json", *sets))
    assert done["to"] == "ordered"
    assert [e for e in emails(cf) if e[0] != "approval_requested"] == [
        ("card_ordered", "alice@example.com"),
        ("request_approved", "op1@example.com"),
    ]


def test_four_eyes(cf: Run, stored: StoreUnderTest) -> None:
    """An approver who started the request cannot decide it; nothing changes."""
    (result,) = ok(
        cf("run", ORDER, "--user", "u1", "--as", "ap2", "--json", "--set", "CardsAddonExtProdBatchOrderApproval=true")
    )["results"]
    before = stored.snapshot()
    for action in (["approve"], ["reject", "--reason", "x"], ["postpone"]):
        refused = cf(action[0], str(result["card"]), "--as", "ap2", *action[1:])
        assert refused.exit_code == 1 and "Four-eyes" in refused.stderr
    assert stored.snapshot() == before
    assert ("approval_requested", "ap2@example.com") not in emails(cf)


def test_role_checks(cf: Run, stored: StoreUnderTest) -> None:
    """Running needs the operator role; deciding needs the approver role; refusals change nothing."""
    before = stored.snapshot()
    refused = cf("run", ORDER, "--user", "u1", "--as", "ap1")
    assert refused.exit_code == 1 and "does not have the operator role" in refused.stderr
    assert stored.snapshot() == before
    card = card_of(start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdBatchOrderApproval=true"), "u1")
    before = stored.snapshot()
    refused = cf("approve", str(card), "--as", "op2")
    assert refused.exit_code == 1 and "does not have the approver role" in refused.stderr
    assert stored.snapshot() == before


def test_reject_needs_a_reason(cf: Run, stored: StoreUnderTest) -> None:
    """Reject without a reason is refused; nothing changes."""
    card = card_of(start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdBatchOrderApproval=true"), "u1")
    before = stored.snapshot()
    for reason in ([], ["--reason", "  "]):
        refused = cf("reject", str(card), "--as", "ap1", *reason)
        assert refused.exit_code == 1 and "needs a reason" in refused.stderr
    assert stored.snapshot() == before


def test_abort_from_a_wrong_state(cf: Run, stored: StoreUnderTest) -> None:
    """Abort of an ordered card is refused for everyone; one refused card refuses the whole command."""
    ordered = card_of(start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdQueue=false"), "u1")
    queued = card_of(start(cf, ORDER, "--user", "u2"), "u2")
    before = stored.snapshot()
    for actor in ("op1", "op2", "ap1"):
        refused = cf("abort", str(queued), str(ordered), "--as", actor)
        assert refused.exit_code == 1 and f"card {ordered} (ordered)" in refused.stderr
    assert stored.snapshot() == before


def test_decide_a_card_that_is_not_requested(cf: Run) -> None:
    """Approve on a queued card is refused with the state rule's message."""
    card = card_of(start(cf, ORDER, "--user", "u1"), "u1")
    refused = cf("approve", str(card), "--as", "ap1")
    assert (
        refused.exit_code == 1 and 'Only a card in state "requested" or "deactivation_requested" can be decided' in refused.stderr
    )


def test_refusals_join_messages_without_a_stray_full_stop(cf: Run) -> None:
    """Messages ending in a quoted value are joined as clauses: no '".;' (two cards) nor '".)' (--strict)."""
    first, second = (card_of(start(cf, ORDER, "--user", user), user) for user in ("u1", "u2"))
    refused = cf("approve", str(first), str(second), "--as", "ap1").stderr
    assert '"deactivation_requested" can be decided; card' in refused and '".;' not in refused
    strict = cf("run", REQUEST, "--user", "u4", "--as", "op1", "--strict").stderr
    assert 'u4 (The user must be in state "active")' in strict and '".)' not in strict


def test_production_type_selection(cf: Run, stored: StoreUnderTest) -> None:
    """Selection on: the operator's type is recorded on the card and sent with the order; a wrong type writes nothing."""
    sets = [
        "--set",
        "CardsAddonExtProdSelectProductionType=true",
        "--set",
        "CardsAddonExtProdProductionTypes=[standard, contractor]",
    ]
    (result,) = start(
        cf, ORDER, "--user", "u1", "--production-type", "contractor", "--set", "CardsAddonExtProdQueue=false", *sets
    )
    assert (result["state"], ok(cf("cards", "--json"))[0]["production_type"]) == ("ordered", "contractor")
    assert json.loads(next(Path("orders").glob("*.json")).read_text())["production_type"] == "contractor"
    before = stored.snapshot()
    for args in (["--production-type", "premium", *sets], ["--production-type", "contractor"]):
        refused = cf("run", ORDER, "--user", "u2", "--as", "op1", *args)
        assert refused.exit_code == 2, args
        assert len(refused.stderr.strip().splitlines()) == 1
    assert stored.snapshot() == before


def test_production_type_default_is_the_first(cf: Run) -> None:
    """Selection off: every card gets the first production type."""
    start(cf, ORDER, "--user", "u1", "--set", "CardsAddonExtProdProductionTypes=[contractor, standard]")
    assert ok(cf("cards", "--json"))[0]["production_type"] == "contractor"


def test_request_multiple_default_approves_at_once(cf: Run) -> None:
    """Request multiple cards, default: each active user's request is approved at once, without a production type."""
    results = start(cf, REQUEST, "--where", "user.department == 'Sales'")
    assert sorted((r["user"], r["state"] or r["status"]) for r in results) == [
        ("u1", "approved"),
        ("u2", "approved"),
        ("u4", "skipped"),
    ]
    assert ok(cf("cards", "--json"))[0]["production_type"] is None
    assert emails(cf) == []


def test_a_where_that_matches_no_user_says_so(cf: Run) -> None:
    """A --where no user matches (a value mistyped) makes no card and says how many users it looked at."""
    result = cf("run", REQUEST, "--where", "user.department == 'Sails'", "--as", "op1")
    assert result.exit_code == 0 and "created 0 card(s)" in result.stdout
    assert "--where matched none of the 8 user(s) in the store" in result.stdout
    said = ok(cf("run", REQUEST, "--where", "user.department == 'Sails'", "--as", "op1", "--json"))
    assert said["results"] == [] and said["nothing_selected"] == "--where matched none of the 8 user(s) in the store"
    assert "matched none" not in cf("run", REQUEST, "--where", "user.department == 'Sales'", "--as", "op1").stdout


def test_request_multiple_with_approval(cf: Run) -> None:
    """Request multiple cards with approval: approve gives approved, reject gives rejected, the requester may withdraw."""
    results = start(cf, REQUEST, "--user", "u1", "--user", "u2", "--user", "u3", "--set", "CardsBatchRequestApproval=true")
    u1, u2, u3 = (card_of(results, user) for user in ("u1", "u2", "u3"))
    ok(cf("approve", str(u1), "--as", "ap1"))
    ok(cf("reject", str(u2), "--as", "ap2", "--reason", "Duplicate"))
    ok(cf("abort", str(u3), "--as", "op1"))
    assert states(cf, u1, u2, u3) == ["approved", "rejected", "aborted"]


def test_request_multiple_refuses_a_production_type(cf: Run) -> None:
    """The Cards package has no production types: asking for one is a usage error."""
    refused = cf("run", REQUEST, "--user", "u1", "--as", "op1", "--production-type", "standard")
    assert refused.exit_code == 2


def test_unknown_users_process_or_actor_write_nothing(cf: Run, stored: StoreUnderTest) -> None:
    """Unknown users, an unknown process, an unknown actor, or no selection: exit 2, nothing written."""
    before = stored.snapshot()
    for args in (
        [ORDER, "--user", "u1", "--user", "nobody", "--as", "op1"],
        ["CardsAddonExtProdBoProcOrderMultple", "--user", "u1", "--as", "op1"],
        [ORDER, "--user", "u1", "--as", "ghost"],
        [ORDER, "--as", "op1"],
        [ORDER, "--all", "--user", "u1", "--as", "op1"],
        [ORDER, "--where", "user.department ==", "--as", "op1"],
        [ORDER, "--where", "card.state == 'x'", "--as", "op1"],
        [ORDER, "--where", "user.state == 'actve'", "--as", "op1"],  # no user is ever in that state
        ["CardsAddonExtProdProcAbort", "--user", "u1", "--as", "op1"],  # a process over cards selects cards
    ):
        result = cf("run", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert stored.snapshot() == before


def test_the_planners_pseudo_actor_cannot_run_a_batch(cf: Run, stored: StoreUnderTest) -> None:
    """`run --as '(plan)'` is refused like any actor who is not a user of the store: exit 2, nothing written."""
    before = stored.snapshot()
    refused = cf("run", ORDER, "--user", "u1", "--as", "(plan)")
    assert refused.exit_code == 2 and "(plan): no such user" in refused.stderr
    assert stored.snapshot() == before
    assert ok(cf("plan", ORDER, "--user", "u1"))  # a plan still acts as the planner


def test_strict_refuses_a_batch_with_a_skipped_user(cf: Run, stored: StoreUnderTest) -> None:
    """--strict: one user who would be skipped refuses the whole batch, nothing written."""
    before = stored.snapshot()
    refused = cf("run", ORDER, "--all", "--as", "op1", "--strict")
    assert refused.exit_code == 1 and "u4" in refused.stderr
    assert stored.snapshot() == before
    assert ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--strict", "--json"))["results"][0]["status"] == "created"


def test_dry_run_writes_nothing_and_tells_the_outcome(cf: Run, stored: StoreUnderTest) -> None:
    """--dry-run reports what would happen, with a simulated bureau, and writes nothing."""
    before = stored.snapshot()
    output = ok(cf("run", ORDER, "--all", "--as", "op1", "--dry-run", "--json", "--set", "CardsAddonExtProdQueue=false"))
    assert sorted(r["state"] for r in output["results"] if r["status"] == "created") == ["ordered"] * 7
    assert stored.snapshot() == before
    assert not Path("orders").exists()


def test_batches_are_listed(cf: Run) -> None:
    """Every run is a batch with its status and counts."""
    start(cf, ORDER, "--where", "user.department == 'Sales'")
    (batch,) = ok(cf("batches", "--json"))
    assert (batch["process"], batch["actor"], batch["status"], batch["created"], batch["skipped"]) == (
        ORDER,
        "op1",
        "complete",
        2,
        1,
    )


def test_rerunning_a_batch_id_makes_no_second_card(cf: Run) -> None:
    """Running the same --batch-id again finishes it without a second card for anyone."""
    first = ok(
        cf("run", ORDER, "--all", "--as", "op1", "--batch-id", "B1", "--json", "--set", "CardsAddonExtProdMultipleCards=true")
    )
    again = ok(
        cf("run", ORDER, "--all", "--as", "op1", "--batch-id", "B1", "--json", "--set", "CardsAddonExtProdMultipleCards=true")
    )
    assert [r["card"] for r in first["results"]] == [r["card"] for r in again["results"]]
    assert len(ok(cf("cards", "--json"))) == 7
    other = cf("run", ORDER, "--all", "--as", "op1", "--batch-id", "B1")
    assert other.exit_code == 2 and "other definitions or options" in other.stderr


EXPECTED_START = {  # (approval, queue) -> state after the run, by DOMAIN.md
    (False, True): "processing",
    (False, False): "ordered",
    (True, True): "requested",
    (True, False): "requested",
}


@pytest.mark.parametrize(
    "approval, queue, email, decision",
    [
        (approval, queue, email, decision)
        for approval, queue, email in itertools.product([False, True], repeat=3)
        for decision in (["approve", "reject", "postpone", "abort"] if approval else ["none"])
    ],
)
def test_order_paths_under_every_option_combination(cf: Run, approval: bool, queue: bool, email: bool, decision: str) -> None:
    """Order multiple cards ends where DOMAIN.md says for every combination of approval, queue and ordered email."""
    sets = [
        "--set", f"CardsAddonExtProdBatchOrderApproval={str(approval).lower()}",
        "--set", f"CardsAddonExtProdQueue={str(queue).lower()}",
        "--set", f"CardsAddonExtProdOrderedEmail={str(email).lower()}",
    ]  # fmt: skip
    card = card_of(start(cf, ORDER, "--user", "u1", *sets), "u1")
    expected = EXPECTED_START[(approval, queue)]
    assert states(cf, card) == [expected]
    if decision != "none":
        reason = ["--reason", "because"] if decision == "reject" else []
        actor = "op1" if decision == "abort" else "ap1"
        ok(cf(decision, str(card), "--as", actor, *reason, *sets))
        expected = {
            "approve": "processing" if queue else "ordered",
            "reject": "rejected",
            "postpone": "requested",
            "abort": "aborted",
        }[decision]
        assert states(cf, card) == [expected]
    if expected == "processing":
        ok(cf("queue", "run", *sets))
        expected = "ordered"
        assert states(cf, card) == [expected]
    ordered_mail = [e for e in emails(cf) if e[0] == "card_ordered"]
    assert ordered_mail == ([("card_ordered", "alice@example.com")] if expected == "ordered" and email else [])
    approval_mail = [e for e in emails(cf) if e[0] == "approval_requested"]
    assert len(approval_mail) == (2 if approval else 0)
    assert len(list(Path("orders").glob("*.json"))) == (1 if expected == "ordered" else 0)


def test_demo_runs_end_to_end(cli: Run, tmp_path: Path) -> None:
    """`cardflow demo` ends with cards processing, ordered, approved, rejected and aborted, and tells the
    rest of a card's life: three requests printed (a print job each), activated, one locked, the other
    two reminded of their expiry once the clock has moved on."""
    result = cli("demo", "--dir", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("Cards by state:"))
    for state in ("processing", "ordered", "approved", "rejected", "aborted", "active 2", "locked 1"):
        assert f" {state} " in line + " " or f" {state}," in line
    assert len(list((tmp_path / "demo" / "print-jobs").glob("*.json"))) == 3
    assert "first expiry reminder of each active card (2, card_expiring)" in result.stdout
    assert " card_expiring 2," in next(line for line in result.stdout.splitlines() if line.startswith("Emails queued"))
    assert "CARDFLOW_PRINT_JOBS" not in os.environ  # the demo's folder, for the demo only


def test_demo_leaves_the_sample_users_it_imported_in_its_folder(cli: Run, tmp_path: Path) -> None:
    """`cardflow demo --dir DIR` leaves the sample users as DIR/users.csv (the README imports that file again),
    naming it, and keeps a users.csv that is already there."""
    folder = tmp_path / "demo"
    result = cli("demo", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert f"users in {folder / 'users.csv'}" in result.stdout
    assert (folder / "users.csv").read_text(encoding="utf-8").startswith("id,name,email,state,roles")
    (folder / "users.csv").write_text("a site's own file\n", encoding="utf-8")
    assert cli("demo", "--dir", str(folder)).exit_code == 0
    assert (folder / "users.csv").read_text(encoding="utf-8") == "a site's own file\n"


def test_a_guard_reading_open_cards_sees_them(cf: Run, workspace: Path) -> None:
    """When only a guard (not a prerequisite) reads `user.open_cards`, the batch still counts them:
    a second request for a user who holds an open one waits for an approver."""
    path = workspace / "processes" / f"{REQUEST}.yaml"
    text = path.read_text()
    assert "    guard: not options.CardsBatchRequestApproval\n" in text
    text = text.replace(
        "    guard: not options.CardsBatchRequestApproval\n",
        "    guard: not options.CardsBatchRequestApproval and user.open_cards == 0\n"
        "  - trigger: start\n    source: registered\n    dest: requested\n"
        "    guard: not options.CardsBatchRequestApproval and user.open_cards > 0\n",
    )
    path.write_text(text)
    first = start(cf, REQUEST, "--user", "u1", "--workspace", str(workspace))
    second = start(cf, REQUEST, "--user", "u1", "--workspace", str(workspace))
    assert [r["state"] for r in first + second] == ["approved", "requested"]


def test_reason_help_says_what_it_is_for_in_each_command(cli: Run) -> None:
    """`--reason` has its own help in approve, reject, postpone, abort and retry: whether it is needed and where it goes."""
    helps = {}
    for command in ("approve", "reject", "postpone", "abort", "retry"):
        text = " ".join(cli(command, "--help").stdout.split())
        helps[command] = text[text.index("--reason TEXT") :].split(" --")[0]
    assert helps["reject"].startswith("--reason TEXT Required: why the request is rejected")
    assert all("Optional" in helps[command] for command in ("approve", "postpone", "abort", "retry"))
    assert "approval email" in helps["approve"] and "ordered again" in helps["retry"] and "aborted" in helps["abort"]
    assert len(set(helps.values())) == 5


def test_a_dry_run_orders_nothing_whatever_bureau_it_is_given(cf: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """The engine simulates a dry run's bureau itself (the console's plan, the API, the command line alike):
    a drop folder handed to a dry run gets no order, and every order is answered."""
    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import DropFolder
    from engine.store.queries import open_store

    workspace = load_workspace(Path(__file__).resolve().parents[1])
    request = RunRequest(ORDER, "op1", Selection(all=True), {"CardsAddonExtProdQueue": False}, dry_run=True)
    engine = open_store(stored.url)
    try:
        result = run_batch(workspace, engine, request, DropFolder(tmp_path / "bureau"))
    finally:
        engine.dispose()
    assert [r.order for r in result.results if r.status == "created"] == [True] * 7
    assert not (tmp_path / "bureau").exists()
