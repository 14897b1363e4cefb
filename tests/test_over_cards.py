"""The engine's run of a process over existing cards (`engine.batch.over_cards`), called as the
command line, the API and scenarios call it, on the extended workspace (processes the code never heard of)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest, statements_run

from engine.batch.over_cards import CardRunRequest, CardSelection, creates_cards, run_over_cards
from engine.batch.status import sync_order_status
from engine.definitions.workspace import load_workspace
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Simulated
from engine.outbound.connectors import connector_from
from engine.store import calls
from engine.store.queries import open_store

ORDER, ACTIVATE = "CardsAddonExtProdBoProcOrderMultiple", "TestBoProcActivateMultiple"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
op9,Otto Former,op9@example.com,inactive,operator,IT
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
u3,Cecilia,cecilia@example.com,active,,Support
"""


def produced(run: Run, folder: Path, *users: str) -> dict[str, int]:
    """Order a card for u1, u2 and u3 straight at the bureau and let the bureau report `users`' cards
    produced (the order-status sync); every card id by user."""
    args = ("--user", "u1", "--user", "u2", "--user", "u3", "--set", "CardsAddonExtProdQueue=false")
    result = run("run", ORDER, *args, "--as", "op1", "--json")
    assert result.exit_code == 0, result.output
    cards = {r["user"]: r["card"] for r in json.loads(result.stdout)["results"]}
    (folder / "orders" / "status").mkdir(parents=True)
    for path in (folder / "orders").glob("*.json"):
        if any(f".{user}." in path.name for user in users):
            (folder / "orders" / "status" / path.name).write_text('{"status": "produced"}')
    assert run("orders", "sync").exit_code == 0
    return cards


@pytest.fixture
def ready(run: Run, stored: StoreUnderTest, extended_workspace: Path) -> Iterator[dict[str, Any]]:
    """The extended workspace, the store with users, and cards: u1's and u2's produced, u3's ordered."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    cards = produced(run, stored.folder, "u1", "u2")
    engine = open_store(stored.location)
    yield {"workspace": load_workspace(extended_workspace), "engine": engine, "cards": cards}
    engine.dispose()


def activate(ready: dict[str, Any], selection: CardSelection, **fields: Any) -> Any:
    request = CardRunRequest(ACTIVATE, fields.pop("actor", "op1"), selection, **fields)
    return run_over_cards(ready["workspace"], ready["engine"], request, Simulated())


def states(stored: StoreUnderTest) -> dict[str, str]:
    return dict(stored.rows("SELECT user_id, state FROM cards"))  # type: ignore[arg-type]


def test_every_card_the_trigger_may_move_is_done(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """`all` fires the trigger on every card in a state it may leave: the produced cards become active."""
    run = activate(ready, CardSelection(all=True))
    cards = ready["cards"]
    assert [r.as_json() for r in run.results] == [
        {"card": cards["u1"], "user": "u1", "from": "produced", "to": "active", "status": "done", "reason": None},
        {"card": cards["u2"], "user": "u2", "from": "produced", "to": "active", "status": "done", "reason": None},
    ]
    assert states(stored) == {"u1": "active", "u2": "active", "u3": "ordered"}
    assert set(run.as_json()) == {"batch", "process", "results"}
    assert stored.rows("SELECT process, status, created, skipped FROM batches WHERE id = :id", id=run.batch) == [
        (ACTIVATE, "complete", 2, 0)
    ]


def test_a_card_in_the_wrong_state_is_refused_and_the_others_done(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """Per card, not all or nothing: the ordered card is refused with the prerequisite's message, the produced one done."""
    cards = ready["cards"]
    run = activate(ready, CardSelection(cards=(cards["u3"], cards["u1"])))
    assert [(r.card, r.status, r.reason) for r in run.results] == [
        (cards["u3"], "refused", "Only a produced card can be activated"),
        (cards["u1"], "done", None),
    ]
    assert states(stored) == {"u1": "active", "u2": "produced", "u3": "ordered"}


