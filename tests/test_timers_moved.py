"""A timer at a date field is armed anew when a transition back into the card's state moves the date
(engine.batch.arming): extending an active card's validity by a year moves its expiry and its
reminders a year on, without a second set of them; a transition that leaves the date alone keeps them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

USERS = "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\nu1,Alice,alice@example.com,active,\n"
EXTEND = """# Added by the test: an operator extends an active card's validity by a year.
symbolic_name: TestProcExtendCard
name: Extend card
package: Cards
component: Identity Manager Operator
start: Card > Extend card
description: As an operator I want to extend an active card's validity.
outcome: [active]
kind: action
actor: operator
acts_on: [CardsBoProcRequestMulitple]
triggers:
  extend:
    description: Extend the card's validity by a year.
  touch:
    description: Note the card in its history, its validity as it is.
prerequisites:
  - rule: card.state == 'active'
    message: Only an active card can be extended.
"""
TRIGGERS = """triggers:
  extend:
    description: The card's validity is extended.
  touch:
    description: The card is noted, its validity unchanged.
"""
TRANSITIONS = """transitions:
  - trigger: extend
    source: active
    dest: active
    effects:
      - set: {valid_until: card.valid_until | plus('P1Y') | date}
  - trigger: touch
    source: active
    dest: active
    effects:
      - set: {valid_until: card.valid_until}
"""


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The reference workspace with "Extend card", and an active card of u1 valid until 2029-12-04."""
    lifecycle = workspace / "lifecycles" / "CardInUse.yaml"
    text = lifecycle.read_text(encoding="utf-8")
    assert text.count("triggers:\n") == 1 and text.count("transitions:\n") == 1
    lifecycle.write_text(text.replace("triggers:\n", TRIGGERS).replace("transitions:\n", TRANSITIONS), encoding="utf-8")
    (workspace / "processes" / "TestProcExtendCard.yaml").write_text(EXTEND, encoding="utf-8")
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(workspace))
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(tmp_path / "print-jobs"))
    monkeypatch.setenv("CARDFLOW_NOW", "2026-12-04T09:00:00Z")
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    for step in (
        ("CardsBoProcRequestMulitple", "--user", "u1"),
        ("CardsProcIssue", "--card", "1"),
        ("CardsProcActivate", "--card", "1"),
    ):
        done = run("run", *step, "--as", "op1")
        assert done.exit_code == 0, done.output
    return run


def armed(cf: Run) -> list[tuple[str, str]]:
    """The armed timers: (trigger, due), first due first."""
    listed = cf("timers", "--json")
    assert listed.exit_code == 0, listed.output
    return [(timer["action"].split()[1], timer["due"]) for timer in json.loads(listed.stdout)]  # "fire T (the timer at ...)"


def a_year_on(timers: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    return [(action, due.replace("2029-", "2030-", 1).replace("2028-", "2029-", 1)) for action, due in timers]


def test_extending_the_validity_moves_the_expiry_and_its_reminders(cf: Run) -> None:
    before = armed(cf)
    assert before[-1] == ("expire", "2029-12-05T00:00:00Z")
    assert [action for action, _ in before].count("remind_expiry") == 10  # 60, 30, 14, 7 days before, then daily
    assert cf("run", "TestProcExtendCard", "--card", "1", "--trigger", "extend", "--as", "op1").exit_code == 0
    assert armed(cf) == a_year_on(before)


def test_a_transition_that_leaves_the_date_alone_keeps_the_timers(cf: Run, stored: StoreUnderTest) -> None:
    ids = stored.rows("SELECT id FROM timers WHERE status = 'armed' ORDER BY id")
    assert cf("run", "TestProcExtendCard", "--card", "1", "--trigger", "touch", "--as", "op1").exit_code == 0
    assert stored.rows("SELECT id FROM timers WHERE status = 'armed' ORDER BY id") == ids
