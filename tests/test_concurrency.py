"""Batches side by side: the store itself keeps one open card per user; two syncs never order twice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = 1_000


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with a store of 1,000 active card holders and two operators."""
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator", "op2,Oda,op2@example.com,active,operator"]
    rows += [f"u{i:04d},User {i},u{i}@example.com,active," for i in range(USERS)]
    (tmp_path / "users.csv").write_text("\n".join(rows) + "\n")
    subprocess.run([CARDFLOW, "users", "import", "users.csv"], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def at_once(folder: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Start every command, then wait for all of them."""
    started = [
        subprocess.Popen([CARDFLOW, *c], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands
    ]
    finished = []
    for process, command in zip(started, commands, strict=True):
        out, err = process.communicate(timeout=120)
        finished.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return finished


def query(folder: Path, sql: str) -> int:
    with sqlite3.connect(folder / "cardflow.db") as connection:
        return int(connection.execute(sql).fetchone()[0])


def test_two_runs_at_once_give_each_user_one_open_card(folder: Path) -> None:
    """Two operators order cards for the same 1,000 users at the same moment: 1,000 open cards, no errors."""
    runs = at_once(
        folder,
        ["run", ORDER, "--where", "user.roles|length == 0", "--as", "op1"],
        ["run", ORDER, "--where", "user.roles|length == 0", "--as", "op2"],
    )
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "locked" not in run.stderr and "Traceback" not in run.stderr
    assert query(folder, "select count(*) from cards where open") == USERS
    assert query(folder, "select count(distinct user_id) from cards") == USERS
    assert query(folder, "select count(*) from cards where open_key is not null") == USERS


def test_the_store_refuses_a_second_open_card(folder: Path) -> None:
    """The one-open-card rule is a unique index: an insert that breaks it fails in the database itself."""
    subprocess.run([CARDFLOW, "run", ORDER, "--user", "u0001", "--as", "op1"], cwd=folder, check=True, capture_output=True)
    with sqlite3.connect(folder / "cardflow.db") as connection, pytest.raises(sqlite3.IntegrityError):
        connection.execute(
            "insert into cards (user_id, process, state, open, requester, batch_id, created_at, updated_at, open_key) "
            "values ('u0001', ?, 'processing', 1, 'op1', 'other', 'x', 'x', 'u0001')",
            (ORDER,),
        )


def test_multiple_cards_on_leaves_the_key_empty(folder: Path) -> None:
    """With multiple orders allowed, cards carry no key and a user may hold several open ones."""
    for _ in range(2):
        command = ["run", ORDER, "--user", "u0001", "--as", "op1", "--set", "CardsAddonExtProdMultipleCards=true"]
        subprocess.run([CARDFLOW, *command], cwd=folder, check=True, capture_output=True)
    assert query(folder, "select count(*) from cards where user_id = 'u0001' and open and open_key is null") == 2


def test_closing_a_card_frees_the_key(folder: Path) -> None:
    """An aborted card is closed and releases the user's key, so a new order can be made."""
    subprocess.run([CARDFLOW, "run", ORDER, "--user", "u0001", "--as", "op1"], cwd=folder, check=True, capture_output=True)
    subprocess.run([CARDFLOW, "abort", "1", "--as", "op2"], cwd=folder, check=True, capture_output=True)
    assert query(folder, "select count(*) from cards where open_key is not null") == 0
    subprocess.run([CARDFLOW, "run", ORDER, "--user", "u0001", "--as", "op1"], cwd=folder, check=True, capture_output=True)
    assert query(folder, "select count(*) from cards where user_id = 'u0001' and open") == 1


def test_two_queue_runs_at_once_order_each_card_once(folder: Path) -> None:
    """Two batch syncs at the same moment order each queued card exactly once: one order, one file per card."""
    subprocess.run([CARDFLOW, "run", ORDER, "--all", "--as", "op1"], cwd=folder, check=True, capture_output=True)
    queued = query(folder, "select count(*) from cards where state = 'processing'")
    syncs = at_once(folder, ["queue", "run"], ["queue", "run"])
    for sync in syncs:
        assert sync.returncode == 0, sync.stderr
    assert query(folder, "select count(*) from cards where state = 'ordered'") == queued
    assert query(folder, "select count(*) from orders") == queued
    assert query(folder, "select count(distinct card_id) from orders") == queued
    assert query(folder, "select count(*) from transitions where trigger = 'order'") == queued
    assert len(list((folder / "orders").glob("*.json"))) == queued
