"""What a process has done, counted for its /metrics (engine.store.tally): a transition counts once its
transaction commits, never when it rolls back or is only planned."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine.store import db, tally

if TYPE_CHECKING:
    from conftest import Run, StoreUnderTest

ROOT = Path(__file__).resolve().parents[1]

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


def test_a_transition_counts_when_its_transaction_commits(stored: StoreUnderTest) -> None:
    engine = db.connect(stored.location)
    before = tally.TRANSITIONS["P", "t"]
    with pytest.raises(RuntimeError), engine.begin() as connection:
        tally.transitions(connection, [("P", "t")] * 3)
        raise RuntimeError("rolled back")
    assert tally.TRANSITIONS["P", "t"] == before
    with engine.begin() as connection:
        tally.transitions(connection, [("P", "t")] * 3)
        assert tally.TRANSITIONS["P", "t"] == before  # not before the commit
    assert tally.TRANSITIONS["P", "t"] == before + 3
    with engine.begin():  # a later transaction on the same connection counts nothing again
        pass
    assert tally.TRANSITIONS["P", "t"] == before + 3
    engine.dispose()


def test_a_batch_counts_its_transitions_and_a_dry_run_none(run: Run, stored: StoreUnderTest, workspace: Path) -> None:
    assert run("users", "import", str(ROOT / "engine" / "testing" / "samples" / "users.csv")).exit_code == 0
    before = sum(tally.TRANSITIONS.values())
    assert run("run", ORDER, "--all", "--as", "op1", "--dry-run", "--workspace", str(workspace)).exit_code == 0
    assert sum(tally.TRANSITIONS.values()) == before
    assert run("run", ORDER, "--all", "--as", "op1", "--workspace", str(workspace)).exit_code in (0, 1)
    stored_count = stored.scalar("SELECT count(*) FROM transitions")
    assert stored_count > 0 and sum(tally.TRANSITIONS.values()) - before == stored_count
