"""The suite's own pytest settings (pyproject.toml), as someone running `pytest` sees them."""

from __future__ import annotations

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
