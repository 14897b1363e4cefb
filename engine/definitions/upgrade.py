"""Rewrite a workspace of the old shape into today's: a transition whose guard reads a call's answer
(`bureau.accepted`) without declaring the call gets `invoke: CONNECTOR.OPERATION` after its guard.

The files are edited as text at the locations of the document (comments and layout kept, never a
YAML re-dump). The rewritten workspace is checked in a scratch copy before anything is written: a
workspace with other errors, or one the rewrite would not make valid, is refused and left as it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.definitions.call_checks import undeclared_reads
from engine.definitions.files import CALENDAR, CONNECTORS, LIFECYCLES, PROCESSES, ROLES, RULES, TEMPLATES
from engine.definitions.model import Process, Transition
from engine.definitions.schedule import SCHEDULE
from engine.definitions.workspace import load_workspace
from engine.diagnostics import Diagnostic
from engine.errors import WorkspaceInvalid

#: The diagnostic of the old shape, which the upgrade removes.
OLD_SHAPE = "E260"


@dataclass(frozen=True)
class Change:
    """One line added to a transition: where (the transition's guard), which transition, what."""

    file: str
    line: int
    col: int
    transition: str
    added: str

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "col": self.col, "transition": self.transition, "added": self.added}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.transition}: added `{self.added}`"


def upgrade_workspace(root: Path) -> list[Change]:
    """Upgrade the workspace at `root` in place and return what changed (nothing when it has the
    new shape already); WorkspaceInvalid, with nothing written, when it has other errors or the
    rewrite would leave errors."""
    workspace = load_workspace(root)
    _refuse([d for d in workspace.diagnostics if d.severity == "error" and d.code != OLD_SHAPE], root, "has errors besides")
    texts: dict[Path, str] = {}
    changes: list[Change] = []
    for file, edits in _edits_by_file(workspace.processes.values()).items():
        path = root / file
        texts[path], added = _rewrite(path.read_bytes().decode("utf-8"), edits)
        changes += [Change(file, *where, t.label, f"invoke: {call}") for t, call, where in added]
    if texts:
        _refuse(_errors_after(root, texts), root, "would still have errors after adding")
        for path, text in texts.items():
            _replace(path, text)
    return changes


def _edits_by_file(processes: Iterable[Process]) -> dict[str, dict[int, tuple[Transition, str]]]:
    """The calls to declare, by the file each transition is written in (a process's, or a lifecycle's
    that several processes share: edited once) and its position among that file's transitions."""
    found: dict[str, dict[int, tuple[Transition, str]]] = {}
    for process in processes:
        first: dict[str, int] = {}
        for transition in process.transitions:
            first.setdefault(transition.location.file, transition.index)
        for transition, call in calls_to_declare(process):
            file = transition.location.file
            found.setdefault(file, {})[transition.index - first[file]] = (transition, call)
    return found


def _refuse(errors: list[Diagnostic], root: Path, why: str) -> None:
    if errors:
        message = f"the workspace {root} {why} the calls to declare ({len(errors)}); nothing changed"
        raise WorkspaceInvalid(message, [found.as_json() for found in errors])


def _rewrite(text: str, edits: dict[int, tuple[Transition, str]]) -> tuple[str, list[tuple[Transition, str, tuple[int, int]]]]:
    """`text` with `invoke: CALL` added after the guard of each transition of `edits` (by its position
    in the file), and where each guard is."""
    transitions = _transition_nodes(text)
    inserts: list[tuple[int, str]] = []
    added = []
    for position, (transition, call) in sorted(edits.items()):
        node = transitions[position]
        key, value = next((k, v) for k, v in node.value if k.value == "guard")
        if node.flow_style:
            inserts.append((value.end_mark.index, f", invoke: {call}"))
        else:
            inserts.append((_line_end(text, value.end_mark), f"{' ' * key.start_mark.column}invoke: {call}{_newline(text)}"))
        added.append((transition, call, (key.start_mark.line + 1, key.start_mark.column + 1)))
    for offset, insert in sorted(inserts, reverse=True):
        text = text[:offset] + insert + text[offset:]
    return text, added


def _transition_nodes(text: str) -> list[Any]:
    """The mapping nodes of the document's transitions, in order (the text was loaded once already)."""
    root: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    return list(next(v for k, v in root.value if k.value == "transitions").value)


def _line_end(text: str, mark: Any) -> int:
    """The offset just past the line a scalar ends on (a block scalar ends at the start of the next line)."""
    if mark.column == 0:
        return int(mark.index)
    end = text.find("\n", mark.index)
    return len(text) if end < 0 else end + 1


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _errors_after(root: Path, texts: dict[Path, str]) -> list[Diagnostic]:
    """The errors of the workspace with `texts` written over its files, found in a scratch copy."""
    with tempfile.TemporaryDirectory(prefix="cardflow-upgrade-") as scratch:
        copy = Path(scratch)
        for name in (PROCESSES, LIFECYCLES, RULES, TEMPLATES):
            if (root / name).is_dir():
                shutil.copytree(root / name, copy / name)
        for name in (ROLES, SCHEDULE, CONNECTORS, CALENDAR):  # every file a workspace reads
            if (root / name).is_file():
                shutil.copy2(root / name, copy / name)
        for path, text in texts.items():
            (copy / path.relative_to(root)).write_text(text, encoding="utf-8", newline="")
        return [found for found in load_workspace(copy).diagnostics if found.severity == "error"]


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` whole (a partial file is never left in its place)."""
    partial = path.with_name(f".{path.name}.upgrade")
    partial.write_text(text, encoding="utf-8", newline="")
    os.replace(partial, path)


def calls_to_declare(process: Process) -> list[tuple[Transition, str]]:
    """The transitions of `process` whose guards read a call they do not declare, with that call."""
    return [(t, call) for t in process.transitions for _, call in undeclared_reads(t)]
