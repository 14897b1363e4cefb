"""What firing a chunk of due timers reads and writes: where the trigger's decision is the same for every
card and has no effects, the first card's firing reads its own holder and orders, and the others read
nothing of theirs (no read of the whole chunk's holders for one card); a card another command moved
meanwhile gets nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import StoreUnderTest, statements_run

from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.timers_due import fire_due
from engine.batch.work import Work
from engine.clock import frozen
from engine.definitions.workspace import load_workspace
from engine.outbound.bureau import Simulated
from engine.store import queries
from engine.store.db import connect

REMINDER_EMAIL = "    effects:\n      - email: approval_reminder\n        to: approvers\n"
HOLDERS = 12


def reminded(stored: StoreUnderTest, workspace: Path) -> tuple[Any, Any]:
    """The workspace whose waiting requests are reminded without an email, and a store of HOLDERS
    requests (and the operator's) whose reminders are due on 2026-12-04 10:00."""
    lifecycle = workspace / "lifecycles" / "CardRequest.yaml"  # the reminder of `requested`, without its email
    text = lifecycle.read_text(encoding="utf-8")
    assert REMINDER_EMAIL in text
    lifecycle.write_text(text.replace(REMINDER_EMAIL, "", 1), encoding="utf-8")
    found = load_workspace(workspace)
    engine = connect(stored.location)
    users = [{"id": f"u{n:03d}", "name": f"U {n}", "email": f"u{n}@example.org", "state": "active", "roles": "[]",
              "attributes": "{}", "updated_at": "t"} for n in range(HOLDERS)]  # fmt: skip
    users.append({"id": "op1", "name": "Op", "email": "op@example.org", "state": "active", "roles": '["operator"]',
                  "attributes": "{}", "updated_at": "t"})  # fmt: skip
    with engine.begin() as connection:
        queries.upsert_users(connection, users)
    request = RunRequest("CardsBoProcRequestMulitple", "op1", Selection(all=True), {"CardsBatchRequestApproval": True})
    with frozen("2026-12-01T09:00:00Z"):
        run_batch(found, engine, request, Simulated(), keep_results=False)
    return found, engine


def test_settled_reminders_read_the_first_cards_holder_alone(stored: StoreUnderTest, workspace: Path) -> None:
    found, engine = reminded(stored, workspace)
    with frozen("2026-12-04T10:00:00Z"), statements_run(engine) as run:
        results = fire_due(found, engine, Simulated())
    engine.dispose()
    assert [result.status for result in results] == ["fired"] * (HOLDERS + 1)  # the operator holds a card too
    users_read = [statement for statement in run if "FROM users" in statement]
    orders_read = [statement for statement in run if "FROM orders" in statement]
    assert len(users_read) == len(orders_read) == 1, run  # the first card's, alone
    assert users_read[0].count("?") + users_read[0].count("%(") == 1
    assert stored.scalar("SELECT count(*) FROM transitions WHERE reason LIKE 'fired by the timer%'") == HOLDERS + 1
    assert stored.scalar("SELECT count(*) FROM cards WHERE updated_at = '2026-12-04T10:00:00Z'") == HOLDERS + 1


def test_a_reminded_card_another_command_moved_meanwhile_gets_no_audit_row(
    stored: StoreUnderTest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found, engine = reminded(stored, workspace)
    moved = stored.scalar("SELECT min(id) FROM cards WHERE user_id = 'u003'")
    flush = Work.flush

    def moved_meanwhile(work: Work, connection: Any, context: Any) -> set[int]:
        connection.exec_driver_sql(f"UPDATE cards SET state = 'approved' WHERE id = {moved}")  # as another command would
        return flush(work, connection, context)

    monkeypatch.setattr(Work, "flush", moved_meanwhile)
    with frozen("2026-12-04T10:00:00Z"):
        results = fire_due(found, engine, Simulated())
    engine.dispose()
    by_card = {result.card: result for result in results}
    assert by_card[moved].status == "refused"
    assert by_card[moved].message == f"card {moved} was moved by another command meanwhile"
    assert sum(result.status == "fired" for result in results) == HOLDERS
    reminded_cards = "SELECT card_id FROM transitions WHERE reason LIKE 'fired by the timer%'"
    assert moved not in {row[0] for row in stored.rows(reminded_cards)}
    assert stored.scalar("SELECT count(*) FROM transitions WHERE reason LIKE 'fired by the timer%'") == HOLDERS
