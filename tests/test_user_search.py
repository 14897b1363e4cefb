"""The console's user search (store.search) and the selection it hands to a run
(request.search_selection) find the same users, on the store under test (SQLite or PostgreSQL):
names in any case (Swedish letters too, kept distinct from their unaccented look-alikes) and
departments in any case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from sqlalchemy import Engine, event, text

from engine.batch.request import Selection, search_selection
from engine.store import db
from engine.store.queries import iter_users, open_store, upsert_users
from engine.store.search import UserSearch, search_users

PEOPLE = [
    ("u1", "Alice Andersson", "active", "Sales"),
    ("u2", "Bertil Berg", "inactive", "Sales"),
    ("u3", "Carl 100%_off", "active", "Support"),
    ("u4", "Dan O'Brien", "active", None),
    ("u5", "alice Lind", "active", "Support"),
    ("u6", "Åsa Åberg", "active", "Försäljning"),
    ("u7", "Örjan Ärlig", "inactive", "sales"),
    ("u8", "Asa Aberg", "active", "SALES"),
]
SEARCHES = [
    UserSearch(),
    UserSearch(name="alice"),
    UserSearch(name="ALICE", department="Sales"),
    UserSearch(state="inactive"),
    UserSearch(name="100%_"),
    UserSearch(name="%"),
    UserSearch(name="o'b"),
    UserSearch(department="Support", state="active"),
    UserSearch(department="Nowhere"),
    UserSearch(name="åsa"),
    UserSearch(name="ÅBERG"),
    UserSearch(name="örjan"),
    UserSearch(name="asa"),
    UserSearch(department="sales"),
    UserSearch(department="FÖRSÄLJNING"),
    UserSearch(name="ärl", department="Sales", state="inactive"),
]


def fill(engine: Engine) -> Engine:
    rows = [
        {
            "id": i,
            "name": n,
            "email": f"{i}@x",
            "state": s,
            "roles": "[]",
            "attributes": json.dumps({"department": d} if d else {}),
            "updated_at": "t",
        }
        for i, n, s, d in PEOPLE
    ]
    with engine.begin() as connection:
        upsert_users(connection, rows)
    return engine


@pytest.fixture
def search_store(stored: StoreUnderTest) -> Iterator[Engine]:
    """The store under test holding PEOPLE."""
    engine = fill(open_store(stored.location))
    yield engine
    engine.dispose()


def found_ids(engine: Engine, search: UserSearch) -> list[str]:
    """The ids the console's search lists for `search` (one page of 100)."""
    with db.reading(engine) as connection:
        return [user["id"] for user in search_users(connection, search, size=100)[0]]


def selected(engine: Engine, selection: Selection) -> list[str]:
    from engine.batch.request import selection_expression

    expression = selection_expression(selection.where)
    with db.reading(engine) as connection:
        users = [user for chunk in iter_users(connection) for user in chunk]
    return [u["id"] for u in users if expression is None or expression.truth({"user": u})[0] is True]


@pytest.mark.parametrize("search", SEARCHES, ids=str)
def test_search_and_its_selection_agree(search_store: Engine, search: UserSearch) -> None:
    """What the search page lists is what "All users found" runs for."""
    with db.reading(search_store) as connection:
        found, total = search_users(connection, search, size=100)
    assert [u["id"] for u in found] == selected(search_store, search_selection(search.name, search.department, search.state))
    assert total == len(found)


def test_search_pages_in_id_order(search_store: Engine) -> None:
    """Pages of three, in id order, with the total of all pages."""
    with db.reading(search_store) as connection:
        pages = [search_users(connection, UserSearch(), page=page, size=3) for page in (1, 2, 3)]
    assert [[u["id"] for u in rows] for rows, _ in pages] == [["u1", "u2", "u3"], ["u4", "u5", "u6"], ["u7", "u8"]]
    assert {total for _, total in pages} == {8}


def test_swedish_names_are_found_in_any_case(search_store: Engine) -> None:
    """Å, Ä and Ö match in any case (`åsa` finds Åsa, `ÅBERG` Åberg) but stay letters of their own (`asa` finds Asa only)."""
    assert found_ids(search_store, UserSearch(name="åsa")) == ["u6"]
    assert found_ids(search_store, UserSearch(name="ÅBERG")) == ["u6"]
    assert found_ids(search_store, UserSearch(name="örjan ärlig")) == ["u7"]
    assert found_ids(search_store, UserSearch(name="asa")) == ["u8"]


def test_department_search_ignores_case(search_store: Engine) -> None:
    """`sales` finds Sales, sales and SALES; `FÖRSÄLJNING` finds Försäljning."""
    assert found_ids(search_store, UserSearch(department="sales")) == ["u1", "u2", "u7", "u8"]
    assert found_ids(search_store, UserSearch(department="FÖRSÄLJNING")) == ["u6"]


def test_a_store_from_before_the_search_columns_finds_its_users_once_upgraded(stored: StoreUnderTest, run: Run) -> None:
    """Users written by an older cardflow (no search columns) are found by any case after `check-store --upgrade`."""
    old = db.connect(stored.location, migrate=False)
    db.upgrade(old, target=8)  # version 9 added the search columns
    with old.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, name, email, state, roles, attributes, updated_at) "
                "VALUES ('u1', 'Åsa Åberg', 'u1@example.com', 'active', '[]', :attributes, 't')"
            ),
            {"attributes": json.dumps({"department": "Försäljning"})},
        )
    old.dispose()
    assert run("check-store", "--upgrade", "--db", stored.location).exit_code == 0
    engine = db.connect(stored.location, mode="read")
    try:
        assert found_ids(engine, UserSearch(name="åsa", department="FÖRSÄLJNING")) == ["u1"]
    finally:
        engine.dispose()


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN
def test_a_department_search_reads_an_index(search_store: Engine) -> None:
    """Searching a department alone searches the department index, never scans the users."""
    statements: list[tuple[str, Any]] = []
    with db.reading(search_store) as connection:
        record = lambda *args: statements.append((args[2], args[3])) if args[2].startswith("SELECT") else None  # noqa: E731
        event.listen(connection, "before_cursor_execute", record)
        search_users(connection, UserSearch(department="Sales"))
        event.remove(connection, "before_cursor_execute", record)
        plans = [[row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", given)] for sql, given in statements]
    assert plans and all(not any(step.startswith("SCAN users") for step in plan) for plan in plans), plans
