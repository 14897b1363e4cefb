"""Strategies for the fuzz suite: the shipped files mutated, and the promise every kind must keep.

A mutated document starts from a shipped file and takes a few edits: a line deleted, duplicated or
swapped, a scalar retyped, or a nasty snippet spliced in (unicode, tabs, BOMs, NUL bytes, YAML
tags, anchors and aliases, huge numbers, long strings, deep nesting). `kept_promise` checks what
cardflow answered: exit 0, 1 or 2, no traceback or "internal error", one line per message, in time
(under 2 s of processor time).
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import strategies as st
from workspace_copies import copy_reference

import cli

ROOT = Path(__file__).resolve().parents[2]
#: The most processor time one input may take, start to answer (processor time, so that other work
#: on a shared machine does not count); and the most wall time, which also catches a wait that hangs.
BUDGET, WALL = 2.0, 30.0
#: `matrix` works out every combination of the options (1,024 for the order process: about 1.3 s of
#: processor time on a quiet machine, over 2 s beside other work), so it has a budget of its own.
MATRIX_BUDGET = 10.0

SNIPPETS = [
    "ä",
    "exämple",
    "\t",
    "\ufeff",
    "\x00",
    "\r",
    "\u2028",
    "\x1b[31m",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGk=",
    "!!set {a, b}",
    "!!timestamp 2024-01-01",
    "!custom x",
    "&anchor ",
    "*anchor",
    "<<: *anchor",
    "? [complex, key]\n: value",
    "{a: 1}: b",
    "1: one",
    "9" * 5000,
    "-" + "9" * 400,
    "1e999",
    ".nan",
    "x" * 20_000,
    "[" * 200 + "]" * 200,
    "{" * 100 + "}" * 100,
    "(" * 300 + "user.id" + ")" * 300,
    "not " * 300 + "true",
    "2024-01-02",
    "yes",
    "maybe",
    "null",
    "~",
    "[]",
    "{}",
    "''",
    '"',
    ":",
    "- ",
    "\n  - ",
    "\n---\n",
    "...",
    "#",
    "%YAML 1.1\n---\n",
    "{{ 1/0 }}",
]
RETYPED = ["1", "-1", "0", "1.5", "true", "false", "null", "[]", "{}", "[a, b]", "{a: b}", "''", "'text'", "9" * 50]

_SCALAR = re.compile(r"(?<=: )[^\s\[\]{}#][^\n#]*")


@st.composite
def mutated(draw: st.DrawFn, sources: list[str]) -> str:
    """A shipped text with one to four edits."""
    text = draw(st.sampled_from(sources))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "retype", "splice", "indent"]))
        text = _edit(draw, text, edit)
    return text


def _edit(draw: st.DrawFn, text: str, edit: str) -> str:
    lines = text.split("\n")
    if edit in ("delete", "duplicate", "swap", "indent") and len(lines) > 1:
        i = draw(st.integers(0, len(lines) - 1))
        if edit == "delete":
            del lines[i]
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "indent":
            lines[i] = draw(st.sampled_from(["  ", "\t", "", "    "])) + lines[i].lstrip()
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    if edit == "retype":
        scalars = list(_SCALAR.finditer(text))
        if scalars:
            match = draw(st.sampled_from(scalars))
            return text[: match.start()] + draw(st.sampled_from(RETYPED + SNIPPETS)) + text[match.end() :]
    at = draw(st.integers(0, len(text)))
    snippet = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=20)))
    return text[:at] + snippet + text[at:]


def documents(sources: list[str]) -> st.SearchStrategy[str]:
    """Mostly mutated shipped files, sometimes text from nothing."""
    return st.one_of(mutated(sources), mutated(sources), mutated(sources), st.text(max_size=200))


def shipped(pattern: str) -> list[str]:
    """The texts of the shipped files matching `pattern` (relative to the repository)."""
    return [path.read_text(encoding="utf-8") for path in sorted(ROOT.glob(pattern))]


DIAGNOSTIC = re.compile(r"^[^\n]+:\d+:\d+: [EW]\d{3} [^\n]*$")


def kept_promise(
    result: Result, elapsed: float, *, diagnostics: bool = False, several: bool = False, budget: float = BUDGET
) -> None:
    """Exit 0, 1 or 2; no traceback or internal error; stderr one `cardflow: ...` line (`several`:
    a line each problem of a file's rows); in time. With `diagnostics`, every line of stdout is
    `FILE:LINE:COL: CODE message`."""
    output = result.output
    assert result.exit_code in (0, 1, 2), (result.exit_code, output[-2000:])
    assert "Traceback" not in output and "internal error" not in output, output[-2000:]
    errors = [line for line in result.stderr.splitlines() if not line.startswith("cardflow: batch ")]
    assert several or len(errors) <= 1, result.stderr[-2000:]
    assert all(line.startswith("cardflow: ") for line in errors), result.stderr[-2000:]
    if diagnostics:
        assert all(DIAGNOSTIC.match(line) for line in result.stdout.splitlines()), result.stdout[-2000:]
    assert elapsed < budget, f"took {elapsed:.2f} s of processor time"


def invoke(*args: str, input: str | bytes | None = None) -> tuple[Result, float]:
    """`cardflow ARGS...` in-process, with the processor time it took (its wall time is bounded too),
    less the full collections of the cyclic garbage collector meanwhile: they scan the whole heap of
    the test process (thousands of examples' worth), not what the command made."""
    started, cpu = time.monotonic(), time.process_time()
    with _full_collections() as collecting:
        result = CliRunner().invoke(cli.cli, list(args), input=input, catch_exceptions=False)
    wall = time.monotonic() - started
    assert wall < WALL, f"{' '.join(args)[:200]} took {wall:.1f} s"
    return result, time.process_time() - cpu - collecting[0]


@contextmanager
def _full_collections() -> Iterator[list[float]]:
    """The processor time the collector's full (generation 2) collections take in the block, in a one-item list."""
    took, began = [0.0], [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.process_time()
            else:
                took[0] += time.process_time() - began[0]

    gc.callbacks.append(watch)
    try:
        yield took
    finally:
        gc.callbacks.remove(watch)


@contextmanager
def replaced(path: Path, text: str | bytes) -> Iterator[None]:
    """`path` holds `text` for the duration, then its old content again (or it is removed)."""
    old = path.read_bytes() if path.exists() else None
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
    try:
        yield
    finally:
        if old is None:
            path.unlink()
        else:
            path.write_bytes(old)


Check = Callable[..., Any]


def reference_copy(root: Path) -> Path:
    """A copy of the reference workspace (processes, rules, templates) in `root`, for examples to edit."""
    copy_reference(root)
    return root
