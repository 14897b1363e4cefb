"""A release's `release.yaml`: where it moves the open cards it would strand, per process
{state gone: a state of the process}, checked against the workspace it is published with
(`engine.releases.stranding` finds the stranded cards in the store; `cardflow validate` checks the file)."""

from __future__ import annotations

from pathlib import Path

from engine.definitions.files import RELEASE_FILE
from engine.definitions.load import load_file
from engine.definitions.model import Workspace
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

Moves = dict[tuple[str, str], str]  # (process, state gone) -> the state its cards go to


def read_moves(root: Path, workspace: Workspace) -> tuple[Moves, list[Diagnostic]]:
    """The moves `release.yaml` declares (none without the file), and the problems of the file."""
    path = root / RELEASE_FILE
    if not path.is_file():
        return {}, []
    document, found = load_file(path, RELEASE_FILE)
    if document is None:
        return {}, found
    shape, buildable = validate(document, "release")
    if found or shape or not buildable:
        return {}, found + shape
    moves: Moves = {}
    for name, states in document.data["moves"].items():
        process = workspace.processes.get(name)
        if process is None:
            hint = did_you_mean(name, workspace.processes)
            found.append(diagnostic(document.key_at(("moves", name)), "E209", name=name, hint=hint))
            continue
        for gone, to in states.items():
            if to not in process.states:
                hint = did_you_mean(to, process.states)
                found.append(diagnostic(document.at(("moves", name, gone)), "E203", name=to, hint=hint))
            else:
                moves[(name, gone)] = to
    return moves, found
