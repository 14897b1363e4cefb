"""A run over cards whose trigger waits on a call that decides it is settled, not fired card by card:
the rows are those of the cards fired through the machine, on the store under test."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import ROOT, StoreUnderTest, table_rows

from engine.batch import invoking, over_cards
from engine.batch.calls import Outbox
from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.settled_cards import SettledCards
from engine.clock import frozen
from engine.definitions import compile as compile_module
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import Simulated
from engine.store import db
from engine.store.queries import upsert_users

REQUEST, ISSUE = "CardsBoProcRequestMulitple", "CardsBoProcIssueMultiple"
HOLDERS = 7
#: The holders whose PIN is sent by email (the issue's `pin_notice`, whose `when` reads the card); the others' is printed.
BY_EMAIL = ("u0", "u1", "u2", "u3")
REFUSED = frozenset({"u2", "u5"})  # the printer refuses these: a card of each answer in a chunk


def _users() -> list[dict[str, Any]]:
    people = [{"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com"} for i in range(HOLDERS)]
    people.append({"id": "op1", "name": "Op", "email": "op1@example.com", "roles": '["operator"]'})
    base = {"state": "active", "roles": "[]", "attributes": '{"department": "IT"}', "updated_at": "2026-12-01T00:00:00Z"}
    return [{**base, **person} for person in people]


def _issued(store: StoreUnderTest) -> dict[str, list[dict[str, Any]]]:
    """Request a card for every holder (approved at once; the PIN by email for BY_EMAIL), then issue
    them all in chunks of three, the printer refusing REFUSED: every row of the tables the issue writes."""
    compile_module._CACHE.clear()  # the machine decides afresh: the first card of each answer is fired
    workspace, engine = load_workspace(ROOT), db.connect(store.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    by_print = tuple(f"u{i}" for i in range(HOLDERS) if f"u{i}" not in BY_EMAIL)
    with frozen("2026-12-01T00:00:00Z"):
        for users, method in ((BY_EMAIL, "email"), (by_print, "print")):
            request = RunRequest(REQUEST, "op1", Selection(users=users), {"CardsPINDeliveryMethod": method}, batch_id=method)
            run_batch(workspace, engine, request, Simulated())
    with frozen("2026-12-02T00:00:00Z"):
        issue = CardRunRequest(ISSUE, "op1", CardSelection(all=True), batch_id="issue-1")
        result = run_over_cards(workspace, engine, issue, Simulated(refuse=REFUSED), chunk=3)
    found = table_rows(engine, ("cards", "calls", "transitions", "decisions", "outbox", "batches"))
    engine.dispose()
    expected = [(f"u{i}", "failed" if f"u{i}" in REFUSED else "issued") for i in range(HOLDERS)]
    assert [(r.user, r.dest) for r in result.results] == expected
    return found


def test_settled_issues_write_the_rows_fired_cards_write(
    stored: StoreUnderTest, second_store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row equal, whether the cards were settled or each fired through the machine (its print
    job's call, the move, the audit, the PIN notice for the holders whose PIN goes by email); settled,
    the machine fires once for each answer (accepted, refused), not twice a card."""
    fired: list[int] = []
    original = over_cards._apply
    monkeypatch.setattr(over_cards, "_apply", lambda *args, **kwargs: fired.append(args[2]["id"]) or original(*args, **kwargs))
    settled = _issued(stored)
    assert len(fired) == 2, fired  # the first card of each answer; no first firing at all
    fired.clear()
    monkeypatch.setattr(SettledCards, "of", classmethod(lambda *args: None))
    by_the_machine = _issued(second_store)
    assert len(fired) == 2 * HOLDERS  # each card fired twice: its call recorded, then answered
    assert len(settled["calls"]) == HOLDERS and len(settled["outbox"]) == len(set(BY_EMAIL) - REFUSED)
    for name, rows in settled.items():
        assert rows == by_the_machine[name], name


def test_a_run_over_cards_lets_each_chunks_answers_go(stored: StoreUnderTest) -> None:
    """The outbox of a run over cards lives as long as the run: once a chunk's answered cards are fired
    again, their answers are let go (a run over a million cards kept a million answers)."""
    workspace, engine = load_workspace(ROOT), db.connect(stored.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    held: list[int] = []
    outbox = Outbox(Simulated())
    taken = outbox.take
    outbox.take = lambda: held.append(len(outbox.answers)) or taken()  # type: ignore[method-assign]
    with frozen("2026-12-01T00:00:00Z"):
        run_batch(workspace, engine, RunRequest(REQUEST, "op1", Selection(all=True), {}), Simulated())
        result = run_over_cards(workspace, engine, CardRunRequest(ISSUE, "op1", CardSelection(all=True)), outbox, chunk=3)
    engine.dispose()
    assert result.counts == {"done": HOLDERS + 1} and outbox.answers == {}
    assert max(held) <= 3, held  # a chunk's answers at most, never the run's


def test_a_settled_second_firing_finds_its_answer_by_the_call_recorded(
    stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each card's call is drawn up once (its payload, its key from the calls made before): the second
    firing finds the answer by the call its first firing recorded, not by drawing it up again."""
    drawn: list[int] = []
    original = invoking.call_made
    monkeypatch.setattr(invoking, "call_made", lambda *args: drawn.append(args[1]["id"]) or original(*args))
    fired: list[int] = []
    applied = over_cards._apply
    monkeypatch.setattr(over_cards, "_apply", lambda *args, **kwargs: fired.append(args[2]["id"]) or applied(*args, **kwargs))
    _issued(stored)
    assert len(fired) == 2  # the first card of each answer, fired through the machine once its answer is in
    once_more = {card: 1 + (card in fired) for card in drawn}  # and again where the machine fires it
    assert len(once_more) == HOLDERS and Counter(drawn) == once_more, drawn
