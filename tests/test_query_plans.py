"""The store's queries that grow with it find their rows through an index: the plans SQLite makes for
them (without statistics it may choose an index that holds every row of a status), and the indexes
each store has after the upgrade."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import StoreUnderTest, statements_run
from sqlalchemy import Connection, inspect, text

from engine.store import card_runs, db, migrations, timers


def _plan(stored: StoreUnderTest, run: Callable[[Connection], Any]) -> list[list[str]]:
    """SQLite's plan of each statement `run` makes on a new store, a list of its steps each."""
    engine = db.connect(stored.location)
    with engine.begin() as connection, statements_run(engine) as made:
        run(connection)
        plans = [connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (None,) * sql.count("?")).all() for sql in list(made)]
    engine.dispose()
    return [[str(step[-1]) for step in plan] for plan in plans]


def test_a_version_18_store_finds_the_timers_and_calls_of_a_card_by_card_and_status(stored: StoreUnderTest) -> None:
    """Migration 19 replaces the timers' and calls' indexes by card with ones by card and status (a
    store of the version before had `ix_timers_card_id` beside `timers_due`, `ix_calls_card_id` beside
    `calls_due`); migration 20 adds the cards' index by process, state and id."""
    older = db.connect(stored.location, migrate=False)
    db.upgrade(older, target=migrations.MIGRATIONS.index(migrations._by_card_and_status))
    with older.begin() as connection:  # the indexes of the version before (the tables are made as they are now)
        for table in ("timers", "calls"):
            connection.execute(text(f"DROP INDEX {table}_card"))
            connection.execute(text(f"CREATE INDEX ix_{table}_card_id ON {table} (card_id)"))
    older.dispose()
    engine = db.connect(stored.location)
    tables = ("timers", "calls", "cards")
    found = {table: {i["name"]: i["column_names"] for i in inspect(engine).get_indexes(table)} for table in tables}
    engine.dispose()
    assert found["timers"] == {"timers_due": ["status", "due_at"], "timers_card": ["card_id", "status"]}
    assert {name: found["calls"][name] for name in found["calls"] if "card" in name} == {"calls_card": ["card_id", "status"]}
    assert found["cards"]["cards_process_state"] == ["process", "state", "id"]


@pytest.mark.sqlite_only
def test_settling_cards_searches_their_timers_by_card(stored: StoreUnderTest) -> None:
    """Marking cards `timerless` finds each card's armed timers through the index by card and status,
    not through the one by status (a search of every armed timer for each card)."""
    ((*_, timers_of_a_card),) = _plan(stored, lambda connection: timers.settle(connection, [1, 2]))
    assert timers_of_a_card == "SEARCH timers USING COVERING INDEX timers_card (card_id=? AND status=?)"


@pytest.mark.sqlite_only
def test_claiming_due_timers_finds_them_by_id(stored: StoreUnderTest) -> None:
    """Claiming the first due timers finds them in the index by status and due time, in its order (no
    sort), and marks each fired by its id, not through that index again (which holds every armed timer)."""
    (plan,) = _plan(stored, lambda connection: timers.claim_due(connection, "2026-12-01T00:00:00Z", 10))
    assert plan == [
        "SEARCH timers USING INTEGER PRIMARY KEY (rowid=?)",
        "LIST SUBQUERY 1",
        "SEARCH timers USING COVERING INDEX timers_due (status=? AND due_at<?)",
    ]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("states", [["approved"], ["active", "inactive"]])
def test_a_page_of_a_run_over_cards_is_read_in_id_order_from_an_index(stored: StoreUnderTest, states: list[str]) -> None:
    """A page of a run over the cards of a process in its states is read state by state from the
    index by process, state and id, in order (no sort of every card still in the states), and each
    card's pending calls (when those are left out) are found through the index by card and status."""
    plans = _plan(stored, lambda connection: card_runs.card_page(connection, "P", states, 0, 10, hold=False, calling=False))
    assert plans == [
        [
            "SEARCH cards USING INDEX cards_process_state (process=? AND state=? AND id>?)",
            "CORRELATED SCALAR SUBQUERY 1",
            "SEARCH calls USING COVERING INDEX calls_card (card_id=? AND status=?)",
        ]
    ] * len(states)


def test_a_run_over_cards_in_two_states_pages_through_them_in_id_order(stored: StoreUnderTest) -> None:
    """Pages over two states give every card of the process in them once, in id order, a page at most
    `limit` long: the states' pages are merged by id."""
    states = ["active", "inactive", "locked", "active", "inactive", "inactive", "active", "locked", "active"]
    card = {"user_id": "u1", "open": True, "requester": "op1", "batch_id": "b", "created_at": "t", "updated_at": "t"}
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        for number, state in enumerate(states, start=1):
            connection.execute(db.cards.insert().values(id=number, process="P", state=state, **{**card, "user_id": f"u{number}"}))
        connection.execute(db.cards.insert().values(id=99, process="Q", state="active", **{**card, "user_id": "u99"}))
        pages, after = [], 0
        while page := card_runs.card_page(connection, "P", ["active", "inactive"], after, 2, hold=False):
            pages.append([row["id"] for row in page])
            after = page[-1]["id"]
    engine.dispose()
    assert pages == [[1, 2], [4, 5], [6, 7], [9]]
