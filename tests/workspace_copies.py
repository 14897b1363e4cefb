"""Copies of the reference workspace for tests: the files a run reads, and the extended workspace's
processes laid over them (tests/extended/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a test's copy of the reference workspace holds: its definitions, templates and connectors
#: (the printer "Issue card" prints on); not its schedule, roles or calendar, which tests add themselves.
FOLDERS = ("processes", "lifecycles", "rules", "templates")
FILES = ("connectors.yaml",)


def copy_reference(target: Path) -> Path:
    """Copy the reference workspace's definitions, templates and connectors into `target`."""
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, target / folder)
    for name in FILES:
        shutil.copy2(ROOT / name, target / name)
    return target


def extend(workspace: Path) -> None:
    """Lay the extended workspace's processes over `workspace`, leaving out the reference processes it
    cannot carry (tests/extended/leaves_out.txt)."""
    extended = ROOT / "tests" / "extended"
    shutil.copytree(extended / "processes", workspace / "processes", dirs_exist_ok=True)
    for line in (extended / "leaves_out.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            (workspace / "processes" / f"{line}.yaml").unlink()
