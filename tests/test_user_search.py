"""The console's user search (store.search) and the selection it hands to a run
(request.search_selection) find the same users, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

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
def sqlite_store(tmp_path: Path) -> Engine:
    return fill(open_store(str(tmp_path / "search.db")))


def selected(engine: Engine, selection: Selection) -> list[str]:
    from engine.batch.request import selection_expression

    expression = selection_expression(selection.where)
    with db.reading(engine) as connection:
        users = [user for chunk in iter_users(connection) for user in chunk]
    return [u["id"] for u in users if expression is None or expression.truth({"user": u})[0] is True]


@pytest.mark.parametrize("search", SEARCHES, ids=str)
def test_search_and_its_selection_agree(sqlite_store: Engine, search: UserSearch) -> None:
    """What the search page lists is what "All users found" runs for."""
    with db.reading(sqlite_store) as connection:
        found, total = search_users(connection, search, size=100)
    assert [u["id"] for u in found] == selected(sqlite_store, search_selection(search.name, search.department, search.state))
    assert total == len(found)


def test_search_pages_in_id_order(sqlite_store: Engine) -> None:
    """Pages of two, in id order, with the total of all pages."""
    with db.reading(sqlite_store) as connection:
        pages = [search_users(connection, UserSearch(), page=page, size=2) for page in (1, 2, 3)]
    assert [[u["id"] for u in rows] for rows, _ in pages] == [["u1", "u2"], ["u3", "u4"], ["u5"]]
    assert {total for _, total in pages} == {5}


def test_search_on_postgresql(postgres_url: str) -> None:
    """The same search on PostgreSQL (attributes read with ->>)."""
    engine = fill(open_store(postgres_url))
    try:
        with db.reading(engine) as connection:
            found, total = search_users(connection, UserSearch(name="alice", department="Support"))
            assert ([u["id"] for u in found], total) == (["u5"], 1)
    finally:
        engine.dispose()
