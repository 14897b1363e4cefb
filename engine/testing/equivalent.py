"""Mutants no scenario of a suite could kill, and why (they are named, not counted in the score).

- An **option flip** changes nothing a scenario checks when every scenario either sets the option
  itself or runs only processes that never read it (a process reads what its expressions read:
  guards, prerequisites, effect conditions and values, timer durations, exclusivity).
- A **condition dropped** from a guard changes nothing when, wherever the guard's outcome changes,
  a transition tried before it (same trigger, same state: the machine takes the first that holds)
  holds anyway: `not options.Approval and bureau.accepted` after a transition guarded by
  `options.Approval` needs no `not options.Approval`. Judged over every value of the options the
  guards read and both values of any call's answer tested bare (`bureau.accepted`); a guard that
  reads anything else is not judged.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from engine.definitions.expressions import parse
from engine.definitions.model import Process, Transition, Variable, Workspace
from engine.definitions.never_fire import MAX_COMBINATIONS
from engine.definitions.options import values_of
from engine.testing.criteria import split_condition
from engine.testing.matrix import options_read
from engine.testing.scenario import Scenario


def unread_everywhere(workspace: Workspace, scenarios: list[Scenario], option: str) -> bool:
    """Whether every scenario sets `option` itself or runs no process that reads it."""
    return all(option in scenario.options or option not in _read_by(workspace, scenario) for scenario in scenarios)


def _read_by(workspace: Workspace, scenario: Scenario) -> set[str]:
    """The options the processes a scenario runs read: those it makes cards of, and every action
    process acting on them or that a step names."""
    made = {str(step.data["run"]) for step in scenario.steps if "run" in step.data}
    made |= {str(card["process"]) for card in scenario.data.get("cards") or []}
    involved = [process for name in made if (process := workspace.named(name)) is not None]
    names = {process.symbolic_name for process in involved}
    involved += [p for p in workspace.processes.values() if p.kind == "action" and names & set(p.acts_on)]
    return {name for process in involved for name in options_read(process, workspace.scripts)}


def shadowed(workspace: Workspace, changed: Workspace) -> bool:
    """Whether every guard `changed` rewrites differs from the original only where a transition tried
    before it holds anyway (in every process that has it)."""
    variables = {name: var for script in workspace.scripts.values() for name, var in script.variables.items()}
    rewritten = 0
    for name, process in workspace.processes.items():
        for old, new in zip(process.transitions, changed.processes[name].transitions, strict=True):
            if old.guard != new.guard:
                rewritten += 1
                if not _hidden(process, old, new, variables):
                    return False
    return rewritten > 0


def _hidden(process: Process, old: Transition, new: Transition, variables: Mapping[str, Variable]) -> bool:
    """Whether, from each state `old` leaves, the two guards differ only where an earlier one holds."""
    for state in old.source:
        earlier = [t for t in process.transitions[: old.index] if t.trigger == old.trigger and state in t.source]
        if any(t.guard is None for t in earlier):
            return True  # the transition is never tried from this state
        texts = [old.guard.text if old.guard else "true", new.guard.text if new.guard else "true"]
        earlier_texts = [t.guard.text for t in earlier if t.guard]
        domains = _domains([*texts, *earlier_texts], variables)
        if domains is None:
            return False
        if not all(_covered(texts, earlier_texts, values) for values in _assignments(domains)):
            return False
    return True


def _covered(texts: list[str], earlier: list[str], values: Mapping[str, Any]) -> bool:
    """Where the two guards differ under `values`, an earlier guard holds."""
    scope: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        root, _, attr = name.partition(".")
        scope.setdefault(root, {})[attr] = value
    old, new = (parse(text).truth(scope)[0] for text in texts)
    return old == new or any(parse(text).truth(scope)[0] is True for text in earlier)


def _domains(texts: list[str], variables: Mapping[str, Variable]) -> dict[str, tuple[Any, ...]] | None:
    """The values to try of everything the guards read: each option's; both values of an answer tested
    bare; None when a guard reads anything else, or the combinations are too many."""
    domains: dict[str, tuple[Any, ...]] = {}
    bare = {part.removeprefix("not ").strip() for text in texts for part in split_condition(text)[1]}
    for text in texts:
        for root, attr in parse(text).attributes:
            name = f"{root}.{attr}"
            if root == "options":
                variable = variables.get(attr)
                values = values_of(variable) if variable is not None else None
                if not values:
                    return None
                domains[name] = values
            elif name in bare:
                domains[name] = (False, True)
            else:
                return None
    count = 1
    for values in domains.values():
        count *= len(values)
    return domains if count <= MAX_COMBINATIONS else None


def _assignments(domains: Mapping[str, tuple[Any, ...]]) -> Iterable[dict[str, Any]]:
    for values in itertools.product(*domains.values()):
        yield dict(zip(domains, values, strict=True))
