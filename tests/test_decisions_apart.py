"""Decision traces written by units of work side by side (the workers' chunks of one batch write the
same traces): on PostgreSQL a unit of work never waits for another's transaction to end because both
wrote the same trace; a trace is stored once either way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ON_POSTGRES, StoreUnderTest
from sqlalchemy import Engine, text

from engine.store import db, queries
from engine.store.driver import IDS

TRACE = {"id": "d-side-by-side", "trace": '{"trigger": "start"}'}


@pytest.fixture
def engine(stored: StoreUnderTest) -> Iterator[Engine]:
    opened = db.connect(stored.location)
    yield opened
    opened.dispose()


def audit_row(card_id: int) -> dict[str, object]:
    """A transition of card `card_id` naming the trace."""
    return {
        "card_id": card_id, "process": "P", "trigger": "start", "source": "new", "dest": "queued", "actor": "op1",
        "at": "2026-12-05T15:00:00", "batch_id": "B1", "fingerprint": "f", "decision_id": TRACE["id"], "reason": None,
        "fields": None,
    }  # fmt: skip


def test_a_trace_an_open_unit_of_work_wrote_holds_up_no_other(engine: Engine, stored: StoreUnderTest) -> None:
    """While the first unit of work is still open, a second writes the same trace and its own audit
    row without waiting for it (a wait would end in the lock time-out, not in a hang); both commit,
    and the trace is one row."""
    if not ON_POSTGRES:
        pytest.skip("SQLite's writers take turns: a second one waits for the first by design")
    with engine.begin() as first:
        queries.write_rows(first, {"decisions": [TRACE], "transitions": [audit_row(1)]})
        with engine.begin() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            queries.write_rows(second, {"decisions": [TRACE], "transitions": [audit_row(2)]})
    assert stored.scalar("SELECT count(*) FROM decisions WHERE id = :id", id=TRACE["id"]) == 1
    assert stored.scalar("SELECT count(*) FROM transitions WHERE decision_id = :id", id=TRACE["id"]) == 2


def test_a_unit_of_work_rolled_back_leaves_its_trace_only_where_writers_run_side_by_side(
    engine: Engine, stored: StoreUnderTest
) -> None:
    """A unit of work that fails takes its audit rows with it. Its trace goes too on SQLite (written in
    its transaction); on PostgreSQL it stays, named by no transition, and the attempt after it writes
    its audit rows against that one row."""
    with pytest.raises(RuntimeError), engine.begin() as failing:
        queries.write_rows(failing, {"decisions": [TRACE], "transitions": [audit_row(1)]})
        raise RuntimeError("the unit of work fails after its rows")
    assert stored.scalar("SELECT count(*) FROM transitions") == 0
    assert stored.scalar("SELECT count(*) FROM decisions") == (1 if ON_POSTGRES else 0)
    with engine.begin() as again:
        queries.write_rows(again, {"decisions": [TRACE], "transitions": [audit_row(1)]})
    joined = "SELECT count(*) FROM transitions JOIN decisions ON decisions.id = transitions.decision_id"
    assert stored.scalar(joined) == 1
    assert stored.scalar("SELECT count(*) FROM decisions") == 1


def test_more_traces_than_a_statement_reads_are_each_stored_once(engine: Engine, stored: StoreUnderTest) -> None:
    """A unit of work with more new traces than one statement looks up (`driver.IDS`), some of them
    stored by an earlier one: every trace is one row."""
    traces = [{"id": f"d{n:05d}", "trace": f'{{"n": {n}}}'} for n in range(2 * IDS + 5)]
    with engine.begin() as earlier:
        queries.write_rows(earlier, {"decisions": traces[::3]})
    with engine.begin() as later:
        queries.write_rows(later, {"decisions": traces + traces[:10]})
    assert stored.scalar("SELECT count(*) FROM decisions") == len(traces)
    assert stored.scalar("SELECT count(DISTINCT trace) FROM decisions") == len(traces)
