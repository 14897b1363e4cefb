"""Triggers as commands: every trigger an action process of the workspace lets a person fire is a
command (`cardflow TRIGGER CARD... --as ID`), its help from the YAML; the shipped ones are the
shortcuts approve, reject, postpone, abort and retry, and a workspace's new one works the same way."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    """The command line in a folder holding a store with an operator, an approver and two card holders."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def produced_card(cf: Run, folder: Path, workspace: Path, user: str) -> int:
    """Order `user` a card straight at the bureau (drop folder), then let the bureau report it produced."""
    ws = ("--workspace", str(workspace))
    (result,) = ok(cf("run", ORDER, "--user", user, "--as", "op1", "--json", *QUEUE_OFF, *ws))["results"]
    (order,) = [path for path in (folder / "orders").glob("*.json") if f".{user}." in path.name]
    (folder / "orders" / "status").mkdir(exist_ok=True)
    (folder / "orders" / "status" / order.name).write_text(json.dumps({"status": "produced"}))
    assert cf("orders", "sync", *ws).exit_code == 0
    return int(result["card"])


def test_a_trigger_the_workspace_adds_is_a_command_that_fires_it(cf: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """`cardflow activate CARD --as op1` fires the extended workspace's new trigger: the produced card becomes active."""
    card = produced_card(cf, tmp_path / "cwd", extended_workspace, "u1")
    (done,) = ok(cf("activate", str(card), "--as", "op1", "--json", "--workspace", str(extended_workspace)))
    moved = (done["card"], done["trigger"], done["from"], done["to"], done["status"])
    assert moved == (card, "activate", "produced", "active", "done")
    assert [c["state"] for c in ok(cf("cards", "--json"))] == ["active"]


def test_a_trigger_command_refuses_all_cards_when_one_is_refused(cf: Run, extended_workspace: Path, tmp_path: Path) -> None:
    """`activate` on a produced card and an ordered one changes nothing: exit 1, the ordered card named with its reason."""
    ws = ("--workspace", str(extended_workspace))
    card = produced_card(cf, tmp_path / "cwd", extended_workspace, "u1")
    (other,) = ok(cf("run", ORDER, "--user", "u2", "--as", "op1", "--json", *QUEUE_OFF, *ws))["results"]
    refused = cf("activate", str(card), str(other["card"]), "--as", "op1", *ws)
    assert refused.exit_code == 1 and f"card {other['card']} (ordered)" in refused.stderr, refused.output
    assert sorted(c["state"] for c in ok(cf("cards", "--json"))) == ["ordered", "produced"]


def test_the_workspace_is_found_for_a_trigger_as_for_any_command(
    cf: Run, extended_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger command is found through --workspace, --workspace=DIR and $CARDFLOW_WORKSPACE alike."""
    for given in (("--workspace", str(extended_workspace)), (f"--workspace={extended_workspace}",)):
        assert cf("activate", "--help", *given).exit_code == 0
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(extended_workspace))
    assert "Activate the card" in " ".join(cf("activate", "--help").stdout.split())


def test_help_lists_the_workspace_triggers(cf: Run, extended_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cardflow --help` lists the workspace's triggers under their own heading, each as the workspace
    declares it: a trigger only where it is declared."""
    shipped = cf("--help").stdout
    assert re.search(r"^  approve\s", shipped, re.MULTILINE) and not re.search(r"^  encode\s", shipped, re.MULTILINE)
    assert re.search(r"^  activate\s+Activate the card; its validity starts \(Activate card", shipped, re.MULTILINE)
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(extended_workspace))
    extended = cf("--help").stdout
    triggers = extended[extended.index("Triggers (") :]
    assert re.search(r"^  activate\s+Activate the ticked cards \(Activate multiple cards", triggers, re.MULTILINE)


def test_a_trigger_command_help_comes_from_the_yaml(cf: Run, extended_workspace: Path) -> None:
    """`activate --help` says what each process offering it does, who may, and the reason rule of each."""
    text = " ".join(cf("activate", "--help", "--workspace", str(extended_workspace)).stdout.split())
    assert "Activate the ticked cards (Activate multiple cards: operator role)." in text
    assert "Activate the card (Activate card: operator role)." in text
    assert "--reason TEXT Not asked for (Activate multiple cards): kept in the card's history" in text
    assert "Optional (Activate card): kept in the card's history" in text


def test_an_unknown_command_suggests_a_trigger_of_the_workspace(cf: Run, extended_workspace: Path) -> None:
    """A mistyped trigger is a usage error with "did you mean" over the workspace's triggers too."""
    result = cf("activte", "1", "--as", "op1", "--workspace", str(extended_workspace))
    assert result.exit_code == 2 and "no such command 'activte' (did you mean 'activate'?)" in result.stderr


def test_a_trigger_the_workspace_does_not_declare_is_no_command(cf: Run) -> None:
    """In the shipped workspace `encode` is no command: exit 2, no traceback."""
    result = cf("encode", "1", "--as", "op1")
    assert result.exit_code == 2 and "no such command 'encode'" in result.stderr


def test_a_trigger_of_a_workspace_that_cannot_be_read_says_why(cf: Run, tmp_path: Path) -> None:
    """`approve 1 --workspace NOWHERE` is a usage error naming the workspace that could not be read."""
    result = cf("approve", "1", "--as", "ap1", "--workspace", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "no such command 'approve'" in result.stderr
    assert "the workspace's triggers are not known" in result.stderr and "nowhere is not a workspace" in result.stderr


def test_a_trigger_of_a_workspace_with_errors_points_at_validate(cf: Run, workspace: Path) -> None:
    """A trigger whose process has an error is no command yet: the usage error says the workspace has errors."""
    path = workspace / "processes" / "CardsBoProcDecideRequest.yaml"
    path.write_text(path.read_text().replace("kind: action", "kind: acton"))
    result = cf("approve", "1", "--as", "ap1", "--workspace", str(workspace))
    assert result.exit_code == 2 and "has errors; run `cardflow validate`" in result.stderr, result.output


def test_the_trigger_that_orders_again_is_the_one_a_person_fires_that_asks_the_bureau(extended_workspace: Path) -> None:
    """From a refused card's state the workspace names the trigger whose guard reads `bureau`; none leaves `produced` so."""
    from engine.definitions.shortcuts import reorder_trigger
    from engine.definitions.workspace import load_workspace

    found = load_workspace(extended_workspace)
    assert reorder_trigger(found, ["ordered", "failed"]) == "retry"
    assert reorder_trigger(found, ["produced"]) is None


def renamed(workspace: Path, old: str, new: str) -> Path:
    """The workspace with the trigger `old` renamed `new` in every process and lifecycle (whole words)."""
    for path in [*(workspace / "processes").glob("*.yaml"), *(workspace / "lifecycles").glob("*.yaml")]:
        path.write_text(re.sub(rf"\b{old}\b", new, path.read_text()))
    return workspace


def test_a_trigger_named_like_a_command_leaves_the_command_and_is_told_in_help(
    cf: Run, extended_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trigger named `show` does not replace `cardflow show`; `--help` names it and how to fire it (`run --trigger`)."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(renamed(extended_workspace, "activate", "show")))
    assert cf("validate").exit_code == 0
    assert cf("show", ORDER).exit_code == 0
    text = " ".join(cf("--help").stdout.split())
    assert "Triggers named like a command: show: fired with `cardflow run PROCESS --card ID... --trigger NAME`" in text


def test_the_command_that_orders_a_refused_card_again_comes_from_the_workspace(
    cf: Run, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `retry` renamed `reorder`, a run whose orders the bureau refused names `cardflow reorder CARD...`, which works."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(renamed(workspace, "retry", "reorder")))
    orders = tmp_path / "cwd" / "orders"
    orders.mkdir()
    (orders / "layouts.txt").write_text("premium\n")  # the drop folder's bureau refuses every layout the options give
    refused = cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF)
    assert refused.exit_code == 1 and "the card bureau refused every order (1)" in refused.stderr, refused.output
    command = shlex.split(re.findall(r"`cardflow ([^`]*)` orders them again", refused.stderr)[0])
    assert command[:2] == ["reorder", "1"]
    (orders / "layouts.txt").write_text("standard\n")
    assert cf(*command).exit_code == 0
    assert [c["state"] for c in ok(cf("cards", "--json"))] == ["ordered"]
    assert cf("retry", "1", "--as", "op1").exit_code == 2
