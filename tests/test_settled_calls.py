"""New cards whose start waits on their order's answer are settled, not fired one by one: the rows
are those of the cards fired through the machine, on the store under test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, StoreUnderTest, statements_run, table_rows

from engine.batch import run as run_module
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.clock import frozen
from engine.definitions import compile as compile_module
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import Simulated
from engine.store import db
from engine.store.queries import upsert_users

ORDER_MULTIPLE, ORDER_ONE = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcOrder"
NO_QUEUE = {"CardsAddonExtProdQueue": False}
CASES = [
    (ORDER_MULTIPLE, NO_QUEUE),  # one open card order a user: each card takes the group's key
    (ORDER_MULTIPLE, {**NO_QUEUE, "CardsAddonExtProdMultipleCards": True, "CardsAddonExtProdOrderedEmail": False}),
    (ORDER_ONE, NO_QUEUE),
]
HOLDERS = 7
REFUSED = frozenset({"u2", "u5"})  # the bureau refuses these: a card of each answer in a chunk


def _users() -> list[dict[str, Any]]:
    people = [
        {"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com", "locale": "sv" if i % 2 else None}
        for i in range(HOLDERS)
    ]
    people.append({"id": "op1", "name": "Op", "email": "op1@example.com", "roles": '["operator"]'})
    base = {"state": "active", "roles": "[]", "attributes": '{"department": "IT"}', "updated_at": "2026-12-01T00:00:00Z"}
    return [{**base, **person} for person in people]


def _run(store: StoreUnderTest, process: str, options: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Run `process` for every holder in chunks of three (one user alone in the last), then every row of
    the batch's tables but for what differs by design."""
    compile_module._CACHE.clear()  # the machine decides afresh: the first card of each answer is fired
    engine = db.connect(store.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(process, "op1", Selection(users=tuple(f"u{i}" for i in range(HOLDERS))), options, batch_id="b1")
    with frozen("2026-12-01T00:00:00Z"):
        result = run_batch(load_workspace(ROOT), engine, request, Simulated(refuse=REFUSED), chunk=3)
    found = table_rows(engine, ("cards", "calls", "orders", "transitions", "decisions", "outbox", "batches"))
    engine.dispose()
    assert result.counts == {"ordered": HOLDERS - len(REFUSED), "failed": len(REFUSED)}
    return found


@pytest.mark.parametrize(("process", "options"), CASES, ids=[f"{p}-{sorted(o)}" for p, o in CASES])
def test_settled_orders_and_answers_write_the_rows_fired_cards_write(
    stored: StoreUnderTest, second_store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch, process: str, options: dict[str, Any]
) -> None:
    """Every row of the batch equal, whether its cards were settled or each fired through the machine;
    settled, the machine fires once for each answer (accepted, refused), not twice a card."""
    fired: list[int] = []
    original = run_module.fire
    monkeypatch.setattr(run_module, "fire", lambda *args, **kwargs: fired.append(args[2]["id"]) or original(*args, **kwargs))
    settled = _run(stored, process, options)
    assert len(fired) == 2, fired  # the first card of each answer; no first firing at all
    fired.clear()
    monkeypatch.setattr(run_module, "settled_orders", lambda *args: None)
    monkeypatch.setattr(run_module, "settled_answers", lambda *args: None)
    by_the_machine = _run(second_store, process, options)
    assert len(fired) == 2 * HOLDERS  # each card fired twice: its order recorded, then answered
    assert {name: len(rows) for name, rows in settled.items()} == {name: len(rows) for name, rows in by_the_machine.items()}
    assert len(settled["calls"]) == HOLDERS and len(settled["outbox"]) == (
        0 if options.get("CardsAddonExtProdOrderedEmail") is False else HOLDERS - len(REFUSED)
    )
    for name, rows in settled.items():
        assert rows == by_the_machine[name], name


def test_the_answered_firing_reads_no_open_cards_where_every_user_has_a_card_of_the_batch(stored: StoreUnderTest) -> None:
    """One open card order a user: a chunk reads its users' open cards to refuse a second one, once;
    the second firing, whose users all have their card of the batch, does not read them again."""
    compile_module._CACHE.clear()
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(ORDER_MULTIPLE, "op1", Selection(users=tuple(f"u{i}" for i in range(HOLDERS))), NO_QUEUE, batch_id="b1")
    with frozen("2026-12-01T00:00:00Z"), statements_run(engine) as run:
        result = run_batch(load_workspace(ROOT), engine, request, Simulated(), chunk=3)
    engine.dispose()
    assert result.counts == {"ordered": HOLDERS}
    open_cards_read = [statement for statement in run if "count(" in statement.lower() and "GROUP BY cards.user_id" in statement]
    assert len(open_cards_read) == 3, run  # a chunk's, once: chunks of 3, 3 and 1 users


def test_a_guard_of_the_answered_firing_reads_the_open_cards_counted_afresh(stored: StoreUnderTest, workspace: Path) -> None:
    """Where the answered firing's guard reads `user.open_cards`, the chunk counts them again for it:
    the holder's new card is among them (1), not the count its prerequisites read before it was made (0)."""
    process = workspace / "processes" / f"{ORDER_MULTIPLE}.yaml"
    ordered = "not options.CardsAddonExtProdQueue and bureau.accepted\n"
    text = process.read_text(encoding="utf-8")
    assert ordered in text
    process.write_text(text.replace(ordered, ordered[:-1] + " and user.open_cards < 5\n", 1), encoding="utf-8")
    compile_module._CACHE.clear()
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(ORDER_MULTIPLE, "op1", Selection(users=tuple(f"u{i}" for i in range(HOLDERS))), NO_QUEUE, batch_id="b1")
    with frozen("2026-12-01T00:00:00Z"):
        result = run_batch(load_workspace(workspace), engine, request, Simulated(), chunk=3)
    rows = table_rows(engine, ("transitions", "decisions"))
    engine.dispose()
    assert result.counts == {"ordered": HOLDERS}
    traces = {row["id"]: json.loads(row["trace"]) for row in rows["decisions"]}
    read = [
        found["value"]
        for row in rows["transitions"]
        for candidate in traces[row["decision_id"]]["candidates"]
        for found in candidate.get("reads", [])
        if found["name"] == "user.open_cards"
    ]
    assert read and set(read) == {1}, read
