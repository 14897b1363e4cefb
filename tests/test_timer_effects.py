"""A timer that runs effects of its own, with no trigger or transition declared for it: the card stays
in its state, the effects fire as a transition's would (here a reminder email to the requester), the
audit trail names the timer, nobody else can fire it, and validate says when a timer both fires a
trigger and runs effects, or does neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run
from test_timers import REMINDER, REQUEST, REQUEST_FILE, SCENARIO, WAITING, timed

#: The waiting request reminds its requester by an email of the timer's own, daily from day 3, three times.
OWN_EFFECTS = (
    WAITING
    + """    timers:
      - after: P3D
        every: P1D
        max: 3
        effects:
          - email: request_reminder
            to: requester
"""
)


def own_effects(workspace: Path, timers: str = OWN_EFFECTS) -> Path:
    """The reference workspace whose waiting requests are reminded by `timers`, with their template."""
    timed(workspace, timers)
    for part, body in REMINDER.items():
        (workspace / "templates" / "email" / f"request_reminder.{part}").write_text(body, encoding="utf-8")
    return workspace


def test_a_timer_runs_its_own_effects_and_the_card_stays_in_its_state(cli: Run, workspace: Path, tmp_path: Path) -> None:
    """Three reminders for the request that waits (days 3, 4, 5), none for the one decided on day 2
    (the scenario expects exactly those emails, and the card still waiting)."""
    ws = ("--workspace", str(own_effects(workspace)))
    assert cli("validate", *ws).exit_code == 0
    path = tmp_path / "remind.scenario.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    result = cli("test", str(path), *ws, "--json")
    assert result.exit_code == 0, result.stdout
    (coverage,) = [c for c in json.loads(result.stdout)["coverage"] if c["process"] == REQUEST]
    line = (workspace / REQUEST_FILE).read_text(encoding="utf-8").splitlines().index("      - after: P3D") + 1
    assert f"{REQUEST_FILE}:{line}" in coverage["timers"]["fired"]
    assert "timer:requested:1" not in json.dumps(coverage["missing"])  # its transition was taken too


def test_the_timer_is_in_the_audit_trail_and_its_trigger_is_its_own(
    run: Run, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd" / "users.csv").write_text(
        "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\n"
        "ap1,Anna Approver,ap1@example.com,active,approver\nu1,Alice,alice@example.com,active,\n"
    )
    assert run("users", "import", "users.csv").exit_code == 0
    ws = ("--workspace", str(own_effects(workspace)))
    monkeypatch.setenv("CARDFLOW_NOW", "2026-12-04T09:00:00Z")
    started = run("run", REQUEST, "--user", "u1", "--as", "op1", "--json", *ws, "--set", "CardsBatchRequestApproval=true")
    (card,) = [r["card"] for r in json.loads(started.stdout)["results"]]
    (armed,) = json.loads(run("timers", "--json").stdout)
    assert armed["action"].startswith(f"run its effects (the timer at {REQUEST_FILE}:")

    monkeypatch.setenv("CARDFLOW_NOW", "2026-12-07T09:00:05Z")
    (fired,) = json.loads(run("timers", "run", "--json", *ws).stdout)
    assert (fired["card"], fired["trigger"], fired["status"], fired["to"]) == (card, "timer:requested:1", "fired", "requested")
    story = run("explain", str(card), *ws).stdout
    assert f"fired by the timer at {REQUEST_FILE}:" in story and "due 2026-12-07T09:00:00Z" in story
    sent = json.loads(run("outbox", "--json").stdout)
    assert [m["template"] for m in sent if m["card"] == card][-1] == "request_reminder"

    refused = run("run", "CardsBoProcDecideRequest", "--card", str(card), "--trigger", "timer:requested:1", "--as", "ap1", *ws)
    assert refused.exit_code != 0 and "timer:requested:1" in refused.output  # only the timer fires it


EFFECTS = "        effects:\n          - email: request_reminder\n            to: requester\n"


@pytest.mark.parametrize(
    ("timers", "expected"),
    [
        ("      - after: P3D\n        fire: postpone\n" + EFFECTS, "E289 timer: needs exactly one of `fire`"),
        ("      - after: P3D\n", "E289 timer: needs exactly one of `fire`"),
        (
            "      - after: P3D\n        effects:\n          - email: request_remindr\n            to: requester\n",
            "request_remindr",
        ),
        ("      - after: P3D\n        effects:\n          - email: request_reminder\n            to: nobody\n", "nobody"),
    ],
    ids=["both", "neither", "unknown-template", "unknown-recipient"],
)
def test_validate_says_what_is_wrong_with_a_timer_that_runs_effects(
    cli: Run, workspace: Path, timers: str, expected: str
) -> None:
    """Each problem is reported at its place in the state's timers, as a transition's effect would be."""
    own_effects(workspace, WAITING + "    timers:\n" + timers)
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    lines = (workspace / REQUEST_FILE).read_text(encoding="utf-8").splitlines()
    first = lines.index("      - after: P3D") + 1
    found = [line for line in result.stdout.splitlines() if expected in line]
    assert found, result.stdout
    assert all(line.startswith(f"{REQUEST_FILE}:") for line in found)
    assert all(int(line.split(":")[1]) >= first for line in found), found  # at the timer, not elsewhere
