"""A card's path on its process graph: the compiled machine for the options its batch ran under, the
moves the card made numbered on the edges they took, the states it passed through and the one it is
in marked (`explain --format mermaid`, the card's page in the console)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.model import Workspace
from engine.definitions.options import recorded_options
from engine.report.graphs import edges, reached_states
from engine.store import queries
from engine.store.queries import Row

#: How the diagram marks the states the card passed through and the one it is in.
STYLES = (
    "    classDef visited fill:#e3ebf4,stroke:#1f4e79",
    "    classDef current fill:#1f4e79,color:#fff,stroke:#0b2540,stroke-width:3px",
)


@dataclass(frozen=True)
class CardPath:
    """The machine a card ran on and its moves, in order: (source, dest, trigger)."""

    compiled: CompiledProcess
    moves: list[tuple[str, str, str]]
    current: str


def card_path(workspace: Workspace, connection: Connection, story: Row) -> CardPath:
    """The path of the card `story` tells (`engine.report.explain.card_story`) on its process's machine,
    compiled for the options its batch ran with (those in force when the batch row is gone)."""
    card = story["card"]
    process = workspace.process(card["process"])
    batch = queries.get_batch(connection, card["batch_id"])
    options = recorded_options(workspace.scripts, batch["options"] if batch else None).for_scripts(process.options)
    moves = [(step["source"], step["dest"], step["trigger"]) for step in story["transitions"]]
    return CardPath(compile_process(process, options, workspace.fingerprint), moves, card["state"])


def mermaid_path(path: CardPath) -> str:
    """A Mermaid state diagram of the machine with the card's moves numbered on their edges ("1, 3 ·
    retry"), the states it passed through marked `visited` and its state `current`; a move the machine
    no longer has (the workspace changed since) is drawn too."""
    process = path.compiled.process
    visited = {process.initial} | {state for move in path.moves for state in move[:2]}
    states = [name for name in process.states if name in set(reached_states(path.compiled)) | visited]
    steps: dict[tuple[str, str, str], list[int]] = {}
    for number, move in enumerate(path.moves, 1):
        steps.setdefault(move, []).append(number)
    lines = ["stateDiagram-v2", f"    %% {process.symbolic_name} ({process.name}), options {path.compiled.options.fingerprint}"]
    lines += [f"    {name} : {name}" for name in states]
    lines.append(f"    [*] --> {process.initial}")
    drawn = set()
    for source, dest, label in edges(path.compiled):
        if source in states:
            trigger = label.split(" ", 1)[0]
            taken = steps.get((source, dest, trigger)) if (source, dest, trigger) not in drawn else None
            drawn.add((source, dest, trigger))
            lines.append(f"    {source} --> {dest} : {_numbered(taken, label)}")
    for move, numbers in steps.items():
        if move not in drawn:
            lines.append(f"    {move[0]} --> {move[1]} : {_numbered(numbers, move[2])} (not in this machine)")
    lines += [f"    {name} --> [*]" for name in states if process.states[name].final or process.states[name].handover]
    lines += STYLES
    lines += [f"    class {name} {'current' if name == path.current else 'visited'}" for name in states if name in visited]
    return "\n".join(lines)


def _numbered(steps: list[int] | None, label: str) -> str:
    return f"{', '.join(map(str, steps))} · {label}" if steps else label
