"""The outbox of external calls: a call is a row written with the state change that makes it and
sent only once that has committed; a call the bureau did not answer stays pending, with back-off,
and `cardflow calls send` finishes it; a call whose card moved on is cancelled unsent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ON_POSTGRES, Run, StoreUnderTest
from sqlalchemy import create_engine, text

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
APPROVAL = ("--set", "CardsAddonExtProdBatchOrderApproval=true", *QUEUE_OFF)
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""
#: A store that refuses every new call, as a full disk would refuse a chunk's last writes.
FULL = {
    "sqlite": ["CREATE TRIGGER full_disk BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"],
    "postgres": [
        "CREATE FUNCTION full_disk() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'could not extend file: "
        "No space left on device'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER full_disk BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION full_disk()",
    ],
}
FREED = {"sqlite": ["DROP TRIGGER full_disk"], "postgres": ["DROP TRIGGER full_disk ON calls", "DROP FUNCTION full_disk()"]}


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest) -> Run:
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def execute(stored: StoreUnderTest, statements: list[str]) -> None:
    """Run DDL on the store under test, writing (the test's own reads are read-only)."""
    engine = create_engine(stored.url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def order_files(stored: StoreUnderTest) -> list[str]:
    return sorted(path.name for path in (stored.folder / "orders").glob("*.json"))


def test_a_chunk_the_store_does_not_keep_places_no_order(cf: Run, stored: StoreUnderTest) -> None:
    """The store fails as the chunk's calls are written: no card, no call, and no order reaches the
    bureau; once it has room, the same run orders each card once."""
    execute(stored, FULL["postgres" if ON_POSTGRES else "sqlite"])
    failed = cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", *QUEUE_OFF)
    assert failed.exit_code == 2 and "Traceback" not in failed.output, failed.output
    assert order_files(stored) == []
    assert stored.scalar("SELECT count(*) FROM cards") == 0 and stored.scalar("SELECT count(*) FROM calls") == 0
    execute(stored, FREED["postgres" if ON_POSTGRES else "sqlite"])
    done = ok(cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *QUEUE_OFF))
    assert [result["state"] for result in done["results"]] == ["ordered", "ordered"]
    assert len(order_files(stored)) == 2
    assert stored.rows("SELECT status, outcome FROM calls") == [("answered", "accepted")] * 2


def test_an_unanswered_call_waits_with_back_off_and_calls_send_finishes_it(cf: Run, stored: StoreUnderTest) -> None:
    """The bureau cannot take the order: the card waits with its call pending (one attempt, a next
    one later); `calls send` says when it is due and how to send it now; sent once the bureau is
    back, the card is ordered with one order file."""
    (stored.folder / "orders").write_text("not a folder")  # the drop folder cannot be written
    assert cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF).exit_code == 1
    (call,) = ok(cf("calls", "--json"))
    assert (call["call"], call["status"], call["attempts"]) == ("bureau.order", "pending", 1)
    assert call["next_attempt_at"] > stored.scalar("SELECT created_at FROM calls") and "cannot write" in call["message"]

    waiting = cf("calls", "send")
    assert waiting.exit_code == 0 and f"1 pending, the first due at {call['next_attempt_at']}" in waiting.stdout
    assert "(`cardflow calls send --now" in waiting.stdout and "` sends them now)" in waiting.stdout  # --db on PostgreSQL

    still = cf("calls", "send", "--now")
    assert still.exit_code == 1 and "got no answer and stay pending" in still.stderr
    assert "run `cardflow calls send --now" in still.stderr and "` once the other side answers" in still.stderr
    assert ok(cf("calls", "--json"))[0]["attempts"] == 2

    (stored.folder / "orders").unlink()
    (sent,) = ok(cf("calls", "send", "--now", "--json"))
    assert (sent["status"], sent["outcome"], sent["to"]) == ("answered", "accepted", "ordered")
    assert [card["state"] for card in ok(cf("cards", "--json"))] == ["ordered"]
    assert len(order_files(stored)) == 1
    assert ok(cf("calls", "--json", "--status", "pending")) == []


def test_a_call_whose_card_moved_on_is_cancelled_unsent(cf: Run, stored: StoreUnderTest) -> None:
    """An approval whose order got no answer leaves the request open; rejected meanwhile, its call
    is cancelled by `calls send`, and no order is written."""
    (card,) = (r["card"] for r in ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", *APPROVAL))["results"])
    (stored.folder / "orders").write_text("not a folder")
    approved = cf("approve", str(card), "--as", "ap1", *APPROVAL)
    assert approved.exit_code == 1, approved.output
    assert [c["state"] for c in ok(cf("cards", "--json"))] == ["requested"]
    assert cf("reject", str(card), "--as", "ap1", "--reason", "Not now", *APPROVAL).exit_code == 0
    (stored.folder / "orders").unlink()
    (cancelled,) = ok(cf("calls", "send", "--now", "--json"))
    assert (cancelled["status"], cancelled["to"]) == ("cancelled", "rejected")
    assert "left 'requested'" in cancelled["message"] and order_files(stored) == []
