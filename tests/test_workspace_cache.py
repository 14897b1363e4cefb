"""The workspace cache: a hit gives what a fresh load gives, any change to an input, the code or the
kind of load is a miss, a workspace with errors is never kept, and a cache that is off, torn,
foreign or unwritable only costs time."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Run

from engine import kept
from engine.definitions import cache
from engine.definitions import workspace as workspace_module
from engine.definitions.cache import load_workspace_cached
from engine.definitions.files import input_files
from engine.definitions.workspace import load_workspace

PROCESS = "processes/CardsBoProcRequestMulitple.yaml"
ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = ROOT / "schedule.yaml"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own ($CARDFLOW_CACHE)."""
    chosen = tmp_path / "cache"
    monkeypatch.setenv("CARDFLOW_CACHE", str(chosen))
    return chosen


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The roots that were really loaded (cache misses), in order."""
    seen: list[Path] = []

    def counted(root: Path, *, render_templates: bool = False) -> Any:
        seen.append(root)
        return real_load(root, render_templates=render_templates)

    real_load = workspace_module.load_workspace
    monkeypatch.setattr(workspace_module, "load_workspace", counted)
    return seen


def test_a_second_load_comes_from_the_cache_and_equals_a_fresh_one(workspace: Path, folder: Path, loads: list[Path]) -> None:
    first = load_workspace_cached(workspace)
    second = load_workspace_cached(workspace)
    assert loads == [workspace]
    assert second == first == load_workspace(workspace)
    assert second.processes is not first.processes  # read back from the file, not kept in memory
    assert [entry.name for entry in folder.iterdir()] == [cache.entry_name(cache.cache_key(workspace, False))]


@pytest.mark.parametrize("render_templates", [False, True], ids=["plain", "rendered"])
def test_a_copy_of_a_workspace_elsewhere_is_a_hit_with_its_own_root(
    workspace: Path, folder: Path, loads: list[Path], tmp_path: Path, render_templates: bool
) -> None:
    """Nothing kept names the folder it was loaded from, so a copy (or the same files checked out
    again) starts from the cache, with the root it was asked for."""
    first = load_workspace_cached(workspace, render_templates=render_templates)
    copy = shutil.copytree(workspace, tmp_path / "elsewhere")
    found = load_workspace_cached(copy, render_templates=render_templates)
    assert loads == [workspace]
    assert found.root == copy and found == dataclasses.replace(first, root=copy)
    (entry,) = folder.iterdir()
    assert workspace.parent.name.encode() not in entry.read_bytes()


def test_the_least_recently_used_entry_goes_first(
    workspace: Path, folder: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "KEPT_ENTRIES", 2)
    script = workspace / "rules" / "CardsScriptOptions.yaml"
    original = script.read_text()

    def load(version: str, age: int | None = None) -> None:
        script.write_text(original + f"\n# {version}\n")
        load_workspace_cached(workspace)
        if age is not None:  # an explicit age: file times may be coarser than two loads apart
            entry = folder / cache.entry_name(cache.cache_key(workspace, False))
            os.utime(entry, (time.time() - age, time.time() - age))

    load("a", age=100)
    load("b", age=50)
    load("a")  # a hit: a is now the most recently used
    load("c")  # a third entry: b, the least recently used, goes
    assert len(list(folder.iterdir())) == 2
    assert len(loads) == 3
    load("a")
    load("b")
    assert len(loads) == 4


def test_the_root_given_is_the_root_returned(
    workspace: Path, folder: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_workspace_cached(workspace)
    monkeypatch.chdir(workspace.parent)
    found = load_workspace_cached(Path(workspace.name))
    assert found.root == Path(workspace.name) and len(loads) == 1


@pytest.mark.parametrize(
    "change",
    ["edit a process", "add a process", "remove a process", "edit an option script", "edit a template", "add a schedule"],
)
def test_any_change_to_an_input_is_a_miss(workspace: Path, folder: Path, loads: list[Path], change: str) -> None:
    load_workspace_cached(workspace)
    process = workspace / PROCESS
    if change == "edit a process":
        process.write_text(process.read_text().replace("\nname: ", "\nname: Changed ", 1))
    elif change == "add a process":
        (workspace / "processes" / "Copy.yaml").write_text(
            process.read_text().replace("symbolic_name: CardsBoProcRequestMulitple", "symbolic_name: CardsCopy")
        )
    elif change == "remove a process":
        (workspace / "processes" / "CardsProcAbortRequest.yaml").unlink()
    elif change == "edit an option script":
        script = workspace / "rules" / "CardsScriptOptions.yaml"
        script.write_text(script.read_text() + "\n# a comment changes the bytes\n")
    elif change == "edit a template":
        subject = workspace / "templates" / "email" / "card_ordered.subject.txt"
        subject.write_text("Changed: " + subject.read_text())
    else:
        (workspace / "schedule.yaml").write_text(SCHEDULE.read_text())
    found = load_workspace_cached(workspace)
    assert len(loads) == 2
    assert found == load_workspace(workspace)


def test_rendering_the_templates_is_its_own_entry(workspace: Path, folder: Path, loads: list[Path]) -> None:
    load_workspace_cached(workspace)
    load_workspace_cached(workspace, render_templates=True)
    load_workspace_cached(workspace, render_templates=True)
    assert len(loads) == 2
    assert len(list(folder.iterdir())) == 2


def test_a_workspace_with_errors_is_never_kept(workspace: Path, folder: Path, loads: list[Path]) -> None:
    process = workspace / PROCESS
    process.write_text(process.read_text().replace("dest: approved", "dest: aproved", 1))
    first = load_workspace_cached(workspace)
    second = load_workspace_cached(workspace)
    assert not first.ok and second.diagnostics == first.diagnostics
    assert len(loads) == 2
    assert not folder.exists() or not list(folder.iterdir())


def test_a_change_to_the_code_is_a_miss(
    workspace: Path, folder: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Path(cache.__file__).resolve() in set(cache._code_files())
    assert Path(sys.modules["jinja2"].__file__ or "").resolve() in {path.resolve() for path in cache._code_files()}
    module = workspace.parent / "module.py"
    module.write_text("")
    monkeypatch.setattr(cache, "_code_files", lambda: iter([module]))
    load_workspace_cached(workspace)
    load_workspace_cached(workspace)
    os.utime(module, ns=(module.stat().st_atime_ns, module.stat().st_mtime_ns + 1_000_000_000))
    load_workspace_cached(workspace)
    assert len(loads) == 2


@pytest.mark.parametrize("damage", ["torn", "not a pickle", "another key", "writable by others"])
def test_a_damaged_or_foreign_entry_is_a_miss(workspace: Path, folder: Path, loads: list[Path], damage: str) -> None:
    load_workspace_cached(workspace)
    entry = folder / cache.entry_name(cache.cache_key(workspace, False))
    if damage == "torn":
        entry.write_bytes(entry.read_bytes()[:1000])
    elif damage == "not a pickle":
        entry.write_bytes(b"cardflow")
    elif damage == "another key":
        kept.write(entry, "another", load_workspace(workspace))
    else:
        entry.chmod(0o666)
    found = load_workspace_cached(workspace)
    assert found == load_workspace(workspace)
    assert loads[-1] == workspace and len(loads) == 2


@pytest.mark.parametrize("setting", ["off", "a file, not a folder"])
def test_a_cache_turned_off_or_unwritable_only_costs_time(
    workspace: Path, tmp_path: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    if setting == "off":
        monkeypatch.setenv("CARDFLOW_CACHE", "off")
    else:
        (tmp_path / "plain").write_text("")
        monkeypatch.setenv("CARDFLOW_CACHE", str(tmp_path / "plain"))
    assert load_workspace_cached(workspace) == load_workspace_cached(workspace) == load_workspace(workspace)
    assert len(loads) == 2


def test_the_default_folder_is_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CARDFLOW_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kept.cache_folder() == tmp_path / "cardflow"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kept.cache_folder() == tmp_path / "home" / ".cache" / "cardflow"


AUDIT = """
import json, os, sys
from pathlib import Path
from engine.definitions.workspace import load_workspace
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, Path)):
        opened.append(os.fspath(args[0]))
