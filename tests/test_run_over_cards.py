"""`cardflow run NAME` for a process that acts on existing cards, on the extended workspace (a new
trigger, state and processes in YAML alone): selection, per-card results, JSON, exit codes, dry
run, resume; and the usage errors that say which kind of run a process takes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau, accept, respond
from conftest import Run, StoreUnderTest
from workspace_copies import copy_reference

ORDER, ACTIVATE, ACTIVATE_ONE = "CardsAddonExtProdBoProcOrderMultiple", "TestBoProcActivateMultiple", "TestProcActivateCard"
DECIDE = "CardsBoProcDecideRequest"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,HR
ap2,Arvid Approver,ap2@example.com,active,approver operator,HR
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
u3,Cecilia,cecilia@example.com,active,,Support
u4,David,david@example.com,active,,Sales
"""


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, extended_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on the extended workspace, with users in the store."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(extended_workspace))
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def produce(cf: Run, folder: Path, *users: str) -> dict[str, int]:
    """Order a card for u1 to u4 at the bureau (queue off) and let the bureau report `users`' cards
    produced (a status file each, then the order-status sync); the card ids by user."""
    holders = [word for user in ("u1", "u2", "u3", "u4") for word in ("--user", user)]
    output = ok(cf("run", ORDER, *holders, "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    (folder / "orders" / "status").mkdir(parents=True)
    for path in (folder / "orders").glob("*.json"):
        if any(f".{user}." in path.name for user in users):
            (folder / "orders" / "status" / path.name).write_text('{"status": "produced"}')
    assert cf("orders", "sync").exit_code == 0
    return {r["user"]: r["card"] for r in output["results"]}


def states(cf: Run) -> dict[str, str]:
    return {card["user"]: card["state"] for card in ok(cf("cards", "--json"))}


def test_every_produced_card_is_activated(cf: Run, stored: StoreUnderTest) -> None:
    """`run TestBoProcActivateMultiple --all` activates every produced card, exit 0, the JSON of the contract."""
    cards = produce(cf, stored.folder, "u1", "u2")
    output = ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--json"))
    assert set(output) == {"batch", "process", "results"} and output["process"] == ACTIVATE
    assert output["results"] == [
        {"card": cards["u1"], "user": "u1", "from": "produced", "to": "active", "status": "done", "reason": None},
        {"card": cards["u2"], "user": "u2", "from": "produced", "to": "active", "status": "done", "reason": None},
    ]
    assert states(cf) == {"u1": "active", "u2": "active", "u3": "ordered", "u4": "ordered"}
    (batch,) = [b for b in ok(cf("batches", "--json")) if b["id"] == output["batch"]]
    assert (batch["process"], batch["status"]) == (ACTIVATE, "complete")


def test_a_refused_card_beside_done_ones_exits_1(cf: Run, stored: StoreUnderTest) -> None:
    """A card in the wrong state is refused with the prerequisite's message, the others are done; exit 1."""
    cards = produce(cf, stored.folder, "u1")
    result = cf("run", ACTIVATE, "--card", str(cards["u1"]), "--card", str(cards["u3"]), "--as", "op1")
    assert result.exit_code == 1, result.output
    assert "Only a produced card can be activated" in result.stdout and "1 card(s) refused" in result.stderr
    assert states(cf)["u1"] == "active" and states(cf)["u3"] == "ordered"


def test_a_dry_run_changes_nothing(cf: Run, stored: StoreUnderTest) -> None:
    """`--dry-run` says what would be done and writes nothing."""
    produce(cf, stored.folder, "u1", "u2")
    before = stored.snapshot()
    output = ok(cf("run", ACTIVATE, "--all", "--as", "op1", "--dry-run", "--json"))
    assert [(r["user"], r["to"], r["status"]) for r in output["results"]] == [("u1", "active", "done"), ("u2", "active", "done")]
    assert stored.snapshot() == before


def test_a_batch_id_resumes_without_firing_twice(cf: Run, stored: StoreUnderTest) -> None:
    """Running the same batch id again fires nothing twice; the cards done are reported as done before."""
    cards = produce(cf, stored.folder, "u1", "u2")
    named = ("--card", str(cards["u1"]), "--card", str(cards["u2"]), "--batch-id", "activate-1", "--as", "op1", "--json")
    ok(cf("run", ACTIVATE, *named))
    again = ok(cf("run", ACTIVATE, *named))
    assert [r["reason"] for r in again["results"]] == ["done by an earlier run of this batch"] * 2
    assert stored.scalar("SELECT count(*) FROM transitions WHERE batch_id = 'activate-1'") == 2


def test_where_reads_the_card_and_the_holder(cf: Run, stored: StoreUnderTest) -> None:
    """`--where` over `card` and `user` selects the produced cards of the Sales department only."""
    produce(cf, stored.folder, "u1", "u3")
    where = "card.state == 'produced' and user.department == 'Sales'"
    output = ok(cf("run", ACTIVATE, "--where", where, "--as", "op1", "--json"))
    assert [r["user"] for r in output["results"]] == ["u1"]
    assert states(cf) == {"u1": "active", "u2": "ordered", "u3": "produced", "u4": "ordered"}


def test_a_where_field_nobody_has_gets_a_did_you_mean(cf: Run, stored: StoreUnderTest) -> None:
    """A card field or holder attribute that does not exist is a usage error with a close name; nothing is written."""
    produce(cf, stored.folder, "u1")
    before = stored.snapshot()
    for where, hint in (("card.stat == 'produced'", "'state'"), ("user.departmnt == 'Sales'", "'department'")):
        result = cf("run", ACTIVATE, "--where", where, "--as", "op1")
        assert result.exit_code == 2 and f"did you mean {hint}" in result.stderr, result.output
    assert stored.snapshot() == before


def test_a_process_over_one_card_runs_by_name_with_a_reason(cf: Run, stored: StoreUnderTest) -> None:
    """The action over one card runs by name too, and keeps the reason in the card's history."""
    cards = produce(cf, stored.folder, "u1")
    ok(cf("run", ACTIVATE_ONE, "--card", str(cards["u1"]), "--reason", "Picked up at the desk", "--as", "op1", "--json"))
    reasons = stored.rows("SELECT reason FROM transitions WHERE card_id = :card AND dest = 'active'", card=cards["u1"])
    assert reasons == [("Picked up at the desk",)]


def test_a_process_with_several_triggers_needs_trigger(cf: Run) -> None:
    """The approvers' process fires approve, reject, postpone: without --trigger the run says to choose (exit 2);
    four-eyes refuses the requests the approver made, the others are approved."""
    approval = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
    ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", *approval))
    ok(cf("run", ORDER, "--user", "u2", "--as", "ap2", "--json", *approval))
    result = cf("run", DECIDE, "--all", "--as", "ap2")
    assert result.exit_code == 2 and "--trigger" in result.stderr
    typo = cf("run", DECIDE, "--all", "--as", "ap2", "--trigger", "aprove")
    assert typo.exit_code == 2 and "did you mean 'approve'" in typo.stderr
    decided = cf("run", DECIDE, "--all", "--as", "ap2", "--trigger", "approve", "--json", *approval)
    assert decided.exit_code == 1
    assert [(r["user"], r["status"]) for r in json.loads(decided.stdout)["results"]] == [("u1", "done"), ("u2", "refused")]
    assert "Four-eyes" in json.loads(decided.stdout)["results"][1]["reason"]


@pytest.mark.parametrize(
    "name, args, words",
    [
        (ACTIVATE, ("--user", "u1"), "choose cards with --card, --all or --where"),
        (ACTIVATE, ("--all", "--production-type", "standard"), "--production-type is for a process that creates cards"),
        (ORDER, ("--card", "1"), "choose users with --user, --all or --where"),
        (ORDER, ("--all", "--trigger", "start"), "--trigger is for a process that acts on cards"),
        (ACTIVATE, ("--card", "1", "--all"), "exactly one of --card, --all or --where"),
        (ACTIVATE, ("--card", "999"), "unknown card(s): 999"),
        ("CardsAddonExtProdBatchSync", ("--all",), "run by the system"),
    ],
    ids=["user over cards", "production type", "card for users", "trigger for users", "two", "unknown", "system"],
)
def test_the_wrong_selection_says_which_to_use(cf: Run, name: str, args: tuple[str, ...], words: str) -> None:
    """Options of the other kind of run, two selections, an unknown card or a system process: exit 2, saying what to use."""
    result = cf("run", name, *args, "--as", "op1")
    assert result.exit_code == 2 and words in result.stderr, result.output


#: Mistakes the command line, the API and scenario steps word alike, in the engine's words (the same
#: literals are asserted for the API in tests/web/test_web_api_processes.py).
USER_OVER_CARDS = (
    f"{ACTIVATE} acts on existing cards: --user is for a process that creates cards; choose cards with --card, --all or --where"
)
CARD_FOR_USERS = (
    f"{ORDER} creates cards for users: --card is for a process that acts on cards; choose users with --user, --all or --where"
)


@pytest.mark.parametrize(
    "name, args, message",
    [
        (ACTIVATE, ("--user", "u1"), USER_OVER_CARDS),
        (ORDER, ("--card", "1"), CARD_FOR_USERS),
        (ACTIVATE, ("--card", "1", "--all"), "choose the cards with exactly one of --card, --all or --where"),
        (ORDER, ("--user", "u1", "--where", "true"), "choose the users with exactly one of --user, --all or --where"),
    ],
    ids=["user over cards", "card for users", "two cards", "two users"],
)
def test_a_wrong_option_gets_the_engines_words(cf: Run, name: str, args: tuple[str, ...], message: str) -> None:
    """`cardflow run` says what the engine's `request_for` says, as the API and a scenario step do (one line, exit 2)."""
    result = cf("run", name, *args, "--as", "op1")
    assert (result.exit_code, result.stderr) == (2, f"cardflow: {message}\n")


def test_a_scenario_step_gets_the_words_of_the_command_line(cf: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """A run step with an option of the other kind of run is an E232 with the message `cardflow run` gives."""
    steps = [f"  - run: {ACTIVATE}\n    as: op1\n    users: [u1]\n", f"  - run: {ORDER}\n    as: op1\n    cards: [1]\n"]
    for step, message in zip(steps, (USER_OVER_CARDS, CARD_FOR_USERS), strict=True):
        path = tmp_path / "wrong.scenario.yaml"
        users = (
            "  - {id: op1, name: Olle, email: op1@example.com, state: active, roles: [operator]}\n"
            "  - {id: u1, name: Alice, email: a@example.com, state: active}\n"
        )
        path.write_text(f"name: wrong\nusers:\n{users}steps:\n{step}")
        result = cf("test", str(path), "--json")
        assert result.exit_code == 1, result.output
        assert [(d["code"], d["message"]) for d in json.loads(result.stdout)["diagnostics"]] == [("E232", message)]


def test_the_shortcuts_stay_all_or_nothing(cf: Run, stored: StoreUnderTest) -> None:
    """`approve CARD...` still refuses every card when one is refused: nothing changes."""
    approval = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
    output = ok(cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *approval))
    first, second = (r["card"] for r in output["results"])
    ok(cf("reject", str(second), "--as", "ap1", "--reason", "No", "--json"))
    result = cf("approve", str(first), str(second), "--as", "ap1")
    assert result.exit_code == 1 and "nothing changed" in result.stderr
    assert states(cf) == {"u1": "requested", "u2": "rejected"}


def test_help_teaches_both_forms(cf: Run) -> None:
    """`run --help` tells the run for users and the run over cards."""
    text = cf("run", "--help").stdout
    assert "--user ID" in text and "--card ID" in text and "--trigger" in text and "over existing cards" in text


def test_explain_names_the_run_that_moved_a_card(cf: Run, stored: StoreUnderTest) -> None:
    """`explain` tells the move a run over cards made with that run's batch id."""
    cards = produce(cf, stored.folder, "u1")
    ok(cf("run", ACTIVATE, "--card", str(cards["u1"]), "--batch-id", "activate-7", "--as", "op1", "--json"))
    story = cf("explain", str(cards["u1"])).stdout
    told = "'activate' by op1 (Activate multiple cards, TestBoProcActivateMultiple) in batch activate-7: produced -> active"
    assert told in story


def test_plan_of_a_process_over_cards_says_how_to_run_it(cf: Run) -> None:
    """`plan` (for users) of a process that acts on cards names the run over cards instead."""
    result = cf("plan", ACTIVATE, "--all")
    assert result.exit_code == 2 and f"`cardflow run {ACTIVATE}` takes --card ID..., --all or --where" in result.stderr


def test_an_actor_without_the_role_writes_nothing(cf: Run, stored: StoreUnderTest) -> None:
    """An approver without the operator role cannot run the operators' process over cards: exit 1, nothing written."""
    produce(cf, stored.folder, "u1")
    before = stored.snapshot()
    result = cf("run", ACTIVATE, "--all", "--as", "ap1")
    assert result.exit_code == 1 and "does not have the operator role" in result.stderr, result.output
    assert stored.snapshot() == before


def test_a_bureau_that_does_not_answer_stops_the_run_and_the_batch_id_finishes_it(
    cf: Run, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying four failed cards by name while the bureau answers 500: three calls, exit 1 with the command
    that finishes the batch; once the bureau answers, that command orders every card, each once."""
    produce(cf, stored.folder)
    status = stored.folder / "orders" / "status"
    for path in (stored.folder / "orders").glob("*.json"):
        (status / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    assert cf("orders", "sync").exit_code == 0
    with FakeBureau() as bureau:
        for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
            monkeypatch.delenv(name)
        for name, value in {**bureau.env(), "CARDFLOW_CONNECTOR": "http", "CARDFLOW_BUREAU_TIMEOUT": "1"}.items():
            monkeypatch.setenv(name, value)
        bureau.then(respond(500), respond(500), respond(500))
        stopped = cf("run", "CardsAddonExtProdProcRetryOrder", "--all", "--as", "op1", "--batch-id", "retry-1", "--json")
        assert stopped.exit_code == 1 and "did not answer 3 orders in a row" in stopped.stderr, stopped.output
        assert "resume with `cardflow run CardsAddonExtProdProcRetryOrder --all --as op1 --batch-id retry-1" in stopped.stderr
        assert set(states(cf).values()) == {"failed"}
        finished = cf("run", "CardsAddonExtProdProcRetryOrder", "--all", "--as", "op1", "--batch-id", "retry-1", "--json")
        assert finished.exit_code == 0, finished.output
        assert set(states(cf).values()) == {"ordered"} and len(bureau.orders) == 4


def test_a_run_over_more_than_a_hundred_cards_counts_them_all_and_shows_no_table(cf: Run, stored: StoreUnderTest) -> None:
    """Over 100 cards the table is left out (the run keeps the first results only, so that memory stays
    flat over a million cards); the summary counts every card, and --json lists every one."""
    many = "".join(f"m{n:03d},Many {n},m{n}@example.com,active,,Sales\n" for n in range(105))
    (stored.folder / "many.csv").write_text(USERS.splitlines()[0] + "\n" + many)
    assert cf("users", "import", "many.csv").exit_code == 0
    approval = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
    ordered = ok(cf("run", ORDER, "--where", "user.department == 'Sales'", "--as", "op1", "--json", *approval))
    requested = len(ordered["results"])
    assert requested == 108  # the 105 and u1, u2, u4
    reject = ("run", DECIDE, "--all", "--as", "ap1", "--trigger", "reject", "--reason", "no budget", *approval)
    assert len(ok(cf(*reject, "--dry-run", "--json"))["results"]) == requested  # every one listed
    decided = cf(*reject)
    assert decided.exit_code == 0, decided.output
    assert f"did {requested} card(s), refused 0" in decided.stdout
    assert f"{requested} results: the table shows at most 100 cards" in decided.stdout
    assert "Many 1" not in decided.stdout and "m001" not in decided.stdout  # no table


def test_orders_refused_past_the_results_kept_are_told_how_to_find(
    cf: Run, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over 100 cards the command line keeps the first results only: an order the bureau refused past them
    is counted, and the command to order again names where to find the cards instead of leaving it out
    (on the reference workspace, whose `failed` is an incident)."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(copy_reference(tmp_path / "reference")))
    many = "".join(f"m{n:03d},Many {n},m{n}@example.com,active,,Sales\n" for n in range(105))
    (stored.folder / "many.csv").write_text(USERS.splitlines()[0] + "\n" + many)
    assert cf("users", "import", "many.csv").exit_code == 0
    ordered = ok(cf("run", ORDER, "--all", "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    (stored.folder / "orders" / "status").mkdir(parents=True)
    for path in (stored.folder / "orders").glob("*.json"):
        (stored.folder / "orders" / "status" / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    assert cf("orders", "sync").exit_code == 0
    failed = sum(state == "failed" for state in states(cf).values())
    assert failed == len(ordered["results"]) > 101
    with FakeBureau() as bureau:
        for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
            monkeypatch.delenv(name)
        for name, value in {**bureau.env(), "CARDFLOW_CONNECTOR": "http"}.items():
            monkeypatch.setenv(name, value)
        bureau.then(*[accept()] * (failed - 1), respond(400, {"message": "unknown layout"}))  # the last card's order
        retried = cf("run", "CardsAddonExtProdProcRetryOrder", "--all", "--as", "op1", "--batch-id", "retry-many")
    assert retried.exit_code == 0, retried.output
    assert f"the card bureau refused 1 of {failed} orders" in retried.stderr, retried.stderr
    assert "`cardflow retry CARD... --as op1" in retried.stderr, retried.stderr
    assert "(`cardflow incidents` lists them) orders them again" in retried.stderr, retried.stderr
    listed = cf("incidents", "--json")
    assert listed.exit_code == 1 and [(g["state"], g["count"]) for g in json.loads(listed.stdout)] == [("failed", 1)]
