"""The read side: listings page through the store, select only what they show, and every query a
read command runs is an index search (SQLite's query planner is asked), never a full scan."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from sqlalchemy import Engine, event

from engine.store import listing, prepared
from engine.store.db import connect, reading

USERS = "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\n" + "".join(
    f"u{i:02d},User {i},u{i}@example.com,active,\n" for i in range(12)
)
BIG_TABLES = ("cards", "transitions", "orders", "outbox", "users", "decisions", "batches")
READS = [
    ("cards",),
    ("cards", "--user", "u03"),
    ("cards", "--state", "ordered"),
    ("cards", "--process", "CardsAddonExtProdBoProcOrderMultiple"),
    ("cards", "--batch", "B1"),
    ("cards", "--limit", "3", "--offset", "2"),
    ("outbox",),
    ("outbox", "--status", "pending"),
    ("users", "list"),
    ("batches",),
    ("explain", "3"),
]


@pytest.fixture
def store(run: Run) -> Run:
    """A store with 13 active users (12 card holders and the operator), each with an ordered card, its order and its email."""
    Path("users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    sets = ("--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdOrderedEmail=true")
    result = run(
        "run",
        "CardsAddonExtProdBoProcOrderMultiple",
        "--all",
        "--as",
        "op1",
        "--batch-id",
        "B1",
        "--connector",
        "simulated",
        *sets,
    )
    assert result.exit_code == 0, result.output
    return run


def _statements(run: Run, args: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The SELECTs a command sends to the store, with their parameters: through SQLAlchemy, or as
    kept statements on sqlite3 (`engine.store.prepared`, the way `cards` reads an SQLite store)."""
    seen: list[tuple[str, Any]] = []

    def record(connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    def record_kept(reads: prepared.Kept, shape: str, build: prepared.Build, **params: Any) -> list[tuple[Any, ...]]:
        statement = reads.statements.get(shape, build)
        seen.append((statement.sql, tuple({**statement.values, **params}[name] for name in statement.params)))
        return kept_rows(reads, shape, build, **params)

    kept_rows = prepared.Kept.rows
    event.listen(Engine, "before_cursor_execute", record)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(prepared.Kept, "rows", record_kept)
            result = run(*args)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert result.exit_code == 0, result.output
    return seen


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN
@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_every_query_of_a_read_command_searches_an_index(store: Run, args: tuple[str, ...]) -> None:
    """EXPLAIN QUERY PLAN of each SELECT the command runs shows no full scan of a big table."""
    statements = _statements(store, args)
    assert any(any(table in sql for table in BIG_TABLES) for sql, _ in statements)
    engine = connect(os.environ.get("CARDFLOW_DB") or "cardflow.db")
    with reading(engine) as connection:
        for sql, parameters in statements:
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)]
            scans = [step for step in plan if re.match(rf"SCAN ({'|'.join(BIG_TABLES)})\b", step)]
            assert not scans, (sql, plan)
    engine.dispose()


def test_outbox_is_listed_without_its_bodies(store: Run) -> None:
    """`outbox` selects the listed columns only: never the bodies or the context."""
    statements = [sql for sql, _ in _statements(store, ("outbox", "--json")) if "outbox" in sql]
    assert statements and all("body_html" not in sql and "body_text" not in sql and "context" not in sql for sql in statements)


def test_listings_page_through_the_store(store: Run) -> None:
    """A listing read in pages of 5 gives every row once, in order, in three pages; --limit and
    --offset choose a window; --json gives the same rows as a JSON array."""
    engine = connect(os.environ.get("CARDFLOW_DB") or "cardflow.db")
    with reading(engine) as connection:
        statements = []
        event.listen(
            connection,
            "before_cursor_execute",
            lambda *args: statements.append(args[2]) if args[2].startswith("SELECT") else None,
        )
        paged = [card["id"] for card in listing.cards(connection, page=5)]
        assert len(statements) == 3
        whole = [card["id"] for card in listing.cards(connection)]
        users = [user["id"] for user in listing.users(connection, page=5)]
        window = [user["id"] for user in listing.users(connection, limit=4, offset=3, page=2)]
    engine.dispose()
    assert paged == whole == sorted(whole) and len(whole) == 13  # the operator holds a card too
    assert users == sorted(users) and len(users) == 13
    assert window == users[3:7]
    shown = json.loads(store("cards", "--json", "--limit", "5", "--offset", "1").stdout)
    assert [card["id"] for card in shown] == whole[1:6]
    assert set(shown[0]) == {
        "id",
        "user",
        "process",
        "state",
        "requested_by",
        "production_type",
        "batch",
        "created_at",
        "updated_at",
        "fields",
    }


def test_an_empty_listing_is_an_empty_array(run: Run) -> None:
    """`--json` of a listing with no rows is `[]`."""
    Path("users.csv").write_text("id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\n")
    assert run("users", "import", "users.csv").exit_code == 0
    assert json.loads(run("cards", "--json").stdout) == []
    assert json.loads(run("batches", "--json").stdout) == []


def test_listings_page_through_a_postgresql_store(postgres_url: str) -> None:
    """The same keyset pages on PostgreSQL: users in id order in pages of 2, a window, no batches yet."""
    from engine.store.queries import upsert_users

    engine = connect(postgres_url)
    users = [
        {"id": f"u{n}", "name": f"U {n}", "email": f"u{n}@example.com", "state": "active", "roles": "[]", "attributes": "{}",
         "updated_at": "2026-12-01T00:00:00Z"}
        for n in range(5)
    ]  # fmt: skip
    with engine.begin() as connection:
        upsert_users(connection, users)
    with reading(engine) as connection:
        assert [user["id"] for user in listing.users(connection, page=2)] == [f"u{n}" for n in range(5)]
        assert [user["id"] for user in listing.users(connection, limit=2, offset=1, page=1)] == ["u1", "u2"]
        assert list(listing.batches(connection)) == [] and list(listing.cards(connection, state="ordered")) == []
        assert list(listing.outbox(connection, status="pending", page=2)) == []
    engine.dispose()
