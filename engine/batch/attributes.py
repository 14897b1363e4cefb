"""No quiet answers: a process that reads a user attribute no user in the store has (a typo,
`user.departmnt`) would skip everyone, or take a guard's other branch, without a word. A run checks
the attributes its processes read (engine.definitions.reads) against the store before any card and
refuses, naming each with a "did you mean"; `validate --db` warns of them (W240)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from engine.definitions.model import Workspace
from engine.definitions.reads import USER_FIELDS, UserRead, user_reads
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean
from engine.errors import InputProblems
from engine.store.attributes import attribute_names, attributes_no_user_has


def refuse_unknown_attributes(workspace: Workspace, connection: Connection, processes: Iterable[str]) -> None:
    """An InputProblems error (exit 2), a line each, when the processes read attributes no stored user has."""
    found = [f"{problem.location}: {problem.message}" for problem in _problems(workspace, connection, processes)]
    if len(found) > 1:
        found.append(f"{len(found)} attributes no user in the store has; nothing was run")
    if found:
        raise InputProblems(found)


def firing(workspace: Workspace, trigger: str) -> set[str]:
    """The processes an action's `trigger` involves: the action processes that offer it and those they act on."""
    offering = [p for p in workspace.processes.values() if p.kind == "action" and trigger in p.triggers]
    return {p.symbolic_name for p in offering} | {name for p in offering for name in p.acts_on}


def store_warnings(workspace: Workspace, connection: Connection) -> list[Diagnostic]:
    """A W240 for every attribute the workspace reads that no stored user has (for `validate --db`)."""
    return _problems(workspace, connection, workspace.processes)


def _problems(workspace: Workspace, connection: Connection, processes: Iterable[str]) -> list[Diagnostic]:
    reads = user_reads(workspace, processes)
    if not reads:
        return []
    missing = set(attributes_no_user_has(connection, [read.name for read in reads]))
    if not missing:
        return []
    known = sorted(USER_FIELDS | attribute_names(connection))
    return [_warning(read, known) for read in reads if read.name in missing]


def _warning(read: UserRead, known: list[str]) -> Diagnostic:
    return diagnostic(read.location, "W240", place=read.place, shown=read.shown, hint=did_you_mean(read.name, known))
