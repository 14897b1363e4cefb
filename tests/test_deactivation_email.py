"""The approvers' email about a deactivation waiting for them gives the reason it was asked with,
card by card (engine.effects.email: each card of a group's email carries its step's reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest

USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""
APPROVAL = ("--set", "CardsDeactivationApproval=true")


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Active cards of u1 (card 1) and u2 (card 2)."""
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(tmp_path / "print-jobs"))
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    steps = (
        ("CardsBoProcRequestMulitple", "--user", "u1", "--user", "u2"),
        ("CardsBoProcIssueMultiple", "--all"),
        ("CardsProcActivate", "--card", "1"),
    )
    for step in (*steps, ("CardsProcActivate", "--card", "2")):
        done = run("run", *step, "--as", "op1")
        assert done.exit_code == 0, done.output
    return run


def test_the_approvers_email_gives_each_cards_reason(cf: Run, stored: StoreUnderTest) -> None:
    asked = cf(
        "run", "CardsProcDeactivate", "--card", "1", "--card", "2", "--as", "op1", "--reason", "Lost on the train", *APPROVAL
    )
    assert asked.exit_code == 0, asked.output
    [(text, html)] = stored.rows("SELECT body_text, body_html FROM outbox WHERE template = 'deactivation_requested'")
    assert 'card 1 of Alice (u1): "Lost on the train"' in text and 'card 2 of Bertil (u2): "Lost on the train"' in text
    assert "<td>Lost on the train</td>" in html
