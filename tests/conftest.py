"""Shared fixtures: a copy of the reference workspace and an in-process command line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the reference workspace that a test may edit."""
    target = tmp_path / "ws"
    for folder in ("processes", "rules", "templates"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, target / folder)
    return target


Run = Callable[..., Result]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """Run `cardflow ARGS...` in-process, in an empty folder, returning click's Result."""
    home = tmp_path / "cwd"
    home.mkdir(exist_ok=True)
    monkeypatch.chdir(home)
    for name in ("CARDFLOW_WORKSPACE", "CARDFLOW_DB", "CARDFLOW_CONNECTOR"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli.cli, list(args), input=input, catch_exceptions=False)

    return invoke


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from the current output.")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME exactly; `--update-golden` rewrites the file instead."""
    update = request.config.getoption("--update-golden")

    def compare(name: str, actual: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert actual == path.read_text(encoding="utf-8")

    return compare
