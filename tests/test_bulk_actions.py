"""Bulk actions on the command line, on the store under test: `cardflow run NAME` over the cards
filters find (state, the reason they were moved, process, holder, batch, days; --where narrows),
a dry run first, the run itself, and a batch paused midway and resumed by `cardflow batches`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from sqlalchemy import Engine

from engine.batch.bulk import pause
from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.definitions.files import reference_workspace
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import batches
from engine.store.pages import CardQuery
from engine.store.queries import open_store

ORDER, RETRY = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcRetryOrder"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
u3,Cecilia,cecilia@example.com,active,,Support
u4,David,david@example.com,active,,Sales
"""
UNAVAILABLE, LAYOUT = "bureau unavailable", "no such layout"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def failed(run: Run, stored: StoreUnderTest) -> dict[str, int]:
    """Cards ordered for u1 to u4 (the queue off); the bureau fails u1's, u2's and u4's for being
    unavailable and u3's for its layout. The card ids by user."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    holders = [word for user in ("u1", "u2", "u3", "u4") for word in ("--user", user)]
    output = ok(run("run", ORDER, *holders, "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    orders = stored.folder / "orders"
    (orders / "status").mkdir()
    for path in orders.glob("*.json"):
        why = LAYOUT if ".u3." in path.name else UNAVAILABLE
        (orders / "status" / path.name).write_text(json.dumps({"status": "failed", "reason": why}))
    assert run("orders", "sync").exit_code == 0
    return {r["user"]: r["card"] for r in output["results"]}


@pytest.fixture
def engine(stored: StoreUnderTest) -> Iterator[Engine]:
    """The store under test, writable, for the engine's calls."""
    engine = open_store(stored.url)
    yield engine
    engine.dispose()


def unavailable_reason(run: Run) -> str:
    """The reason the failed cards of the bureau's outage were moved for, as `incidents` groups them."""
    groups = json.loads(run("incidents", "--json").stdout)
    (reason,) = [g["reason"] for g in groups if g["kind"] == "cards" and UNAVAILABLE in (g["reason"] or "")]
    return str(reason)


def states(run: Run) -> dict[str, str]:
    return {card["user"]: card["state"] for card in ok(run("cards", "--json"))}


def test_a_bulk_retry_over_one_reason_previews_then_retries_that_group(run: Run, failed: dict[str, int]) -> None:
    """`--state failed --moved-because REASON` finds the outage's cards alone: the dry run shows them
    and writes nothing, the run retries them (exit 0), and their incidents group is gone."""
    reason = unavailable_reason(run)
    asked = ("run", RETRY, "--state", "failed", "--moved-because", reason, "--as", "op1", "--json")
    planned = ok(run(*asked, "--dry-run"))
    assert sorted(r["card"] for r in planned["results"]) == sorted(failed[u] for u in ("u1", "u2", "u4"))
    assert {r["status"] for r in planned["results"]} == {"done"}
    assert set(states(run).values()) == {"failed"}  # the dry run wrote nothing
    done = ok(run(*asked))
    assert {r["user"]: r["to"] for r in done["results"]} == {"u1": "ordered", "u2": "ordered", "u4": "ordered"}
    assert states(run) == {"u1": "ordered", "u2": "ordered", "u3": "failed", "u4": "ordered"}
    groups = json.loads(run("incidents", "--json").stdout)
    (left,) = [g for g in groups if g["kind"] == "cards"]  # the layout's card alone needs a person now
    assert LAYOUT in left["reason"] and left["count"] == 1
    (batch,) = [b for b in ok(run("batches", "--json")) if b["id"] == done["batch"]]
    assert (batch["actor"], batch["trigger"], batch["status"]) == ("op1", "retry", "complete")


def test_where_narrows_what_the_filters_find(run: Run, failed: dict[str, int]) -> None:
    """Filters and --where together: the failed cards of holders in Sales, u3 (Support) left alone."""
    result = ok(run("run", RETRY, "--state", "failed", "--where", "user.department == 'Sales' and card.user != 'u2'",
                    "--as", "op1", "--json"))  # fmt: skip
    assert sorted(r["user"] for r in result["results"]) == ["u1", "u4"]
    assert states(run) == {"u1": "ordered", "u2": "failed", "u3": "failed", "u4": "ordered"}


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (("--state", "faild"), f"the cards {RETRY} acts on have no state 'faild' (did you mean 'failed'?)"),
        (("--card-process", "CardsBoProcRequestMulitple"), f"CardsBoProcRequestMulitple: {RETRY} acts on cards of"),
        (("--state", "failed", "--all"), "choose the cards with filters or with --card/--all, not both"),
        (("--moved-from", "3 May"), "Invalid value for '--moved-from'"),
    ],
)  # fmt: skip
def test_filters_that_cannot_find_anything_are_usage_errors(
    run: Run, failed: dict[str, int], given: tuple[str, ...], says: str
) -> None:
    result = run("run", RETRY, *given, "--as", "op1")
    assert result.exit_code == 2 and says in result.output, result.output
    assert set(states(run).values()) == {"failed"}


