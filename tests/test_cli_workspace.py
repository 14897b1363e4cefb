"""The administrator's commands: validate, processes, show, options, graph, init."""

from __future__ import annotations

import gc
import json
import os
import re
import sys
from pathlib import Path

import pytest
from conftest import Run

import cli
from commands import shared


def test_validate_reference_workspace_is_clean(cli: Run) -> None:
    """The shipped workspace validates with exit 0 and no diagnostics."""
    result = cli("validate")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(cli("validate", "--json").stdout) == []


def test_validate_reports_many_errors_sorted_in_one_run(cli: Run, workspace: Path) -> None:
    """Several problems in one file are all printed, in line order, with exit 1."""
    path = workspace / "processes" / "CardsBoProcRequestMulitple.yaml"
    text = path.read_text()
    text = text.replace("dest: approved\n    guard: not", "dest: aproved\n    guard: not")
    text = text.replace("guard: options.CardsBatchRequestApproval\n", "guard: options.CardsBatchRequestAproval\n")
    text = text.replace("component: Identity Manager Operator", "componnt: Identity Manager Operator")
    path.write_text(text)
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    found = [re.match(r"(\S+):(\d+):(\d+): (E\d+)", line).groups() for line in lines]  # type: ignore[union-attr]
    assert [(int(line), code) for _, line, _, code in found] == [(3, "E103"), (6, "E101"), (28, "E302"), (34, "E203")]
    assert {file for file, *_ in found} == {"processes/CardsBoProcRequestMulitple.yaml"}


def test_validate_json_has_the_contract_fields(cli: Run, workspace: Path) -> None:
    """--json gives file, line, col, code, severity and message for each diagnostic."""
    path = workspace / "lifecycles" / "CardRequest.yaml"
    path.write_text(path.read_text().replace("dest: rejected", "dest: rejectd"))
    result = cli("validate", "--workspace", str(workspace), "--json")
    assert result.exit_code == 1
    (entry,) = [e for e in json.loads(result.stdout) if e["code"] == "E203"]
    assert set(entry) == {"file", "line", "col", "code", "severity", "message"}
    assert (entry["file"], entry["code"], entry["severity"]) == ("lifecycles/CardRequest.yaml", "E203", "error")
    assert "did you mean 'rejected'" in entry["message"]


def test_commands_refuse_an_invalid_workspace(cli: Run, workspace: Path) -> None:
    """Commands that compile or show refuse a workspace with errors, with exit 1."""
    path = workspace / "lifecycles" / "CardRequest.yaml"
    path.write_text(path.read_text().replace("dest: rejected", "dest: rejectd"))
    result = cli("graph", "CardsBoProcRequestMulitple", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "run `cardflow validate`" in result.stderr


def test_processes_lists_every_symbolic_name(cli: Run) -> None:
    """`processes --json` names both vendor processes and the abort process."""
    names = {row["symbolic_name"] for row in json.loads(cli("processes", "--json").stdout)}
    assert {"CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple", "CardsAddonExtProdProcAbort"} <= names


def test_show_gives_metadata_options_and_states(cli: Run) -> None:
    """`show` tells the vendor metadata, the options read with values, and the lifecycle."""
    detail = json.loads(cli("show", "CardsAddonExtProdBoProcOrderMultiple", "--json").stdout)
    assert detail["name"] == "Order multiple cards"
    assert detail["start"] == "Batch order > Order multiple cards"
    assert detail["outcome"] == ["processing", "ordered"]
    assert {o["variable"] for o in detail["options"]} >= {"CardsAddonExtProdQueue", "CardsAddonExtProdMultipleCards"}
    assert detail["states"]["registered"]["initial"] is True
    assert "Prerequisites" in cli("show", "CardsAddonExtProdBoProcOrderMultiple").stdout


def test_show_lists_every_trigger_of_the_process_with_who_fires_it(cli: Run) -> None:
    """`show` lists the triggers its transitions take, those action processes fire too (approve, order, ...), and by whom."""
    detail = json.loads(cli("show", "CardsAddonExtProdBoProcOrderMultiple", "--json").stdout)
    taken = {t["trigger"] for t in detail["transitions"]}
    assert set(detail["triggers"]) == taken | {"start"}
    assert detail["triggers"]["reject"]["fired_by"] == [{"process": "CardsBoProcDecideRequest", "actor": "approver"}]
    assert detail["triggers"]["reject"]["reason"] == "required"
    assert detail["triggers"]["start"]["fired_by"] == [{"process": "CardsAddonExtProdBoProcOrderMultiple", "actor": "operator"}]
    shown = cli("show", "CardsAddonExtProdBoProcOrderMultiple").stdout
    assert re.search(r"^  order\s+CardsAddonExtProdBatchSync \(system\)\s+none\s", shown, re.MULTILINE)


def test_options_shows_the_script_of_each_variable(cli: Run) -> None:
    """`options` has a SCRIPT column: two options of the same label ("Add an approval step") are told apart."""
    table = cli("options").stdout
    assert table.splitlines()[0].split() == ["VARIABLE", "VALUE", "SOURCE", "SCRIPT", "OPTION"]
    approval = [line.split()[3] for line in table.splitlines() if line.endswith("Add an approval step")]
    assert len(approval) == 2 and len(set(approval)) == 2


def test_show_unknown_process_suggests_a_name(cli: Run) -> None:
    """An unknown process is a one-line usage error with exit 2 and a suggestion."""
    result = cli("show", "CardsBoProcRequestMultiple")
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == "cardflow: unknown process 'CardsBoProcRequestMultiple' (did you mean 'CardsBoProcRequestMulitple'?)"
    )


