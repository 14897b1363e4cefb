"""New cards whose start the options settle are written as tuples: the same rows a fired start writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from sqlalchemy import select

from engine.batch import run as run_module
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.clock import frozen
from engine.definitions import compile as compile_module
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import Simulated
from engine.store import db
from engine.store.queries import upsert_users

ORDER, REQUEST = "CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple"
CASES = [
    (ORDER, {}),
    (ORDER, {"CardsAddonExtProdMultipleCards": True}),
    (REQUEST, {}),
]


def _users() -> list[dict[str, Any]]:
    holders = [
        {"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com", "state": "active", "roles": "[]", "attributes": "{}"}
        for i in range(5)
    ]
    operator = {
        "id": "op1",
        "name": "Op",
        "email": "op1@example.com",
        "state": "active",
        "roles": '["operator"]',
        "attributes": "{}",
    }
    return [{**user, "updated_at": "2026-12-01T00:00:00Z"} for user in [*holders, operator]]


@pytest.mark.parametrize(("process", "options"), CASES, ids=[f"{p}-{o}" for p, o in CASES])
def test_a_settled_start_writes_the_rows_a_fired_start_writes(tmp_path: Path, process: str, options: dict[str, Any]) -> None:
    """The first card is fired through the machine, the others get its settled decision as tuples:
    their card and audit rows are equal but for the card's id and holder."""
    compile_module._CACHE.clear()  # so that the first card of this batch is the first fired
    workspace = load_workspace(ROOT)
    engine = db.connect(str(tmp_path / "cardflow.db"))
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(process, "op1", Selection(users=tuple(f"u{i}" for i in range(5))), options)
    with frozen("2026-12-01T00:00:00Z"):  # the chunks commit at one time: a second turning over between them is not a difference
        run_batch(workspace, engine, request, Simulated(), chunk=2)
    with engine.connect() as connection:
        cards = [dict(row._mapping) for row in connection.execute(select(db.cards).order_by(db.cards.c.id))]
        audit = [dict(row._mapping) for row in connection.execute(select(db.transitions).order_by(db.transitions.c.card_id))]
    engine.dispose()
    compiled = next(iter(compile_module._CACHE.values()))
    assert compiled.settled("start", "registered") is not None
    assert [card["user_id"] for card in cards] == [f"u{i}" for i in range(5)]
    assert [row["card_id"] for row in audit] == [card["id"] for card in cards]
    first_card = _without(cards[0], "id", "user_id", "open_key")
    assert all(_without(card, "id", "user_id", "open_key") == first_card for card in cards)
    assert all((card["open_key"] is None) == (cards[0]["open_key"] is None) for card in cards)
    group = {ORDER: "card_order"}.get(process, process)  # the shipped order processes share a group
    assert all(card["open_key"] in (None, f"{group}:{card['user_id']}") for card in cards)
    first_row = _without(audit[0], "id", "card_id")
    assert all(_without(row, "id", "card_id") == first_row for row in audit)


def _without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in names}


def test_a_start_that_sets_fields_from_the_options_is_fired_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Request multiple cards approves at once and sets the PIN fields from the options (a `set` of
    option values): the first card is fired through the machine, every other gets the settled
    decision and the same fields as tuples, so the batch does not fire once a card."""
    compile_module._CACHE.clear()
    fired: list[str] = []
    original = run_module.fire
    monkeypatch.setattr(run_module, "fire", lambda *args, **kwargs: fired.append(args[4]) or original(*args, **kwargs))
    engine = db.connect(str(tmp_path / "cardflow.db"))
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(REQUEST, "op1", Selection(users=tuple(f"u{i}" for i in range(5))), {})
    run_batch(load_workspace(ROOT), engine, request, Simulated(), chunk=2)
    with engine.connect() as connection:
        fields = [row.fields for row in connection.execute(select(db.cards.c.fields).order_by(db.cards.c.id))]
    engine.dispose()
    assert fired == ["start"]
    assert len(fields) == 5 and len(set(fields)) == 1 and '"pin_channel": "print"' in fields[0]
