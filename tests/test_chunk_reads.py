"""A run over cards reads and writes the store a chunk at a time, not a card at a time
(engine.batch.chunk_reads): issuing 40 approved cards takes as many statements as issuing 4, and
each card still gets its own print job, call row and audit row, on the store under test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from sqlalchemy import event

from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.definitions.files import reference_workspace
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import DropFolder
from engine.store.queries import open_store

REQUEST, ISSUE = "CardsBoProcRequestMulitple", "CardsBoProcIssueMultiple"


def approved(run: Run, stored: StoreUnderTest, holders: int) -> None:
    """`holders` users and an operator in the store, each user with an approved card."""
    rows = ["id,name,email,state,roles", "op1,Olle Operator,op1@example.com,active,operator"]
    rows += [f"u{n:03d},User {n},u{n}@example.com,active," for n in range(holders)]
    (stored.folder / "users.csv").write_text("\n".join(rows) + "\n")
    assert run("users", "import", "users.csv").exit_code == 0
    made = run("run", REQUEST, "--where", "user.id != 'op1'", "--as", "op1", "--json")
    assert made.exit_code == 0, made.output
    assert {r["state"] for r in json.loads(made.stdout)["results"]} == {"approved"}


def issue_counting_statements(stored: StoreUnderTest, jobs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    """Issue every approved card in one chunk; the run, and the SQL statements it executed."""
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(jobs))
    engine = open_store(stored.location)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    request = CardRunRequest(ISSUE, "op1", CardSelection(all=True))
    result = run_over_cards(load_workspace(reference_workspace()), engine, request, DropFolder(jobs.parent / "orders"))
    engine.dispose()
    return result, statements


@pytest.mark.parametrize("holders", [4, 40])
def test_each_issued_card_has_its_print_job_call_and_audit_row(
    run: Run, stored: StoreUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holders: int
) -> None:
    approved(run, stored, holders)
    result, _ = issue_counting_statements(stored, tmp_path / "jobs", monkeypatch)
    assert result.counts == {"done": holders}
    assert {r.dest for r in result.results} == {"issued"}
    jobs = [json.loads(path.read_text()) for path in sorted((tmp_path / "jobs").glob("*.json"))]
    assert sorted(job["card"]["id"] for job in jobs) == sorted(r.card for r in result.results)
    assert {(job["card"]["state"], job["holder"]["name"].startswith("User")) for job in jobs} == {("approved", True)}
    assert stored.scalar("SELECT count(*) FROM calls WHERE status = 'answered' AND outcome = 'accepted'") == holders
    assert stored.scalar("SELECT count(*) FROM transitions WHERE trigger = 'issue' AND dest = 'issued'") == holders
    assert stored.scalar("SELECT count(*) FROM cards WHERE state = 'issued'") == holders


def test_ten_times_the_cards_take_no_more_statements(
    run: Run, stored: StoreUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The store is read and written once a chunk for what each firing needs (holders, open cards,
    batches, earlier orders and calls; the moves, audit rows and calls): 4 cards and 40 cards in one
    chunk execute as many statements, but for the decision trace, written by the first run and found
    stored by the second."""
    approved(run, stored, 4)
    _, few = issue_counting_statements(stored, tmp_path / "few", monkeypatch)
    # forty more approved cards beside the four issued ones
    other = request.getfixturevalue("tmp_path_factory").mktemp("many")
    rows = [f"v{n:03d},Holder {n},v{n}@example.com,active," for n in range(40)]
    (stored.folder / "more.csv").write_text("id,name,email,state,roles\n" + "\n".join(rows) + "\n")
    assert run("users", "import", "more.csv").exit_code == 0
    assert run("run", REQUEST, "--where", "user.id >= 'v'", "--as", "op1").exit_code == 0
    result, many = issue_counting_statements(stored, other / "jobs", monkeypatch)
    assert result.counts == {"done": 40}
    trace_writes = [sum(statement.startswith("INSERT INTO decisions") for statement in ran) for ran in (few, many)]
    assert trace_writes == [1, 0]
    assert len(many) == len(few) - 1


def test_the_calls_made_before_are_counted_for_more_cards_than_one_statement_reads(stored: StoreUnderTest) -> None:
    """A chunk's earlier calls are read for all its cards at once (`calls.made_before_each`), in
    statements of IDS cards at most: each card's answered and cancelled calls by connector and
    operation, as `made_before` counts them one card at a time; pending ones are not counted."""
    from engine.batch.calls import CALL_COLUMNS
    from engine.store import calls, queries
    from engine.store.db import connect
    from engine.store.driver import IDS

    cards = range(1, IDS + 300)
    at, statuses = "2026-12-01T00:00:00Z", ("answered", "cancelled", "pending")
    rows = [
        (f"printer%print%card{card}.{n}", card, "printer", "print", "{}", ISSUE, "issue", "approved", "op1", "b1", None,
         status, 0, at, at)
        for card in cards
        for n, status in enumerate(statuses[: card % 3 + 1], start=1)
    ]  # fmt: skip
    engine = connect(stored.location)
    with engine.begin() as connection:
        queries.insert_tuples(connection, "calls", CALL_COLUMNS, rows)
        each = calls.made_before_each(connection, list(cards))
        one_by_one = {
            card: calls.made_before(connection, card, "printer", "print") for card in (1, 2, 3, IDS, IDS + 1, IDS + 299)
        }
    engine.dispose()
    assert {card: each.get((card, "printer", "print"), 0) for card in one_by_one} == one_by_one
    assert sum(each.values()) == sum(min(card % 3 + 1, 2) for card in cards)
