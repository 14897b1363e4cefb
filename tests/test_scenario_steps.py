"""Scenario steps for every process and trigger of the workspace: a trigger a person fires is a step,
`run:` runs any process (over users or over cards), and what a step cannot be is a located diagnostic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ACTIVATE_MANY = "TestBoProcActivateMultiple"

#: Orders a card for everyone (the queue off: ordered at once) and has the bureau produce u1's to u3's.
PRODUCED = f"""\
name: Activate produced cards
users:
  - {{id: op1, name: Olle Operator, email: op1@example.com, state: active, roles: [operator]}}
  - {{id: ap1, name: Anna Approver, email: ap1@example.com, state: active, roles: [approver]}}
  - {{id: u1, name: Alice, email: alice@example.com, state: active, department: Sales}}
  - {{id: u2, name: Bertil, email: bertil@example.com, state: active, department: Sales}}
  - {{id: u3, name: Cecilia, email: cecilia@example.com, state: active, department: Support}}
options:
  CardsAddonExtProdBatchOrderApproval: false
  CardsAddonExtProdQueue: false
  CardsAddonExtProdMultipleCards: false
steps:
  - run: {ORDER}
    as: op1
    users: [u1, u2, u3]
  - orders: sync
    status: {{u1: produced, u2: produced, u3: produced}}
