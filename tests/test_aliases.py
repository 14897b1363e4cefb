"""A process renamed keeps its old name (`aliases:`): the reference's "Abort card request" has the
vendor's name CardsProcAbortRequest and is still found as CardsBoProcAbortRequest by commands,
scenarios and the console; an alias that names another process, or two processes, is E288."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest

from engine.definitions.workspace import load_workspace

NEW, OLD = "CardsProcAbortRequest", "CardsBoProcAbortRequest"
REQUEST = "CardsProcRequest"
USERS = "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\nu1,Alice,alice@example.com,active,\n"


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest) -> Run:
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def test_the_old_name_finds_the_renamed_process(cf: Run) -> None:
    """`show` and `run` by the old name: the process of the new name, its batch recorded under that name."""
    shown = json.loads(cf("show", OLD, "--json").stdout)
    assert shown["symbolic_name"] == NEW
    made = json.loads(cf("run", REQUEST, "--user", "u1", "--as", "op1", "--json").stdout)
    card = made["results"][0]["card"]
    assert made["results"][0]["state"] == "requested"
    aborted = cf("run", OLD, "--card", str(card), "--as", "op1", "--json")
    assert aborted.exit_code == 0, aborted.output
    assert json.loads(aborted.stdout)["results"][0]["to"] == "aborted"
    assert NEW in {batch["process"] for batch in json.loads(cf("batches", "--json").stdout)}


def test_a_scenario_runs_the_renamed_process_by_its_old_name(cf: Run, tmp_path: Path) -> None:
    path = tmp_path / "old.scenario.yaml"
    path.write_text(
        "name: The old name of Abort card request\n"
        "users:\n  - {id: op1, name: Olle, email: op1@example.com, state: active, roles: [operator]}\n"
        "  - {id: u1, name: Alice, email: alice@example.com, state: active}\n"
        "options: {CardsRequestApproval: true}\n"
        f"steps:\n  - run: {REQUEST}\n    as: op1\n    users: [u1]\n"
        f"  - run: {OLD}\n    as: op1\n    cards: [u1]\n"
        "expect:\n  cards:\n    u1: [aborted]\n",
        encoding="utf-8",
    )
    result = cf("test", str(path))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [
        (f"[{REQUEST}]", f"alias '{REQUEST}' is the process {REQUEST}: a name finds one process"),
        (f"[{NEW}]", f"alias '{NEW}' is itself: a name finds one process"),
    ],
)
def test_an_alias_that_names_a_process_is_E288(workspace: Path, aliases: str, expected: str) -> None:
    path = workspace / "processes" / f"{NEW}.yaml"
    path.write_text(path.read_text().replace(f"aliases: [{OLD}]", f"aliases: {aliases}"))
    found = [d for d in load_workspace(workspace).diagnostics if d.code == "E288"]
    assert [d.message for d in found] == [expected] and found[0].location.file == f"processes/{NEW}.yaml"


def test_two_processes_known_by_one_old_name_is_E288(workspace: Path) -> None:
    """The second process that claims the alias is told whose alias it is."""
    decide = workspace / "processes" / "CardsBoProcDecideRequest.yaml"
    decide.write_text(decide.read_text().replace("kind: action\n", f"kind: action\naliases: [{OLD}]\n"))
    (found,) = [d for d in load_workspace(workspace).diagnostics if d.code == "E288"]
    assert found.message.startswith(f"alias '{OLD}' is an alias of ")
