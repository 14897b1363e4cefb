"""A built wheel carries the reference workspace: `cardflow validate` works from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_wheel_validates_and_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    """Build the wheel, install it alone; validate and the demo work from an empty folder."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("cardflow-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"cli.py", "commands/operate.py", "engine/reference/processes/CardsAddonExtProdBoProcOrderMultiple.yaml"} <= names
    assert "engine/reference/lifecycles/CardOrder.yaml" in names
    assert "engine/reference/rules/CardsScriptOptions.yaml" in names
    assert "engine/reference/tests/scenarios/order_default.scenario.yaml" in names
    assert "engine/reference/tests/diff/five_users.scenario.yaml" in names  # `init` copies it for the README's diff
    assert {"engine/reference/schedule.yaml", "commands/work.py", "engine/work/jobs.py"} <= names
    assert "engine/reference/roles.yaml" in names  # the roles the reference workspace declares
    assert "engine/reference/connectors.yaml" in names  # the systems it calls
    assert {"commands/console.py", "engine/web/static/htmx.min.js", "engine/web/templates/search.html"} <= names  # the console

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDFLOW_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run([str(site / "bin" / "cardflow"), "validate"], cwd=empty, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert str(site / "engine" / "reference") in result.stderr

    demo = subprocess.run(
        [str(site / "bin" / "cardflow"), "demo", "--dir", "demo"], cwd=empty, env=env, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    summary = next(line for line in demo.stdout.splitlines() if line.startswith("Cards by state:"))
    assert all(f" {state} " in summary for state in ("processing", "ordered", "approved", "rejected", "aborted"))
    assert (empty / "demo" / "cardflow.db").is_file()


def test_validate_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    """Commands that need no database never import SQLAlchemy (it costs start-up time)."""
    code = (
        "import sys, cli\n"
        "for args in (['validate'], ['options'], ['processes'], ['graph', 'CardsBoProcRequestMulitple']):\n"
        "    try:\n"
        "        cli.cli(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


def _imported_by(commands: list[list[str]], modules: list[str], folder: Path) -> dict[str, list[str]]:
    """For each command run in-process in a fresh interpreter, which of `modules` it imported."""
    code = (
        "import json, sys, cli\n"
        f"args, modules = {commands!r}[int(sys.argv[1])], {modules!r}\n"
        "try:\n"
        "    cli.cli(args, standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps([name for name in modules if name in sys.modules]))\n"
    )
    found = {}
    for number, args in enumerate(commands):
        result = subprocess.run([sys.executable, "-c", code, str(number)], cwd=folder, capture_output=True, text=True, check=True)
        found[" ".join(args)] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_commands_without_a_store_import_neither_sqlalchemy_nor_the_compiler(tmp_path: Path) -> None:
    """`--help`, validate, options and processes import neither SQLAlchemy nor the compiler."""
    commands = [["--help"], ["validate"], ["options"], ["processes"]]
    modules = ["sqlalchemy", "engine.definitions.compile", "transitions"]
    assert _imported_by(commands, modules, ROOT) == {" ".join(args): [] for args in commands}


def test_listing_commands_import_no_compiler_machine_or_jinja(tmp_path: Path) -> None:
    """`cards`, `batches`, `outbox` and `users list` print rows without the compiler, transitions or Jinja."""
    store = tmp_path / "cardflow.db"
    from engine.store.db import connect

    connect(str(store)).dispose()
    commands = [["cards", "--db", str(store)], ["batches", "--db", str(store)], ["outbox", "--db", str(store)]]
    commands += [["users", "list", "--db", str(store)], ["cards", "--json", "--db", str(store)]]
    modules = ["engine.definitions.compile", "transitions", "jinja2", "cerberus"]
    assert _imported_by(commands, modules, tmp_path) == {" ".join(args): [] for args in commands}
