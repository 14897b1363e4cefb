"""The trigger that creates a card is named in the YAML (`creates:`, or the one leaving the initial
state), never `start` in the code: a workspace that renames it runs as before."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,HR
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
u3,Cecilia,cecilia@example.com,inactive,,Support
"""
#: Option sets whose creating transition is settled by the options (queued), asks the bureau and
#: sends an email (ordered), and sends the approvers' email (requested).
OPTION_SETS = {
    "queued": (),
    "ordered": ("CardsAddonExtProdQueue=false", "CardsAddonExtProdOrderedEmail=true"),
    "requested": ("CardsAddonExtProdBatchOrderApproval=true",),
}


def renamed(workspace: Path, trigger: str) -> Path:
    """The workspace with the creating trigger `start` of every batch process renamed to `trigger`."""
    for path in (workspace / "processes").glob("*.yaml"):
        text = re.sub(r"(?m)^  start:$", f"  {trigger}:", path.read_text(encoding="utf-8"))
        path.write_text(re.sub(r"(?m)trigger: start$", f"trigger: {trigger}", text), encoding="utf-8")
    return workspace


def outcome(run: Run, workspace: Path, batch: str, sets: tuple[str, ...]) -> dict[str, Any]:
    """Run the order process for everyone as batch `batch`; the states by user and the emails it made."""
    options = [word for value in sets for word in ("--set", value)]
    earlier = {e["id"] for e in json.loads(run("outbox", "--json").stdout)}
    args = ["run", ORDER, "--all", "--as", "op1", "--batch-id", batch, "--workspace", str(workspace), "--json"]
    result = run(*args, *options, "--set", "CardsAddonExtProdMultipleCards=true")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    emails = json.loads(run("outbox", "--json").stdout)
    return {
        "cards": sorted((r["user"], r["state"], r["status"], r["reason"]) for r in results),
        "emails": sorted((e["template"], e["to"]) for e in emails if e["id"] not in earlier),
    }


@pytest.mark.parametrize("sets", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_a_renamed_creating_trigger_runs_as_before(run: Run, workspace: Path, tmp_path: Path, sets: tuple[str, ...]) -> None:
    """With `start` renamed to `begin` in the YAML alone, a run makes the same cards and emails as before."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    before = outcome(run, Path(__file__).resolve().parents[1], "before", sets)
    after = outcome(run, renamed(workspace, "begin"), "after", sets)
    assert after["cards"] == before["cards"] and after["cards"]
    assert after["emails"] == before["emails"]


def test_a_renamed_creating_trigger_gives_the_same_matrix(cli: Run, workspace: Path) -> None:
    """`matrix` follows the renamed creating trigger: every combination ends as with `start`."""
    before = json.loads(cli("matrix", ORDER, "--json").stdout)
    after = cli("matrix", ORDER, "--json", "--workspace", str(renamed(workspace, "begin")))
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == before


def test_creates_chooses_among_triggers_leaving_the_initial_state(cli: Run, workspace: Path) -> None:
    """Two triggers leave the initial state: `creates: start` says which creates a card, and the workspace validates."""
    lifecycle = workspace / "lifecycles" / "CardOrder.yaml"  # shared by the two processes that order cards
    text = lifecycle.read_text(encoding="utf-8")
    lifecycle.write_text(text.replace("source: [requested, processing]", "source: [registered, requested, processing]"))
    assert "E223" in cli("validate", "--workspace", str(workspace)).stdout
    for name in (ORDER, "CardsAddonExtProdProcOrder"):
        path = workspace / "processes" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("\nkind: batch\n", "\nkind: batch\ncreates: start\n"), encoding="utf-8")
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 0, result.output
