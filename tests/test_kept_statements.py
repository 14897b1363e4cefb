"""Reads without SQLAlchemy (engine/store/prepared.py): `cards` on an SQLite store runs statements
compiled once and kept on disk, on Python's sqlite3, and reads what SQLAlchemy reads."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from sqlalchemy import select

from engine import kept
from engine.errors import UsageError
from engine.store import db, listing, prepared
from engine.store.db import connect, reading

pytestmark = pytest.mark.sqlite_only  # the kept statements are SQLite's; PostgreSQL reads through SQLAlchemy

USERS = "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\n" + "".join(
    f"u{i:02d},User {i},u{i}@example.com,active,\n" for i in range(7)
)
ORDER = "CardsAddonExtProdBoProcOrderMultiple"


@pytest.fixture(autouse=True)
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A cache folder of this test's own: the suite's is shared by its workers, and a statement
    another test kept would make this one's first compile a hit."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CARDFLOW_CACHE", str(folder))
    return folder


@pytest.fixture
def store(run: Run) -> Path:
    """An SQLite store with the cards of two batches: approved requests, and ordered cards with their emails."""
    Path("users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    assert run("run", "CardsBoProcRequestMulitple", "--all", "--as", "op1", "--batch-id", "R1").exit_code == 0
    sets = ("--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdOrderedEmail=true")
    ordered = run("run", ORDER, "--all", "--as", "op1", "--batch-id", "O1", *sets)
    assert ordered.exit_code == 0, ordered.output
    return Path("cardflow.db").resolve()


def _through(path: Path, **filters: Any) -> list[dict[str, Any]]:
    engine = connect(str(path), mode="read")
    try:
        with reading(engine) as connection:
            return list(listing.cards(connection, **filters))
    finally:
        engine.dispose()


def _kept(path: Path, **filters: Any) -> list[dict[str, Any]]:
    with prepared.kept_reads(path, str(path)) as reads:
        return list(listing.cards(reads, **filters))


def test_kept_statements_read_what_sqlalchemy_reads(store: Path) -> None:
    """Every combination of the filters, paged and windowed: the same rows, in the same order."""
    values = {"user": [None, "u03"], "state": [None, "approved", "ordered"], "process": [None, ORDER], "batch": [None, "R1"]}
    compared = 0
    for chosen in product(*values.values()):
        filters = {name: value for name, value in zip(values, chosen, strict=True) if value is not None}
        for window in ({}, {"page": 3}, {"limit": 4, "offset": 2, "page": 3}):
            assert _kept(store, **filters, **window) == _through(store, **filters, **window), (filters, window)
            compared += bool(_through(store, **filters, **window))
    assert compared > 20  # most combinations select cards: the comparison is not of empty lists


def test_the_outbox_reads_alike_both_ways(store: Path) -> None:
    """`outbox` (kept too): every email, then the pending ones, paged and windowed, the same both ways."""
    engine = connect(str(store), mode="read")
    for chosen in ({}, {"status": "pending"}, {"status": "sent"}):
        for window in ({}, {"page": 3}, {"limit": 4, "offset": 2, "page": 3}):
            with prepared.kept_reads(store, str(store)) as reads:
                kept_rows = list(listing.outbox(reads, **chosen, **window))
            with reading(engine) as connection:
                assert kept_rows == list(listing.outbox(connection, **chosen, **window)), (chosen, window)
    engine.dispose()
    with prepared.kept_reads(store, str(store)) as reads:
        assert len(list(listing.outbox(reads, status="pending"))) == 8


def test_booleans_read_as_sqlalchemy_reads_them(store: Path) -> None:
    """A boolean column comes back True/False on sqlite3 too (SQLite keeps 1 and 0)."""

    def build() -> Any:
        return select(db.cards.c.id, db.cards.c.open).order_by(db.cards.c.id)

    with prepared.kept_reads(store, str(store)) as reads:
        found = reads.rows("open cards", build)
    engine = connect(str(store), mode="read")
    with reading(engine) as connection:
        expected = prepared.Through(connection).rows("open cards", build)
    engine.dispose()
    assert found == expected and {type(open) for _, open in found} == {bool}


@pytest.mark.parametrize(
    ("command", "rows"),
    [(("cards",), 16), (("outbox",), 8), (("batches",), 2), (("users", "list"), 8)],
    ids=["cards", "outbox", "batches", "users list"],
)
def test_a_listing_runs_without_sqlalchemy_once_its_statements_are_kept(store: Path, command: tuple[str, ...], rows: int) -> None:
    """The first run of a listing compiles and keeps its statements; the next one never imports
    SQLAlchemy and prints the same JSON (tests/test_bureau_faults.py reads unanswered orders this way)."""
    probe = (
        "import sys, cli\n"
        f"sys.argv = ['cardflow', *{list(command)!r}, '--json']\n"
        "try:\n    cli.main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "print('sqlalchemy' in sys.modules, file=sys.stderr)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True) for _ in range(2)]
    assert [run.stderr.strip().splitlines()[-1] for run in runs] == ["True", "False"]
    assert runs[0].stdout == runs[1].stdout and len(json.loads(runs[1].stdout)) == rows
    assert kept.cache_folder() is not None and (kept.cache_folder() / "statements-sqlite.pickle").exists()


def test_batches_and_users_read_alike_both_ways(store: Path) -> None:
    """`batches` (with the workers' progress) and `users list` (its columns, a missing attribute's
    hint), paged and windowed: the same both ways."""
    engine = connect(str(store), mode="read")
    for window in ({}, {"page": 1}, {"limit": 3, "offset": 1, "page": 2}):
        with prepared.kept_reads(store, str(store)) as reads, reading(engine) as connection:
            assert list(listing.batches(reads, **window)) == list(listing.batches(connection, **window))
            assert list(listing.users(reads, **window)) == list(listing.users(connection, **window))
            assert listing.progress(reads) == listing.progress(connection)
    with prepared.kept_reads(store, str(store)) as reads, reading(engine) as connection:
        assert listing.user_columns(reads) == listing.user_columns(connection) == ["id", "name", "email", "state", "roles"]
        assert listing.users_have_attribute(reads, "id") is listing.users_have_attribute(connection, "id") is False
        with pytest.raises(UsageError, match="no user has the attribute 'nope'"):
            listing.user_columns(reads, ["nope"])
    engine.dispose()


def test_a_stale_or_torn_file_of_statements_is_compiled_again(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept statements made by other code (another digest) or torn on disk are a miss: compiled
    again, kept again, and the rows are the same."""
    expected = _kept(store)
    entry = kept.cache_folder() / "statements-sqlite.pickle"  # type: ignore[operator]
    assert entry.exists()
    monkeypatch.setattr(prepared, "_code_key", lambda: "other code")
    assert _kept(store) == expected
    assert kept.read(entry, "other code") is not None  # kept under the new digest
    entry.write_bytes(b"torn")
    assert _kept(store) == expected and isinstance(kept.read(entry, "other code"), prepared.Statements)


def test_with_the_cache_off_cards_still_reads(store: Path, monkeypatch: pytest.MonkeyPatch, run: Run) -> None:
    """CARDFLOW_CACHE=off: the statements are compiled for each command, nothing is written."""
    monkeypatch.setenv("CARDFLOW_CACHE", "off")
    result = run("cards", "--state", "ordered", "--json")
    assert result.exit_code == 0, result.output
    assert [card["user"] for card in json.loads(result.stdout)] == ["op1", *(f"u{i:02d}" for i in range(7))]