@pytest.mark.parametrize("keep", [False, 1])
def test_a_run_counts_every_card_and_keeps_the_results_it_is_asked_to(
    ready: dict[str, Any], stored: StoreUnderTest, keep: bool | int
) -> None:
    """A run over a million cards keeps its counts, not a million results: with `keep_results` a number,
    the first that many are kept, with False none; every card is counted either way."""
    cards = ready["cards"]
    request = CardRunRequest(ACTIVATE, "op1", CardSelection(cards=(cards["u3"], cards["u1"], cards["u2"])))
    run = run_over_cards(ready["workspace"], ready["engine"], request, Simulated(), keep_results=keep)
    assert run.counts == {"refused": 1, "done": 2} and run.total == 3
    assert [(r.card, r.status) for r in run.results] == ([] if keep is False else [(cards["u3"], "refused")])
    assert states(stored) == {"u1": "active", "u2": "active", "u3": "ordered"}


def test_a_dry_run_writes_nothing(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """A dry run tells what would be done and leaves the store as it was."""
    before = stored.snapshot()
    run = activate(ready, CardSelection(all=True), dry_run=True)
    assert [(r.status, r.dest) for r in run.results] == [("done", "active"), ("done", "active")]
    assert stored.snapshot() == before


def test_running_a_batch_again_fires_nothing_twice(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """Running the batch id again reports the cards done before and writes no second move."""
    cards = ready["cards"]
    selection = CardSelection(cards=(cards["u1"], cards["u2"]))
    activate(ready, selection, batch_id="act-1")
    again = activate(ready, selection, batch_id="act-1")
    assert [(r.status, r.reason) for r in again.results] == [("done", "done by an earlier run of this batch")] * 2
    assert stored.scalar("SELECT count(*) FROM transitions WHERE batch_id = 'act-1'") == 2
    with pytest.raises(Refused):
        activate(ready, CardSelection(all=True), batch_id="act-1")


def test_where_reads_the_card_and_its_holder(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """`where` selects by the card's fields and the holder's attributes."""
    run = activate(ready, CardSelection(where="card.state == 'produced' and user.name == 'Bertil'"))
    assert [r.user for r in run.results] == ["u2"]
    assert states(stored) == {"u1": "produced", "u2": "active", "u3": "ordered"}


def test_a_selection_that_finds_no_card_says_why(ready: dict[str, Any], run: Run) -> None:
    """A --where that matches none of the cards the trigger may leave, or states no card is in, do
    nothing and say so: how many cards were there, in which states of which processes."""
    missed = activate(ready, CardSelection(where="user.name == 'Nobody'"))
    assert missed.total == 0 and missed.nothing_selected == (
        f"no card to act on: --where matched none of the 2 card(s) 'activate' may leave, in produced (of {ORDER})"
    )
    assert missed.as_json()["results"] == [] and missed.as_json()["nothing_selected"] == missed.nothing_selected
    assert activate(ready, CardSelection(where="user.name == 'Alice'")).nothing_selected is None  # u1's: done
    workspace = ("--workspace", str(ready["workspace"].root))
    shown = run("run", ACTIVATE, "--where", "user.name == 'Nobody'", "--as", "op1", *workspace)
    assert shown.exit_code == 0 and "--where matched none of the 1 card(s) 'activate' may leave" in shown.stdout, shown.output
    assert run("run", ACTIVATE, "--all", "--as", "op1", *workspace).exit_code == 0  # u2's: none is left to activate
    empty = activate(ready, CardSelection(all=True), dry_run=True)
    assert empty.nothing_selected == f"no card to act on: 'activate' leaves cards in produced (of {ORDER}), and none is there now"


@pytest.mark.parametrize(
    "selection, fields, words",
    [
        (CardSelection(where="card.stat == 'produced'"), {}, "did you mean 'state'"),
        (CardSelection(where="user.departmnt == 'Sales'"), {}, "did you mean 'department'"),
        (
            CardSelection(where="card.state in ['prodused']"),
            {},
            "card.state is never 'prodused' for the cards this run acts on (did you mean 'produced'",
        ),
        (CardSelection(where="user.state == 'actve'"), {}, "user.state is never 'actve' (did you mean 'active'"),
        (
            CardSelection(where="card.state == 'PRODUCED'"),
            {},
            "card.state is never 'PRODUCED' for the cards this run acts on (did you mean 'produced'",
        ),
        (CardSelection(cards=(999,)), {}, "unknown card(s): 999"),
        (CardSelection(all=True), {"trigger": "activat"}, "did you mean 'activate'"),
        (CardSelection(all=True), {"actor": "nobody"}, "no such user"),
        (CardSelection(all=True, where="card.id > 0"), {}, "exactly one of --card, --all or --where"),
    ],
    ids=[
        "card field",
        "user attribute",
        "card state",
        "user state",
        "state's case",
        "unknown card",
        "trigger",
        "actor",
        "two selections",
    ],
)
def test_a_mistake_in_the_request_changes_nothing(
    ready: dict[str, Any], stored: StoreUnderTest, selection: CardSelection, fields: dict[str, str], words: str
) -> None:
    """An unknown card, field, trigger or actor is a usage error before anything is written."""
    before = stored.snapshot()
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        activate(ready, selection, **fields)
    assert stored.snapshot() == before


def test_an_inactive_actor_is_refused(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """The actor must be active: an inactive operator's run is refused, nothing written."""
    before = stored.snapshot()
    with pytest.raises(Refused, match="inactive"):
        activate(ready, CardSelection(all=True), actor="op9")
    assert stored.snapshot() == before


def test_a_process_that_creates_cards_is_not_run_over_cards(ready: dict[str, Any]) -> None:
    """One name, one kind of run: a process that creates cards selects users, and `creates_cards` tells them apart."""
    workspace = ready["workspace"]
    assert creates_cards(workspace.process(ORDER)) and not creates_cards(workspace.process(ACTIVATE))
    with pytest.raises(UsageError, match="creates cards"):
        run_over_cards(workspace, ready["engine"], CardRunRequest(ORDER, "op1", CardSelection(all=True)), Simulated())


def test_a_card_whose_holder_would_get_a_second_open_card_is_refused_alone(
    run: Run, stored: StoreUnderTest, extended_workspace: Path
) -> None:
    """A move the store would refuse (a second open card of an exclusive process) is refused before its
    order is recorded or placed, and the other cards of its chunk are still done."""
    _without_the_open_card_rule(extended_workspace)
    cards = _refused_twice(run, stored)
    (new,) = [card["id"] for card in json.loads(run("cards", "--user", "u1", "--json").stdout) if card["id"] != cards["u1"]]
    engine = open_store(stored.location)
    ready = {"workspace": load_workspace(extended_workspace), "engine": engine}
    request = CardRunRequest("CardsAddonExtProdProcRetryOrder", "op1", CardSelection(cards=(cards["u1"], cards["u2"])))
    before = _calls_of(ready["engine"])
    result = run_over_cards(ready["workspace"], ready["engine"], request, Simulated())
    assert [(r.card, r.status, r.reason) for r in result.results] == [
        (
            cards["u1"],
            "refused",
            f"retry refused, nothing changed: user u1 already has open card {new} of 'Order multiple cards' (group card_order)",
        ),
        (cards["u2"], "done", None),
    ]
    made = _calls_of(ready["engine"])
    engine.dispose()
    assert (made.count(cards["u1"]), made.count(cards["u2"])) == (before.count(cards["u1"]), before.count(cards["u2"]) + 1)


def _without_the_open_card_rule(workspace: Path) -> None:
    """The retry's prerequisite on the holder's open cards taken out of `workspace`."""
    retry = workspace / "processes" / "CardsAddonExtProdProcRetryOrder.yaml"
    text = retry.read_text(encoding="utf-8")
    retry.write_text(text[: text.index("  - rule: options.CardsAddonExtProdMultipleCards")], encoding="utf-8")


def _refused_twice(run: Run, stored: StoreUnderTest) -> dict[str, int]:
    """Order cards for u1-u3, let the bureau refuse u1's and u2's, and order u1 a new one (open): every
    first card id by user."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    cards = produced(run, stored.folder)
    (stored.folder / "orders" / "status").mkdir(exist_ok=True)
    for path in (stored.folder / "orders").glob("*.json"):
        if ".u1." in path.name or ".u2." in path.name:
            (stored.folder / "orders" / "status" / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    assert run("orders", "sync").exit_code == 0
    assert run("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0  # u1's new card is open
    return cards


def _retried(run: Run, stored: StoreUnderTest, workspace: Path, users: tuple[str, ...]) -> tuple[list[Any], list[str]]:
    """Retry the refused cards of `users` (`_refused_twice`) in a run over cards: its results and the statements it ran."""
    cards = _refused_twice(run, stored)
    engine = open_store(stored.location)
    request = CardRunRequest("CardsAddonExtProdProcRetryOrder", "op1", CardSelection(cards=tuple(cards[user] for user in users)))
    with statements_run(engine) as statements:
        result = run_over_cards(load_workspace(workspace), engine, request, Simulated())
    engine.dispose()
    return [(r.user, r.status, r.reason) for r in result.results], statements


def _open_cards_counted(statements: list[str]) -> bool:
    return any("GROUP BY cards.user_id, cards.process" in statement for statement in statements)


def test_a_run_over_cards_counts_open_cards_for_a_prerequisite_that_reads_them(
    run: Run, stored: StoreUnderTest, extended_workspace: Path
) -> None:
    """The holders' open cards are counted for the chunk where a prerequisite reads `user.open_cards`:
    a holder with another open card order is refused by it, the other holder's card is ordered again."""
    results, statements = _retried(run, stored, extended_workspace, ("u1", "u2"))
    refused = 'The user has another open card order and "Allow multiple card orders" is off'
    assert results == [("u1", "refused", refused), ("u2", "done", None)]
    assert _open_cards_counted(statements)


def test_a_run_over_cards_counts_no_open_cards_where_nothing_reads_them(
    run: Run, stored: StoreUnderTest, extended_workspace: Path
) -> None:
    """Where no prerequisite, guard or effect's `when` of the step reads `user.open_cards` (and no
    `fire` effect reaches other cards), a run over cards does not count them."""
    _without_the_open_card_rule(extended_workspace)
    results, statements = _retried(run, stored, extended_workspace, ("u2",))
    assert results == [("u2", "done", None)]
    assert not _open_cards_counted(statements)


def _calls_of(engine: Any) -> list[int]:
    """The card of each call the store holds, oldest first."""
    with engine.connect() as connection:
        rows = list(calls.listing(connection))
        return [row["card_id"] for row in rows]


def test_a_dry_run_asks_the_simulated_bureau_not_the_real_one(ready: dict[str, Any], stored: StoreUnderTest) -> None:
    """A dry run that would order a card (retry) writes no order file, whatever connector it is given."""
    folder = stored.folder / "orders"
    (folder / "status").mkdir(exist_ok=True)
    for path in folder.glob("*.u3.*.json"):
        (folder / "status" / path.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    engine = ready["engine"]
    sync_order_status(ready["workspace"], engine, connector_from("dropfolder", str(folder)))
    files = sorted(folder.glob("*.json"))
    request = CardRunRequest("CardsAddonExtProdProcRetryOrder", "op1", CardSelection(all=True), dry_run=True)
    result = run_over_cards(ready["workspace"], engine, request, connector_from("dropfolder", str(folder)))
    assert [(r.user, r.dest, r.status) for r in result.results] == [("u3", "ordered", "done")]
    assert sorted(folder.glob("*.json")) == files