def test_options_set_shows_value_and_source(cli: Run) -> None:
    """--set changes the value for this command and the source says so."""
    rows = {r["variable"]: r for r in json.loads(cli("options", "--set", "CardsAddonExtProdQueue=false", "--json").stdout)}
    assert (rows["CardsAddonExtProdQueue"]["value"], rows["CardsAddonExtProdQueue"]["source"]) == (False, "--set")
    assert (rows["CardsAddonExtProdMultipleCards"]["value"], rows["CardsAddonExtProdMultipleCards"]["source"]) == (
        False,
        "default",
    )
    table = cli("options", "--set", "CardsAddonExtProdQueue=false").stdout
    assert re.search(r"^CardsAddonExtProdQueue\s+false\s+--set\s", table, re.MULTILINE)


def test_options_value_line_is_the_source(cli: Run, workspace: Path) -> None:
    """A `value:` in an option script is shown with the file and line that set it."""
    path = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = path.read_text().replace(
        "    type: bool\n    default: true\n", "    type: bool\n    default: true\n    value: false\n", 1
    )
    path.write_text(text)
    line = text.splitlines().index("    value: false") + 1
    rows = {r["variable"]: r for r in json.loads(cli("options", "--workspace", str(workspace), "--json").stdout)}
    assert rows["CardsAddonExtProdQueue"]["value"] is False
    assert rows["CardsAddonExtProdQueue"]["source"] == f"rules/CardsAddonExtProdScriptOptions.yaml:{line}"


def test_options_set_list_value(cli: Run) -> None:
    """A list option takes a YAML flow list."""
    rows = {
        r["variable"]: r
        for r in json.loads(cli("options", "--set", "CardsAddonExtProdProductionTypes=[standard, contractor]", "--json").stdout)
    }
    assert rows["CardsAddonExtProdProductionTypes"]["value"] == ["standard", "contractor"]


def test_options_set_errors_are_one_line_exit_2(cli: Run) -> None:
    """An unknown variable, a bad value or a malformed --set exit 2 with one line and no traceback."""
    for item in (
        "CardsAddonExtProdQueu=false",
        "CardsAddonExtProdQueue=maybe",
        "CardsAddonExtProdQueue",
        "CardsAddonExtProdProductionTypes=[1, 2]",
    ):
        result = cli("options", "--set", item)
        assert result.exit_code == 2, item
        assert len(result.stderr.strip().splitlines()) == 1, item
        assert "Traceback" not in result.output


def test_graph_mermaid_default_options(cli: Run, golden: object) -> None:
    """The default graph has the queue path, no approval path, and the YAML's edges."""
    result = cli("graph", "CardsAddonExtProdBoProcOrderMultiple", "--format", "mermaid")
    assert result.exit_code == 0
    golden("graph_order_default.mmd", result.stdout)  # type: ignore[operator]
    edges = set(re.findall(r"^    (\w+) --> (\w+) : (\w+)", result.stdout, re.MULTILINE))
    assert edges == {
        ("registered", "processing", "start"),
        ("processing", "aborted", "abort"),
        ("processing", "ordered", "order"),
        ("processing", "failed", "order"),
        ("failed", "ordered", "retry"),
        ("failed", "failed", "retry"),
        ("ordered", "in_production", "production_started"),
        ("ordered", "produced", "produced"),
        ("in_production", "produced", "produced"),
        ("ordered", "failed", "production_failed"),
        ("in_production", "failed", "production_failed"),
        ("produced", "active", "activate"),  # the card in use (lifecycles/CardInUse.yaml) ...
        ("active", "inactive", "deactivate"),  # ... without the deactivation's approval step
        ("active", "inactive", "supersede"),
        ("inactive", "active", "reactivate"),
        ("active", "locked", "lock"),
        ("inactive", "locked", "lock"),
        ("active", "active", "remind_expiry"),  # the timers of expiry
        ("active", "expired", "expire"),
        ("inactive", "expired", "expire"),
    }


