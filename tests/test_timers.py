"""Timers on states, in YAML alone: armed when a card enters the state (a row written with the change),
dropped when it leaves, fired once when due by `cardflow timers run` (as the system, in the audit
trail with the timer's FILE:LINE), repeating `every` period at most `max` times, once after a
downtime. Here a request that waits for an approver is reminded after three days, then daily."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

REQUEST = "CardsBoProcRequestMulitple"
REQUEST_FILE = f"processes/{REQUEST}.yaml"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""
WAITING = """  requested:
    description: The card request waits for an approver.
"""
TIMED = """  requested:
    description: The card request waits for an approver.
    timers:
      - after: P3D
        fire: remind
        every: P1D
        max: 3
"""
TRIGGERS = """triggers:
  start:
"""
REMIND = """triggers:
  remind:
    description: Remind the approvers of a request that waits.
  start:
"""
LOOP = """  - trigger: postpone
    source: requested
    dest: requested
"""
REMINDING = (
    LOOP
    + """  - trigger: remind
    source: requested
    dest: requested
"""
)
FRIDAY = "2026-12-04T09:00:00Z"
APPROVAL = ("--set", "CardsBatchRequestApproval=true")


def timed(workspace: Path, timers: str = TIMED) -> Path:
    """The reference workspace whose waiting requests are reminded (`remind`, a self-loop) by `timers`."""
    path = workspace / REQUEST_FILE
    text = path.read_text(encoding="utf-8")
    assert WAITING in text and TRIGGERS in text and LOOP in text
    path.write_text(text.replace(WAITING, timers).replace(TRIGGERS, REMIND).replace(LOOP, REMINDING), encoding="utf-8")
    return workspace


@pytest.fixture
def cf(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    monkeypatch.setenv("CARDFLOW_NOW", FRIDAY)
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    monkeypatch.setenv("CARDFLOW_NOW", moment)


def test_a_timer_is_armed_on_entering_dropped_on_leaving_and_fired_once_when_due(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = ("--workspace", str(timed(workspace)))
    results = ok(cf("run", REQUEST, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *ws, *APPROVAL))["results"]
    first, second = (r["card"] for r in results)
    armed = ok(cf("timers", "--json"))
    due = "2026-12-07T09:00:00Z"
    assert [(t["card"], t["state"], t["due"]) for t in armed] == [(first, "requested", due), (second, "requested", due)]
    assert armed[0]["action"].startswith(f"fire remind (the timer at {REQUEST_FILE}:")

    assert ok(cf("approve", str(second), "--as", "ap1", "--json", *ws, *APPROVAL))[0]["to"] == "approved"
    assert [t["card"] for t in ok(cf("timers", "--json"))] == [first]  # the approved card left the state

    at(monkeypatch, "2026-12-06T09:00:00Z")
    assert cf("timers", "run", *ws).stdout.strip() == "no timer is due"

    at(monkeypatch, "2026-12-07T09:00:05Z")
    (fired,) = ok(cf("timers", "run", "--json", *ws))
    assert (fired["card"], fired["trigger"], fired["status"], fired["to"]) == (first, "remind", "fired", "requested")
    assert ok(cf("timers", "run", "--json", *ws)) == []  # fired once
    story = cf("explain", str(first), *ws).stdout
    assert f"fired by the timer at {REQUEST_FILE}:" in story and "due 2026-12-07T09:00:00Z" in story
    (following,) = ok(cf("timers", "--json"))
    assert (following["card"], following["due"]) == (first, "2026-12-08T09:00:00Z")


def test_a_repeating_timer_fires_once_after_a_downtime_and_stops_at_its_max(
    cf: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = ("--workspace", str(timed(workspace)))
    (card,) = (r["card"] for r in ok(cf("run", REQUEST, "--user", "u1", "--as", "op1", "--json", *ws, *APPROVAL))["results"])
    at(monkeypatch, "2026-12-07T10:00:00Z")
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    at(monkeypatch, "2026-12-20T10:00:00Z")  # twelve daily firings missed: one now, the next tomorrow
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    assert [t["due"] for t in ok(cf("timers", "--json"))] == ["2026-12-21T09:00:00Z"]
    at(monkeypatch, "2026-12-21T09:00:00Z")
    assert len(ok(cf("timers", "run", "--json", *ws))) == 1
    assert ok(cf("timers", "--json")) == []  # max: 3 firings in all
    reminded = [t for t in ok(cf("explain", str(card), "--json", *ws))["transitions"] if t["trigger"] == "remind"]
    assert len(reminded) == 3


@pytest.mark.parametrize(
    ("timers", "expected"),
    [
        ("      - after: P3X\n        fire: remind\n", "E265 timer: after: 'P3X' is not an ISO 8601 duration"),
        ("      - after: PT0S\n        fire: remind\n", "E265 timer: after: 'PT0S' is not longer than zero"),
        ("      - after: P3D\n        fire: remind\n        every: P1D\n", "E266 timer: repeats every P1D and has no `max`"),
        ("      - after: P3D\n        fire: remnd\n", "E267 timer: fires 'remnd', which no transition takes from 'requested'"),
    ],
    ids=["not-a-duration", "zero", "no-end", "unknown-trigger"],
)
def test_validate_says_what_is_wrong_with_a_timer(run: Run, workspace: Path, timers: str, expected: str) -> None:
    timed(workspace, WAITING + "    timers:\n" + timers)
    result = run("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert any(line.startswith(f"{REQUEST_FILE}:") and expected in line for line in result.stdout.splitlines()), result.stdout
