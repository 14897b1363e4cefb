"""The code knows no name of the shipped workspace: no process, state, trigger or option name of
processes/*.yaml, lifecycles/*.yaml and rules/*.yaml is a string literal in `engine/`, `commands/` or `cli.py`
(comments and docstrings aside; the demo and its sample data aside). A workspace renames them all
and the code still works (DESIGN.md, "The open vocabulary")."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: the demo runs the shipped workspace on sample data by design
ASIDE = {"engine/testing/demo.py"}

#: Literals that read like a workspace name but mean something else in that file: another
#: vocabulary (the card bureau's protocol, an email's delivery status, a command's name, a YAML key).
OTHER_VOCABULARY: dict[str, dict[str, str]] = {
    "commands/mail.py": {"failed": "an email's delivery status", "retry": "the `outbox retry` command"},
    "engine/outbound/delivery.py": {"failed": "an email's delivery status"},
    "engine/store/outbox.py": {"failed": "an email's delivery status"},
    "engine/outbound/bureau.py": {
        "ordered": "the bureau's order statuses (its protocol, mapped onto triggers by `bureau_status:`)",
        "in_production": "the bureau's order status",
        "produced": "the bureau's order status",
        "failed": "the bureau's order status",
    },
    "engine/definitions/schemas.py": {
        "start": "the process's `start:` key (its menu path)",
        "in_production": "the bureau's order statuses a trigger's `bureau_status:` may name",
        "produced": "the bureau's order status",
        "failed": "the bureau's order status (also in a scenario's `orders: sync` step)",
        "ordered": "the bureau's order status in a scenario's `orders: sync` step",
    },
    "engine/definitions/build.py": {"start": "the process's `start:` key (its menu path)"},
    "engine/definitions/calls.py": {"order": "the card bureau's operation (`invoke: bureau.order`), not the trigger"},
    "engine/report/tables.py": {
        "start": "the process's `start:` key in `show`",
        "ordered": "the bureau's answer to an order (accepted), beside `refused`",
    },
    "engine/testing/diff.py": {"ordered": "the bureau's answer to an order (accepted), beside `refused`"},
    "engine/testing/suite.py": {"failed": "the scenarios that failed"},
    "engine/definitions/connectors.py": {"order": "a bureau connector's operation (its protocol), which `invoke:` names"},
    "engine/definitions/connector_kinds.py": {"order": "a bureau connector's operation (its protocol), beside `status`"},
    "engine/testing/matrix.py": {"start": "the matrix's `start` column and JSON key: the states a new card reaches"},
    "engine/testing/scenario.py": {"failed": "the bureau's order status a scenario's `orders: sync` step reports"},
    "engine/web/i18n.py": {"failed": "an email's delivery status, in Swedish"},
    "engine/store/accounts.py": {"expired": "a console session's status"},
    "commands/releases.py": {"approve": "the `release approve` command", "activate": "the `release activate` command"},
    "engine/releases/publishing.py": {
        "approved": "a release's log entry: a second admin approved it",
        "requested": "a release's log entry: an earlier release asked for again",
    },
}
#: Literals of another vocabulary wherever they stand: a user's state (users are `active` or
#: `inactive`, the two cardflow knows), which the shipped card states happen to share.
EVERYWHERE = {"active": "a user's state", "inactive": "a user's state"}


def shipped_names() -> set[str]:
    """Every process, lifecycle, state, trigger, option script and option variable name of the shipped workspace."""
    names: set[str] = set()
    definitions = [*sorted((ROOT / "processes").glob("*.yaml")), *sorted((ROOT / "lifecycles").glob("*.yaml"))]
    for path in definitions:
        process = yaml.safe_load(path.read_text(encoding="utf-8"))
        names |= {process.get("symbolic_name") or process["lifecycle"], *process.get("states", {}), *process.get("triggers", {})}
        names |= {transition["trigger"] for transition in process.get("transitions", [])}
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        script = yaml.safe_load(path.read_text(encoding="utf-8"))
        names |= {script["script"], *script.get("variables", {})}
    return names


def code_files() -> list[Path]:
    paths = [*sorted((ROOT / "engine").rglob("*.py")), ROOT / "cli.py", *sorted((ROOT / "commands").glob("*.py"))]
    return [path for path in paths if str(path.relative_to(ROOT)) not in ASIDE]


def literals(source: str) -> Iterator[tuple[int, str]]:
    """Every string literal of a module with its line, docstrings aside."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def leaks(paths: list[Path], names: set[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Per file (relative to `root`), the workspace names it holds as string literals, other vocabularies aside."""
    found: dict[str, set[str]] = {}
    for path in paths:
        relative = str(path.relative_to(root))
        other = {**EVERYWHERE, **OTHER_VOCABULARY.get(relative, {})}
        named = {value for _, value in literals(path.read_text(encoding="utf-8")) if value in names and value not in other}
        if named:
            found[relative] = named
    return found


def test_the_shipped_names_are_read_from_the_workspace() -> None:
    """The names come from the YAML: processes, states, triggers, option scripts and variables."""
    names = shipped_names()
    assert {"CardsAddonExtProdBoProcOrderMultiple", "processing", "approve", "start", "CardsAddonExtProdQueue"} <= names
    assert {"CardsScriptOptions", "production_failed", "rejected"} <= names


def test_no_shipped_name_is_written_in_the_code() -> None:
    """No process, state, trigger or option name of the shipped workspace is a literal in engine/, commands/ or cli.py."""
    found = leaks(code_files(), shipped_names())
    assert {path: sorted(named) for path, named in found.items()} == {}


def test_the_other_vocabularies_listed_are_still_used() -> None:
    """Each literal excused as another vocabulary is still in its file, so the excuses do not outlive the code."""
    names = shipped_names()
    unused = {}
    for relative, other in OTHER_VOCABULARY.items():
        held = {value for _, value in literals((ROOT / relative).read_text(encoding="utf-8"))}
        unused[relative] = sorted(value for value in other if value not in held or value not in names)
    assert {path: values for path, values in unused.items() if values} == {}


def test_a_name_written_in_the_code_is_found(tmp_path: Path) -> None:
    """A module comparing a state with a shipped name is reported; the same name in its docstring or a
    comment is not. (The probe is not written among the code: a module appearing there changes the
    digest of the code that other tests' workspace cache keys hold.)"""
    probe = tmp_path / "engine" / "_probe_for_names.py"
    probe.parent.mkdir()
    probe.write_text('"""Cards in processing."""\n\n# processing\nQUEUED = "processing"\n', encoding="utf-8")
    assert leaks([probe], shipped_names(), tmp_path) == {"engine/_probe_for_names.py": {"processing"}}