def test_a_filter_for_a_process_that_creates_cards_names_the_mistake(run: Run, failed: dict[str, int]) -> None:
    result = run("run", ORDER, "--state", "failed", "--as", "op1")
    assert result.exit_code == 2 and "--state (a card filter) is for a process that acts on cards" in result.output


def test_days_of_the_last_move_filter_the_cards(run: Run, failed: dict[str, int]) -> None:
    """No card was moved before 2000: nothing to do, nothing written; today's moves are found."""
    before = run("run", RETRY, "--state", "failed", "--moved-to", "1999-12-31", "--as", "op1", "--json")
    assert ok(before)["results"] == []
    today = ok(run("run", RETRY, "--state", "failed", "--moved-from", "2000-01-01", "--dry-run", "--as", "op1", "--json"))
    assert len(today["results"]) == 4


def test_a_paused_bulk_action_stops_after_its_chunk_and_resumes_where_it_stopped(
    run: Run, stored: StoreUnderTest, engine: Engine, failed: dict[str, int]
) -> None:
    """Paused after its first chunk (a card a chunk), the run stops with one card done and the batch
    `paused` by whoever paused it; `batches resume` retries the others, never the first again."""
    workspace = load_workspace(reference_workspace()).require_valid()
    query = CardQuery(state="failed", reason=unavailable_reason(run))
    request = CardRunRequest(RETRY, "op1", CardSelection(query=query), batch_id="bulk-1")

    def pause_after_the_first_chunk(cards: int) -> None:
        pause(workspace, engine, "bulk-1", "op1")

    first = run_over_cards(workspace, engine, request, DropFolder(stored.folder / "orders"), chunk=1,
                           progress=pause_after_the_first_chunk)  # fmt: skip
    assert (first.paused_by, [r.user for r in first.results]) == ("op1", ["u1"])
    (batch,) = [b for b in ok(run("batches", "--json")) if b["id"] == "bulk-1"]
    assert (batch["status"], batch["paused_by"], batch["created"]) == ("paused", "op1", 1)
    assert states(run) == {"u1": "ordered", "u2": "failed", "u3": "failed", "u4": "failed"}

    resumed = ok(run("batches", "resume", "bulk-1", "--as", "op1", "--json"))
    assert [r["user"] for r in resumed["results"]] == ["u2", "u4"]
    assert states(run) == {"u1": "ordered", "u2": "ordered", "u3": "failed", "u4": "ordered"}
    (batch,) = [b for b in ok(run("batches", "--json")) if b["id"] == "bulk-1"]
    assert (batch["status"], batch["created"]) == ("complete", 3)
    assert stored.scalar("SELECT count(*) FROM transitions WHERE batch_id = 'bulk-1'") == 3


def test_pausing_what_cannot_be_paused_says_why(run: Run, failed: dict[str, int]) -> None:
    done = ok(run("run", RETRY, "--card", str(failed["u1"]), "--as", "op1", "--json"))
    complete = run("batches", "pause", done["batch"], "--as", "op1")
    assert complete.exit_code == 1 and "is complete, not running: there is nothing to pause" in complete.output
    again = run("batches", "resume", done["batch"], "--as", "op1")
    assert again.exit_code == 1 and "is complete: there is nothing to resume" in again.output
    (order,) = [b["id"] for b in ok(run("batches", "--json")) if b["process"] == ORDER]
    users = run("batches", "pause", order, "--as", "op1")
    assert users.exit_code == 2 and "created cards for users" in users.output
    unknown = run("batches", "pause", "nope", "--as", "op1")
    assert unknown.exit_code == 2 and "unknown batch nope" in unknown.output


def test_pausing_needs_a_person_who_may_start_the_process(run: Run, engine: Engine, failed: dict[str, int]) -> None:
    workspace = load_workspace(reference_workspace()).require_valid()
    running = {"id": "b", "process": RETRY, "actor": "op1", "options": "{}", "fingerprint": "f", "selection": "{}"}
    with engine.begin() as connection:  # a bulk retry another operator runs now
        batches.add_batch(connection, {**running, "status": "running", "created_at": "2026-01-01", "trigger": "retry"})
    result = run("batches", "pause", "b", "--as", "u1")
    assert result.exit_code == 1 and "u1 does not have the operator role" in result.output
    assert pause(workspace, engine, "b", "op1")["status"] == "paused"


def test_the_run_help_teaches_the_filters(cli: Run) -> None:
    shown = cli("run", "--help").output
    assert all(flag in shown for flag in ("--state", "--moved-because", "--card-process", "--moved-from", "batches pause"))


def test_filters_that_find_no_card_say_where_the_right_words_are(run: Run, failed: dict[str, int]) -> None:
    """A reason mistyped finds nothing: nothing done, exit 0, and a line naming `cards` and `incidents`."""
    result = run("run", RETRY, "--state", "failed", "--moved-because", "bureau unavailble", "--as", "op1")
    assert result.exit_code == 0 and "did 0 card(s)" in result.stdout
    assert "the filters found no card this process can act on now" in result.stderr and "cardflow incidents" in result.stderr
    assert set(states(run).values()) == {"failed"}
