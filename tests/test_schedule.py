"""The workspace's scheduled jobs: schedule.yaml read, each cron expression checked and located."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.definitions.schedule import cron_problem
from engine.definitions.workspace import init_workspace, load_workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "*/5 * * * *", "0 2 * * mon-fri", "0,30 8-18 1 jan,jul *", "* * * * * */5", "@daily", "15 3 * * 7"],
)
def test_good_cron_expressions_pass(expression: str) -> None:
    """Five fields (or six, seconds last), ranges, steps, lists, names and shorthands are accepted."""
    assert cron_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * *", "4 field(s)"),
        ("60 * * * *", "minute field '60'"),
        ("* 24 * * *", "hour field '24'"),
        ("* * 0 * *", "day of month field '0'"),
        ("* * * foo *", "month field 'foo'"),
        ("*/0 * * * *", "step '0'"),
        ("5-2 * * * *", "runs backwards"),
        ("@sometimes", "unknown shorthand"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expression: str, words: str) -> None:
    """Each bad expression is named with the field that is wrong."""
    problem = cron_problem(expression)
    assert problem is not None and words in problem


def test_the_reference_workspace_schedules_the_three_jobs() -> None:
    """The shipped schedule.yaml schedules the batch sync, outbox delivery and the order-status sync."""
    assert set(load_workspace(ROOT).schedules) == {"batch-sync", "outbox-send", "orders-sync"}


def test_a_workspace_without_schedule_has_no_scheduled_jobs(workspace: Path) -> None:
    """Without schedule.yaml nothing is scheduled, and nothing is wrong."""
    found = load_workspace(workspace)
    assert found.schedules == {} and found.ok


def test_a_bad_expression_is_located_and_schedules_nothing(workspace: Path) -> None:
    """A bad cron expression is an E701 at its file:line:col, and the workers get no schedule from the file."""
    (workspace / "schedule.yaml").write_text('jobs:\n  batch-sync:\n    schedule: "*/5 * * *"\n')
    found = load_workspace(workspace)
    assert [(d.code, str(d.location)) for d in found.diagnostics] == [("E701", "schedule.yaml:3:15")]
    assert found.schedules == {}


def test_init_copies_the_schedule(tmp_path: Path) -> None:
    """`cardflow init` gives a site the schedule with the rest of the workspace."""
    init_workspace(tmp_path / "site", ROOT)
    assert (tmp_path / "site" / "schedule.yaml").read_bytes() == (ROOT / "schedule.yaml").read_bytes()
    shutil.rmtree(tmp_path / "site")
