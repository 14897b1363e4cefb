"""The suite's own pytest settings (pyproject.toml), as someone running `pytest` sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest


def test_needs_a_server():
    pytest.skip("NO SERVER HERE: the server tests did not run")
"""


def test_a_skipped_test_prints_its_reason_in_the_summary(tmp_path: Path) -> None:
    """A test that skips names its reason in pytest's summary, even with the suite's `-q`."""
    (tmp_path / "test_tiny.py").write_text(SKIPPING, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
    done = subprocess.run([*command, "-p", "no:cacheprovider", str(tmp_path / "test_tiny.py")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "NO SERVER HERE: the server tests did not run" in done.stdout


def test_each_test_runs_in_the_pass_where_it_means_something() -> None:
    """A test that reaches no store under test runs in the SQLite pass only; one that asks for a
    PostgreSQL database itself, in the PostgreSQL pass only; one on the store under test, in both."""
    plain = "tests/test_expressions.py::test_reads_are_recorded_in_order"
    server = "tests/test_postgres_server.py::test_each_test_gets_a_fresh_database_on_a_real_server"
    on_store = "tests/test_trigger_commands.py::test_the_command_that_orders_a_refused_card_again_comes_from_the_workspace"
    assert _planned("sqlite", plain, server, on_store) == {plain, on_store}
    assert _planned("postgres", plain, server, on_store) == {server, on_store}


def _planned(kind: str, *tests: str) -> set[str]:
    """The tests among `tests` that the `kind` pass would run (pytest --setup-plan: nothing runs)."""
    environment = {
        **os.environ,
        "CARDFLOW_TEST_DB": kind,
        "CARDFLOW_TEST_POSTGRES": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-v", "--setup-plan", *tests]
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    return {line.split()[0] for line in lines if line.startswith("tests/") and "(fixtures used" in line}
