"""The second firing of a batch's new cards, once their orders are answered, takes the cards as the
first firing wrote them when one count says the store still holds them so (engine.store.batch_cards,
`SettledOrders.as_stored`), and reads them back when another command changed one meanwhile; on the
store under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import ROOT, StoreUnderTest, table_rows
from sqlalchemy import Engine, update

from engine.batch.request import RunRequest, Selection
from engine.batch.results import BatchResult
from engine.batch.run import run_batch
from engine.batch.settled_calls import SettledOrders
from engine.clock import frozen
from engine.definitions import compile as compile_module
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import OrderAnswer, OrderRequest, Simulated
from engine.store import batch_cards, db
from engine.store.queries import upsert_users

ORDER_MULTIPLE = "CardsAddonExtProdBoProcOrderMultiple"
NO_QUEUE = {"CardsAddonExtProdQueue": False}
HOLDERS = 7
AT = "2026-12-01T00:00:00Z"
TABLES = ("cards", "calls", "orders", "transitions", "decisions", "outbox", "batches")


def _users() -> list[dict[str, Any]]:
    base = {"state": "active", "roles": "[]", "attributes": "{}", "updated_at": AT}
    people = [{"id": f"u{i}", "name": f"User {i}", "email": f"u{i}@example.com"} for i in range(HOLDERS)]
    return [{**base, **person} for person in people] + [
        {**base, "id": "op1", "name": "Op", "email": "op1@example.com", "roles": '["operator"]'}
    ]


@dataclass
class Meddling(Simulated):
    """The simulated bureau, and meanwhile, while it takes an order, another command changes the card
    of the holders in `meddle` (given the store and the card's id)."""

    engine: Engine | None = None
    meddle: dict[str, Callable[[Engine, int], None]] | None = None

    def order(self, request: OrderRequest) -> OrderAnswer:
        change = (self.meddle or {}).get(str(request.holder.get("id")))
        if change is not None and self.engine is not None:
            change(self.engine, request.card)
        return super().order(request)


def _aborted(engine: Engine, card: int) -> None:
    with engine.begin() as connection:
        connection.execute(update(db.cards).where(db.cards.c.id == card).values(state="aborted", open=False, open_key=None))


def _run(store: StoreUnderTest, meddle: dict[str, Callable[[Engine, int], None]] | None = None) -> tuple[BatchResult, Any]:
    """Order a card for every user (a page of the users table), in chunks of three."""
    compile_module._CACHE.clear()
    engine = db.connect(store.location)
    with engine.begin() as connection:
        upsert_users(connection, _users())
    request = RunRequest(ORDER_MULTIPLE, "op1", Selection(all=True), NO_QUEUE, batch_id="b1")
    with frozen(AT):
        result = run_batch(load_workspace(ROOT), engine, request, Meddling(engine=engine, meddle=meddle), chunk=3)
    return result, engine


def _read_back(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The users whose cards the run reads back from the store (batch_cards.existing_cards), a list a read."""
    reads: list[list[str]] = []
    original = batch_cards.existing_cards

    def counted(connection: Any, batch_id: str, user_ids: Any, **options: Any) -> Any:
        reads.append(list(user_ids))
        return original(connection, batch_id, user_ids, **options)

    monkeypatch.setattr(batch_cards, "existing_cards", counted)
    return reads


def test_the_second_firing_takes_the_cards_as_written_and_writes_what_reading_them_back_writes(
    stored: StoreUnderTest, second_store: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing changed the cards between the two firings: none is read back, and every row of the
    batch is the one the run that reads them back writes."""
    reads = _read_back(monkeypatch)
    result, engine = _run(stored)
    taken = table_rows(engine, TABLES)
    engine.dispose()
    assert result.counts == {"ordered": HOLDERS + 1} and reads == []
    monkeypatch.setattr(SettledOrders, "as_stored", lambda *args: None)
    again, engine = _run(second_store)
    read = table_rows(engine, TABLES)
    engine.dispose()
    assert again.counts == result.counts and len(reads) == 3  # chunks of 3, 3 and 2 users
    for name, rows in taken.items():
        assert rows == read[name], name


def test_a_card_another_command_changed_meanwhile_is_read_back_and_left_as_it_stands(
    stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card aborted while the bureau took its order: its chunk reads its cards back (the others are
    taken as written), and the aborted card is neither moved nor emailed by the second firing."""
    reads = _read_back(monkeypatch)
    result, engine = _run(stored, {"u4": _aborted})
    rows = table_rows(engine, ("cards", "transitions", "outbox"))
    engine.dispose()
    assert reads == [["u2", "u3", "u4"]]  # chunks: op1, u0, u1 | u2, u3, u4 | u5, u6
    states = {card["user_id"]: card["state"] for card in rows["cards"]}
    assert states.pop("u4") == "aborted" and set(states.values()) == {"ordered"}
    aborted = next(card["id"] for card in rows["cards"] if card["user_id"] == "u4")
    assert [row for row in rows["transitions"] if row["card_id"] == aborted] == []
    assert [row for row in rows["outbox"] if row["card_id"] == aborted] == []
    outcome = next(kept for kept in result.results if kept.user == "u4")
    assert (outcome.card, outcome.state) == (aborted, "aborted")


CHANGES = [
    {"state": "ordered"},
    {"open": False},
    {"requested_by": "op2"},
    {"requested_by": None},
    {"fields": '{"pin": "mail"}'},
    {"updated_at": "2026-12-01T00:00:01Z"},
    {"timerless": True},
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda change: "-".join(f"{name}={value}" for name, value in change.items()))
def test_a_card_counts_as_made_until_a_changing_column_changes(stored: StoreUnderTest, change: dict[str, Any]) -> None:
    """`as_made` counts the batch's cards of a range of users, and those that hold in every changing
    column what a new card of the batch holds; a change of any one of them is seen, NULL included."""
    result, engine = _run(stored)
    assert result.counts == {"ordered": HOLDERS + 1}
    with engine.begin() as connection:
        connection.execute(update(db.cards).values(state="registered", updated_at=AT))
        made = {"state": "registered", "open": True, "requested_by": "op1", "fields": "{}", "updated_at": AT}
        assert batch_cards.as_made(connection, "b1", "u1", "u5", made) == (5, 5)
        assert batch_cards.as_made(connection, "b2", "u1", "u5", made) == (0, 0)
        connection.execute(update(db.cards).where(db.cards.c.user_id == "u3").values(**change))
        assert batch_cards.as_made(connection, "b1", "u1", "u5", made) == (5, 4)
        assert batch_cards.as_made(connection, "b1", "u4", "u6", made) == (3, 3)
    engine.dispose()
