"""The corpus of broken documents: each tests/cases/*.yaml replaces one file of the reference workspace.

A case file starts with a header of comment lines, then the whole broken document:

    # breaks: <one sentence saying what the document breaks>
    # target: processes/CardsBoProcRequestMulitple.yaml
    # expect: E203 34:11

`target` is the file of the workspace the case replaces (or adds); each `expect` is a code and the
LINE:COL it must be reported at, counted in the case file itself (header included). The
diagnostics located in the target must be exactly the expected ones, no more and no fewer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from workspace_copies import copy_reference

import cli
from engine.definitions.workspace import load_workspace
from engine.diagnostics import CODES

REPO = Path(__file__).resolve().parents[1]
CASES = sorted((REPO / "tests" / "cases").glob("*.yaml"))
HEADER = re.compile(r"# (breaks|target|expect): (.+)")
EXPECT = re.compile(r"([EW]\d{3}) (\d+):(\d+)")
TARGET = re.compile(r"(processes|rules|lifecycles)/[A-Za-z0-9_]+\.yaml|(schedule|roles|connectors|calendar)\.yaml")
#: Codes no single broken file can produce, and why.
NOT_IN_CORPUS = {
    "E006": "a file over 1 MiB; tests/test_load.py writes one instead of shipping it",
    "E290": "an empty processes/ folder, no file at all; tests/test_quiet_failures.py makes one",
    **{
        code: "email template files; tests/test_emails.py and tests/test_sandbox.py break them"
        for code in ("E501", "E502", "E503", "E504", "E505", "E506")
    },
    **{
        code: "scenario files; tests/test_testers.py breaks them"
        for code in ("E601", "E602", "E603", "E604", "E605", "E606", "E607", "E608")
    },
    **{code: "scenario steps; tests/test_scenario_steps.py breaks them" for code in ("E230", "E231", "E232")},
    "W240": "a store's users (validate --db); tests/test_quiet_answers.py imports them",
    **{
        code: "located in the process that invokes, not in connectors.yaml; tests/test_connectors_file.py breaks it"
        for code in ("E316",)
    },
    "E272": "two processes declaring one card field; tests/test_card_fields.py declares it twice",
}

Expected = frozenset[tuple[str, int, int]]


@dataclass(frozen=True)
class Case:
    """A parsed case file: what it breaks, the file it replaces and the diagnostics it must get."""

    path: Path
    breaks: str
    target: str
    expected: Expected


def read_case(path: Path) -> Case:
    """Parse the header of a case file; a malformed header is an error in the corpus."""
    fields: dict[str, list[str]] = {"breaks": [], "target": [], "expect": []}
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        match = HEADER.fullmatch(line)
        if match is None:
            break
        fields[match[1]].append(match[2].strip())
    assert len(fields["breaks"]) == len(fields["target"]) == 1, f"{path.name}: needs one breaks and one target line"
    (breaks,), (target,) = fields["breaks"], fields["target"]
    assert TARGET.fullmatch(target), f"{path.name}: target {target!r} is no definition or workspace file"
    expects = [EXPECT.fullmatch(text) for text in fields["expect"]]
    assert expects and all(expects), f"{path.name}: needs '# expect: CODE LINE:COL' lines, got {fields['expect']}"
    expected = frozenset((m[1], int(m[2]), int(m[3])) for m in expects if m)
    return Case(path, breaks, target, expected)


def install(case: Case, tmp_path: Path) -> Path:
    """A copy of the reference workspace in `tmp_path` with the case file written, byte for byte, over its target."""
    copy_reference(tmp_path)
    (tmp_path / case.target).write_bytes(case.path.read_bytes())
    return tmp_path


def located_in(target: str, workspace: Path) -> Expected:
    """(code, line, col) of every diagnostic the workspace reports in the file `target`."""
    found = load_workspace(workspace).diagnostics
    return frozenset((d.code, d.location.line, d.location.col) for d in found if d.location.file == target)


by_name = pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])


def test_corpus_covers_every_code() -> None:
    """The corpus has at least 36 cases and expects every diagnostic code a single file can produce."""
    expected = {code for path in CASES for code, _, _ in read_case(path).expected}
    assert len(CASES) >= 36
    assert set(CODES) - set(NOT_IN_CORPUS) - expected == set()


@by_name
def test_diagnostics_are_exactly_expected(path: Path, tmp_path: Path) -> None:
    """The broken file gets exactly the expected codes at the expected lines and columns."""
    case = read_case(path)
    workspace = install(case, tmp_path)
    assert located_in(case.target, workspace) == case.expected, case.breaks


@by_name
def test_cli_validate_reports_case(path: Path, tmp_path: Path) -> None:
    """`cardflow validate --workspace` exits 1 and prints each expected FILE:LINE:COL: CODE."""
    case = read_case(path)
    workspace = install(case, tmp_path)
    result = CliRunner().invoke(cli.cli, ["validate", "--workspace", str(workspace)], catch_exceptions=False)
    assert result.exit_code == 1
    printed = result.stdout.splitlines()
    prefixes = sorted(f"{case.target}:{line}:{col}: {code} " for code, line, col in case.expected)
    assert [p for p in prefixes if not any(out.startswith(p) for out in printed)] == [], result.stdout