sys.addaudithook(hook)
load_workspace(Path(sys.argv[1]), render_templates=True)
print(json.dumps(opened))
"""


def test_the_key_covers_every_file_loading_reads(workspace: Path) -> None:
    """So that no input can change without a miss: each file under the workspace that a full load
    (validate's, templates rendered) opens, as Python's audit events tell, is one the key reads."""
    (workspace / "schedule.yaml").write_text(SCHEDULE.read_text())
    output = subprocess.run([sys.executable, "-c", AUDIT, str(workspace)], cwd=ROOT, capture_output=True, text=True, check=True)
    opened = {Path(path).resolve() for path in json.loads(output.stdout)}
    read = {path for path in opened if path.is_relative_to(workspace.resolve())}
    keyed = {path.resolve() for path in input_files(workspace)}
    assert read <= keyed
    assert {path.name for path in read} >= {"schedule.yaml", "CardsScriptOptions.yaml", Path(PROCESS).name, "card_ordered.html"}


def test_validate_says_the_same_from_the_cache(cli: Run, workspace: Path, folder: Path) -> None:
    """The command line's answers, exit code included, are the same on a miss and on a hit."""
    process = workspace / PROCESS
    process.write_text(process.read_text().replace("description: ", "description: Changed ", 1))
    first = cli("validate", "--workspace", str(workspace), "--json")
    second = cli("validate", "--workspace", str(workspace), "--json")
    assert list(folder.iterdir())
    assert (first.exit_code, first.stdout, first.stderr) == (second.exit_code, second.stdout, second.stderr)
    assert first.exit_code == 0


def test_a_file_edited_while_the_workspace_loads_is_not_kept(
    workspace: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is of the bytes before loading; if a file changed meanwhile, what was loaded is not
    kept under it (an edit undone later would otherwise get the edited file's workspace)."""
    process = workspace / PROCESS
    real_load = workspace_module.load_workspace

    def edited_meanwhile(root: Path, *, render_templates: bool = False) -> Any:
        process.write_text(process.read_text().replace("\nname: ", "\nname: Edited ", 1))
        return real_load(root, render_templates=render_templates)

    monkeypatch.setattr(workspace_module, "load_workspace", edited_meanwhile)
    load_workspace_cached(workspace)
    assert not folder.exists() or not list(folder.iterdir())


def test_what_templates_read_is_kept_in_the_cache_and_follows_an_edit(workspace: Path, folder: Path, loads: list[Path]) -> None:
    """The attributes the templates read of a person are found at load and kept, so a run checks them
    without parsing a template; an edited template is a miss and its new reads are found."""
    assert load_workspace_cached(workspace).template_reads["card_ordered"] == ()
    path = workspace / "templates/email/card_ordered.text.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Card services", "Card services, {{ holder.departmnt }}", 1))
    reads = load_workspace_cached(workspace).template_reads["card_ordered"]
    assert [(attr, shown) for attr, shown, _ in reads] == [("departmnt", "holder.departmnt")]
    assert reads[0][2].file == "templates/email/card_ordered.text.txt"
    assert len(loads) == 2
