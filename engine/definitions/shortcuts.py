"""The triggers people fire on cards, read from the workspace: each is a command of its own
(`cardflow TRIGGER CARD... --as ID`), with the action processes that offer it; and the trigger
that orders again a card the card bureau refused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.definitions.calls import BUREAU, connector_of
from engine.definitions.model import Process, Transition, Trigger, Workspace


@dataclass(frozen=True)
class Offer:
    """One action process that lets a person fire a trigger, and how it declares that trigger."""

    process: Process
    trigger: Trigger


@dataclass(frozen=True)
class Shortcut:
    """A trigger people fire, as a command: the action processes that offer it, in workspace order."""

    trigger: str
    offers: tuple[Offer, ...]


def shortcuts(workspace: Workspace) -> dict[str, Shortcut]:
    """Every trigger an action process lets a person fire (its actor is not `system`), by name."""
    offers: dict[str, list[Offer]] = {}
    for process in workspace.processes.values():
        if process.kind != "action" or process.actor == "system":
            continue
        for name, trigger in process.triggers.items():
            offers.setdefault(name, []).append(Offer(process, trigger))
    return {name: Shortcut(name, tuple(found)) for name, found in offers.items()}


def reorder_trigger(workspace: Workspace, states: Iterable[str], processes: Iterable[str] = ()) -> str | None:
    """The trigger a person fires to order again a card the bureau refused into one of `states`: one
    whose transition leaves that state and asks the bureau (it declares the call), in the given
    processes (every process when none is given); None when no such trigger exists."""
    offered = shortcuts(workspace)
    chosen = [workspace.processes[name] for name in processes if name in workspace.processes]
    for state in dict.fromkeys(states):
        for process in chosen or list(workspace.processes.values()):
            for transition in process.transitions:
                if transition.trigger in offered and state in transition.source and asks_the_bureau(transition):
                    return transition.trigger
    return None


def ordered_states(process: Process) -> list[str]:
    """The states a card of `process` may reach when the bureau answers an order: where the
    transitions that ask the bureau lead."""
    return list(dict.fromkeys(t.dest for t in process.transitions if asks_the_bureau(t)))


def asks_the_bureau(transition: Transition) -> bool:
    """Whether the transition declares an order at the bureau (`invoke: bureau.order`)."""
    return transition.invoke is not None and connector_of(transition.invoke.text) == BUREAU