def test_graph_follows_the_effective_options(cli: Run, golden: object) -> None:
    """With approval on and the queue off, the diagram shows the approval and direct-order paths only."""
    result = cli(
        "graph",
        "CardsAddonExtProdBoProcOrderMultiple",
        "--set",
        "CardsAddonExtProdQueue=false",
        "--set",
        "CardsAddonExtProdBatchOrderApproval=true",
    )
    golden("graph_order_approval_noqueue.mmd", result.stdout)  # type: ignore[operator]
    edges = set(re.findall(r"^    (\w+) --> (\w+) : (.+)$", result.stdout, re.MULTILINE))
    assert ("registered", "requested", "start") in edges
    assert ("requested", "ordered", "approve [bureau.accepted]") in edges
    assert not any(dest == "processing" for _, dest, _ in edges)


def test_graph_dot(cli: Run, golden: object) -> None:
    """The dot format is a Graphviz digraph of the same machine."""
    result = cli("graph", "CardsBoProcRequestMulitple", "--format", "dot", "--set", "CardsBatchRequestApproval=true")
    assert result.stdout.startswith('digraph "CardsBoProcRequestMulitple" {')
    golden("graph_request_approval.dot", result.stdout)  # type: ignore[operator]


def test_graph_of_an_action_process_is_a_usage_error(cli: Run) -> None:
    """Action processes have no machine of their own."""
    result = cli("graph", "CardsAddonExtProdProcAbort")
    assert result.exit_code == 2 and "acts on CardsAddonExtProdBoProcOrderMultiple" in result.stderr


def test_init_copies_a_valid_workspace(cli: Run, tmp_path: Path) -> None:
    """`init DIR` makes a workspace that validates, and refuses to overwrite one."""
    target = tmp_path / "site"
    assert cli("init", str(target)).exit_code == 0
    assert (target / "processes" / "CardsAddonExtProdBoProcOrderMultiple.yaml").is_file()
    assert cli("validate", "--workspace", str(target)).exit_code == 0
    again = cli("init", str(target))
    assert again.exit_code == 2 and "already holds a workspace" in again.stderr


def test_init_copies_the_diff_example_the_readme_runs(cli: Run, tmp_path: Path) -> None:
    """`init DIR` copies the scenario suite and the diff example (`tests/diff/`), so the README's
    `cardflow diff tests/diff/five_users.scenario.yaml` runs in the new workspace as written."""
    target = tmp_path / "site"
    assert cli("init", str(target)).exit_code == 0
    assert (target / "tests" / "scenarios" / "order_default.scenario.yaml").is_file()
    assert (target / "tests" / "diff" / "five_users.scenario.yaml").is_file()


def test_workspace_that_is_not_one(cli: Run, tmp_path: Path) -> None:
    """--workspace pointing at a folder without processes/ is a usage error."""
    result = cli("validate", "--workspace", str(tmp_path))
    assert result.exit_code == 2 and "is not a workspace" in result.stderr


@pytest.mark.parametrize("command", [["validate"], ["users", "list"]])
def test_the_console_script_turns_the_collector_back_on_once_started(
    run: Run, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """`main` keeps the garbage collector off during start-up only: by the time a command has its
    workspace or its store, collection is on again (a long batch must not run without it)."""
    from engine.store import db

    db.connect(os.environ.get("CARDFLOW_DB") or "cardflow.db").dispose()  # a read command needs its store to exist
    seen: list[bool] = []
    original = shared.started_up

    def spy() -> None:
        original()
        seen.append(gc.isenabled())

    monkeypatch.setattr(shared, "started_up", spy)
    monkeypatch.setattr(sys, "argv", ["cardflow", *command])
    try:
        with pytest.raises(SystemExit):
            cli.main()
        assert seen and all(seen)
    finally:
        gc.enable()
        gc.unfreeze()  # what `main` froze for its exit


def test_a_command_run_in_a_living_process_freezes_nothing(run: Run, workspace: Path) -> None:
    """In-process (a test, a fuzzer: thousands of commands in one process), a command leaves the
    collector as it found it: nothing frozen, so the garbage of one command does not outlive it."""
    gc.unfreeze()
    users = str(Path(cli.__file__).parent / "engine" / "testing" / "samples" / "users.csv")
    commands = (["validate"], ["users", "import", users], ["run", "CardsAddonExtProdBoProcOrderMultiple", "--all", "--as", "op1"])
    for command in commands:
        assert run(*command, "--workspace", str(workspace)).exit_code == 0
        assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_every_command_is_listed_with_its_persona_for_lazy_loading() -> None:
    """cli.COMMANDS names each command's module (only that module is imported to run it): the
    table and the modules' own COMMANDS lists agree, both ways."""
    import importlib

    helpers = {"__init__", "shared", "again", "running"}  # what the persona modules share
    personas = sorted({path.stem for path in (Path(cli.__file__).parent / "commands").glob("*.py")} - helpers)
    defined = {
        command.name: persona for persona in personas for command in importlib.import_module(f"commands.{persona}").COMMANDS
    }
    assert defined == cli.COMMANDS


def test_an_unknown_command_suggests_a_close_one(cli: Run) -> None:
    result = cli("valdate")
    assert result.exit_code == 2
    assert "no such command 'valdate' (did you mean 'validate'?)" in result.stderr
