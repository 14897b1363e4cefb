"""The README's command blocks run as written: every ```sh block, in order, with the installed `cardflow`.

They start in an empty folder; the tour's first block makes a workspace there with `cardflow init`
and the demo's store in it, and the blocks after it use that store and its users as the README
names them. A block that cannot run here (an install, the suite itself, a server, PostgreSQL, a
password prompt) says so in the README, on the line before it: `<!-- readme-test: skip (why) -->`.
A command exits 0 unless its comment begins `exit N` (`cardflow diff ...   # exit 1: ...`).
The blocks share one folder and store, so they are selected together (`-k` on one block alone
starts without the tour's first block).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

README = ROOT / "README.md"
BLOCK = re.compile(r"^(?:<!-- readme-test: (?P<mark>.*?) -->\n)?```sh\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
EXPECTED = re.compile(r"\s#\s*exit (\d)\b")
SKIP = re.compile(r"skip \(.+\)")
TIMEOUT = 120  # seconds a command may take


@dataclass(frozen=True)
class Block:
    """One ```sh block of the README: its line, its commands, and its readme-test mark if any."""

    line: int
    commands: tuple[str, ...]
    mark: str | None


def readme_blocks() -> list[Block]:
    """The README's ```sh blocks in order, each command one line (continued lines joined)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for found in BLOCK.finditer(text):
        line = text.count("\n", 0, found.start("body"))
        joined = found["body"].replace("\\\n", " ")
        commands = tuple(c for c in joined.splitlines() if c.strip() and not c.lstrip().startswith("#"))
        blocks.append(Block(line, commands, found["mark"]))
    return blocks


BLOCKS = readme_blocks()
RUNNABLE = [block for block in BLOCKS if block.mark is None]


class Shell:
    """Runs README commands one at a time with bash, keeping the folder a `cd` moves to."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        bin_dir = Path(sys.executable).parent
        assert (bin_dir / "cardflow").is_file(), f"no cardflow beside {sys.executable}: install the project first"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("CARDFLOW_")}
        self.env["CARDFLOW_CACHE"] = os.environ.get("CARDFLOW_CACHE", str(folder / ".cache"))
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        self._where = folder / ".readme-test-cwd"

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run one command where the last one left off; its output and exit status."""
        script = f'{command}\nstatus=$?\npwd > "{self._where}"\nexit $status\n'
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=TIMEOUT
        )
        if self._where.is_file():
            self.folder = Path(self._where.read_text(encoding="utf-8").strip())
        return done


def expected_status(command: str) -> int:
    """The exit status the README gives a command: `# exit N` at the start of its comment, else 0."""
    found = EXPECTED.search(command)
    return int(found[1]) if found else 0


def test_every_skipped_readme_block_says_why() -> None:
    """A README block the test does not run is marked `readme-test: skip (reason)`, and most blocks run."""
    for block in BLOCKS:
        assert block.mark is None or SKIP.fullmatch(block.mark), f"README.md:{block.line}: mark {block.mark!r}"
    assert len(RUNNABLE) >= 8 and len(BLOCKS) - len(RUNNABLE) <= 7


@pytest.mark.slow
@pytest.mark.sqlite_only  # the tour's store is the demo's SQLite file
def test_readme_command_blocks_run_as_written_in_order(tmp_path: Path) -> None:
    """Each command of each runnable README block, in README order in one shell over one workspace and
    one demo store, exits as the README says (0, or the `# exit N` it names), with no traceback. One
    test, not one per block: the blocks build on each other, and a test runner may spread or reorder tests."""
    shell = Shell(tmp_path)
    for block in RUNNABLE:
        for command in block.commands:
            done = shell.run(command)
            told = f"README.md:{block.line}: `{command}` in {shell.folder}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            assert done.returncode == expected_status(command), told
            assert "Traceback" not in done.stderr, told
