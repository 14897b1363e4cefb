"""Batches killed at any point (SIGKILL) leave the store consistent and resumable, never doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import StoreUnderTest
from sqlalchemy.exc import DBAPIError

USERS = 20_000
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))


@pytest.fixture
def store(stored: StoreUnderTest) -> StoreUnderTest:
    """The store under test with 20,000 card holders (every tenth inactive) and an operator."""
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
    rows += [f"u{i:05d},User {i},u{i}@example.com,{'inactive' if i % 10 == 0 else 'active'}," for i in range(USERS)]
    (stored.folder / "users.csv").write_text("\n".join(rows) + "\n")
    subprocess.run([CARDFLOW, "users", "import", "users.csv"], cwd=stored.folder, check=True, capture_output=True)
    return stored


def run_batch(store: StoreUnderTest, *, kill_when: int | None = None, kill_in_first_chunk: bool = False) -> int | None:
    """`cardflow run` with the queue off (so orders and emails apply), killed with SIGKILL when told:
    once `kill_when` cards are committed, or once the batch row is written and no card yet (the
    first chunk in flight)."""
    command = [CARDFLOW, "run", ORDER, "--all", "--as", "op1", "--batch-id", "B1", "--connector", "simulated"]
    command += ["--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdMultipleCards=true"]
    process = subprocess.Popen(command, cwd=store.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while process.poll() is None and time.monotonic() - started < 120:
        if kill_in_first_chunk and count(store, "select count(*) from batches where id = 'B1'") == 1:
            break
        if kill_when is not None and count(store, "select count(*) from cards") >= kill_when:
            break
        time.sleep(0.005)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return None
    return process.returncode


def count(store: StoreUnderTest, query: str) -> int:
    """The count `query` gives on the store; 0 while the store or its tables do not exist yet."""
    try:
        return int(store.scalar(query))
    except DBAPIError:
        return 0


def batch_status(store: StoreUnderTest) -> str | None:
    status = store.scalar("select status from batches where id = 'B1'")
    return None if status is None else str(status)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill",
    [{"kill_when": 500}, {"kill_when": 8_000}, {"kill_in_first_chunk": True}],
    ids=["after-1-chunk", "after-4-chunks", "mid-chunk"],
)
def test_killed_batch_resumes_without_a_second_card(store: StoreUnderTest, kill: dict[str, int | bool]) -> None:
    """Killed, the batch shows as running; rerun, every eligible user has one card, one audit row, one order, one email."""
    folder = store.folder
    assert run_batch(store, **kill) is None, "the batch finished before it could be killed"  # type: ignore[arg-type]
    assert count(store, "select count(*) from cards") < 18_001
    assert batch_status(store) == "running"
    listed = subprocess.run([CARDFLOW, "batches"], cwd=folder, capture_output=True, text=True, check=True).stdout
    assert "running" in listed
    assert run_batch(store) == 0
    assert batch_status(store) == "complete"
    eligible = 18_001  # 18,000 active holders and the operator
    assert count(store, "select count(*) from cards") == eligible
    assert count(store, "select count(distinct user_id) from cards") == eligible
    assert count(store, "select count(*) from cards where state = 'ordered'") == eligible
    assert count(store, "select count(*) from transitions") == eligible
    assert count(store, "select count(distinct card_id) from transitions") == eligible
    assert count(store, "select count(*) from orders") == eligible
    assert count(store, "select count(distinct idempotency_key) from orders") == eligible
    assert count(store, "select count(*) from outbox where template = 'card_ordered'") == eligible
    assert count(store, "select count(distinct card_id) from outbox") == eligible
    assert (
        count(store, "select count(*) from transitions t left join decisions d on d.id = t.decision_id where d.id is null") == 0
    )