"""


def scenario(tmp_path: Path, steps: str, expect: str = "") -> Path:
    """A scenario file over the extended workspace: PRODUCED, then `steps`, then `expect`."""
    path = tmp_path / "steps.scenario.yaml"
    path.write_text(PRODUCED + steps + (f"expect:\n{expect}" if expect else ""))
    return path


def test_a_trigger_of_the_workspace_is_a_step(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """`activate: [u1]` (a trigger only the workspace's YAML declares) fires on u1's newest card, as approve: does."""
    path = scenario(
        tmp_path, "  - activate: [u1]\n    as: op1\n    reason: Handed over\n", "  cards:\n    u1: [active]\n    u2: [produced]\n"
    )
    result = cli("test", str(path), "--workspace", str(extended_workspace), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["passed"] == 1


def test_a_trigger_step_is_refused_as_the_command_refuses_it(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """A trigger step by someone without the role fails the step, unless the step says `refused: true`."""
    steps = "  - activate: [u1]\n    as: ap1\n"
    failed = cli("test", str(scenario(tmp_path, steps)), "--workspace", str(extended_workspace), "--json")
    (outcome,) = json.loads(failed.stdout)["scenarios"]
    assert failed.exit_code == 1 and "step 3 (activate) failed" in outcome["failures"][0]["message"]
    expected = cli("test", str(scenario(tmp_path, steps + "    refused: true\n")), "--workspace", str(extended_workspace))
    assert expected.exit_code == 0, expected.stdout


def test_a_run_step_runs_a_process_over_cards(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """The scenario of the issue: order, produce, run the batch order over cards (`cards:` by user id, that
    user's newest card; then `where:` over card and user), and fire `activate:` on one user's card."""
    steps = f"""\
  - run: {ACTIVATE_MANY}
    as: op1
    cards: [u2]
  - run: {ACTIVATE_MANY}
    as: op1
    where: "card.state == 'produced' and user.department == 'Support'"
    trigger: activate
  - activate: [u1]
    as: op1
"""
    path = scenario(tmp_path, steps, "  cards:\n    u1: [active]\n    u2: [active]\n    u3: [active]\n")
    result = cli("test", str(path), "--workspace", str(extended_workspace), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["passed"] == 1


def test_a_refused_card_refuses_a_run_step_over_cards(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """A card the run refuses (already active) fails the step with its reason, as it makes `run` exit 1;
    `refused: true` expects it."""
    steps = f"  - activate: [u1]\n    as: op1\n  - run: {ACTIVATE_MANY}\n    as: op1\n    cards: [u1, u2]\n"
    failed = cli(
        "test", str(scenario(tmp_path, steps, "  cards:\n    u2: [active]\n")), "--workspace", str(extended_workspace), "--json"
    )
    (outcome,) = json.loads(failed.stdout)["scenarios"]
    assert failed.exit_code == 1
    assert [f["message"] for f in outcome["failures"]] == [
        "step 4 (run) failed: card 1 (active) refused: Only a produced card can be activated"
    ]
    expected = scenario(tmp_path, steps + "    refused: true\n", "  cards:\n    u2: [active]\n")
    assert cli("test", str(expected), "--workspace", str(extended_workspace)).exit_code == 0


def diagnostics_of(run: Run, workspace: Path, path: Path) -> list[dict[str, Any]]:
    result = run("test", str(path), "--workspace", str(workspace), "--json")
    assert result.exit_code == 1, result.stdout
    return json.loads(result.stdout)["diagnostics"]  # type: ignore[no-any-return]


def line_of(path: Path, text: str) -> int:
    """The line of the last occurrence of `text` in the file (the step under test comes last)."""
    lines = path.read_text().splitlines()
    return len(lines) - lines[::-1].index(text)


def test_an_unknown_step_key_names_the_triggers_it_could_be(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """A step key that is no step and no trigger a person fires is E230 at the key, with a did-you-mean and the triggers."""
    path = scenario(tmp_path, "  - activat: [u1]\n    as: op1\n")
    (found,) = diagnostics_of(cli, extended_workspace, path)
    assert (found["code"], found["line"], found["col"]) == ("E230", line_of(path, "  - activat: [u1]"), 5)
    assert "did you mean 'activate'?" in found["message"] and "approve" in found["message"]


def test_a_trigger_only_the_batch_sync_fires_is_not_a_step(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """`order:` (fired by the system's batch sync, never by a person) is E230, as any unknown key."""
    path = scenario(tmp_path, "  - order: [u1]\n    as: op1\n")
    assert [(d["code"], d["line"]) for d in diagnostics_of(cli, extended_workspace, path)] == [
        ("E230", line_of(path, "  - order: [u1]"))
    ]


def test_a_trigger_unknown_to_the_workspace_is_not_a_step(cli: Run, workspace: Path, tmp_path: Path) -> None:
    """In the reference workspace, which declares no `encode`, such a step is E230."""
    path = scenario(tmp_path, "  - encode: [u1]\n    as: op1\n")
    assert [d["code"] for d in diagnostics_of(cli, workspace, path)] == ["E230"]


@pytest.mark.parametrize(
    "step, code, where",
    [
        ("  - activate: u1\n    as: op1\n", "E102", "  - activate: u1"),
        ("  - activate: []\n    as: op1\n", "E105", "  - activate: []"),
        ("  - activate: [ghost]\n    as: op1\n", "E601", "  - activate: [ghost]"),
        ("  - activate: [u1]\n    queue: run\n", "E602", "  - activate: [u1]"),
    ],
)
def test_a_trigger_step_is_checked_as_the_fixed_steps_are(
    run: Run, extended_workspace: Path, tmp_path: Path, step: str, code: str, where: str
) -> None:
    """A trigger step takes a non-empty list of cards or scenario users, and is the step's one action."""
    path = scenario(tmp_path, step)
    found = diagnostics_of(run, extended_workspace, path)
    assert (code, line_of(path, where)) in {(d["code"], d["line"]) for d in found}, found


@pytest.mark.parametrize(
    "step, code, where",
    [
        (f"  - run: {ORDER}x\n    as: op1\n    all: true\n", "E209", f"  - run: {ORDER}x"),
        (f"  - run: {ORDER}\n    as: op1\n    all: true\n    trigger: begin\n", "E232", "    trigger: begin"),
        (f"  - run: {ORDER}\n    as: op1\n    cards: [u1]\n", "E232", "    cards: [u1]"),
        (f"  - run: {ORDER}\n    as: op1\n", "E603", f"  - run: {ORDER}"),
        (f"  - run: {ACTIVATE_MANY}\n    as: op1\n    all: true\n    trigger: activat\n", "E231", "    trigger: activat"),
        (f"  - run: {ACTIVATE_MANY}\n    as: op1\n    users: [u1]\n", "E232", "    users: [u1]"),
        (
            f"  - run: {ACTIVATE_MANY}\n    as: op1\n    all: true\n    production_type: standard\n",
            "E232",
            "    production_type: standard",
        ),
        (f"  - run: {ACTIVATE_MANY}\n    as: op1\n    cards: [u1]\n    all: true\n", "E603", f"  - run: {ACTIVATE_MANY}"),
    ],
)
def test_a_run_step_names_a_process_and_selects_as_it_selects(
    run: Run, extended_workspace: Path, tmp_path: Path, step: str, code: str, where: str
) -> None:
    """An unknown process (E209), a trigger the process does not declare (E231), a key of the other kind
    of run (`cards:` or `trigger:` for a process over users, `users:` or `production_type:` for one over
    cards: E232), or not exactly one selection (E603) is a diagnostic at its line."""
    path = scenario(tmp_path, step)
    assert [(d["code"], d["line"]) for d in diagnostics_of(run, extended_workspace, path)] == [(code, line_of(path, where))]


def test_a_trigger_named_like_a_step_key_is_fired_through_run(cli: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """A trigger named like a fixed step key (here `reason`) is not a step key: `run:` with `trigger:` fires it."""
    for path in [*(extended_workspace / "processes").glob("*.yaml"), *(extended_workspace / "lifecycles").glob("*.yaml")]:
        text = path.read_text()
        path.write_text(text.replace("  activate:\n", "  reason:\n").replace("trigger: activate\n", "trigger: reason\n"))
    steps = f"  - run: {ACTIVATE_MANY}\n    as: op1\n    cards: [u1]\n    trigger: reason\n    reason: Handed over\n"
    path = scenario(tmp_path, steps, "  cards:\n    u1: [active]\n    u2: [produced]\n")
    result = cli("test", str(path), "--workspace", str(extended_workspace), "--json")
    assert result.exit_code == 0, result.stdout
