"""Mutation score: would the scenario suite notice a wrong rule?

Mutants of the workspace, one change each, made on the loaded model (never on the files): each guard
negated, each condition of an `and`/`or` guard dropped, each transition's destination changed (to
the next state of its process), each effect removed, each bool option's value in force flipped. A
transition written once in a lifecycle shared by several processes is one mutant, changed in all of
them. Each mutant runs the suite's scenarios until one fails: then it is killed; a mutant no
scenario notices survives and is reported at its YAML line. Mutants run in parallel, a process per core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from engine.definitions.compile import forget
from engine.definitions.model import Process, Transition, Workspace
from engine.diagnostics import Location
from engine.store.queries import Row
from engine.testing.criteria import shown_value, split_condition
from engine.testing.equivalent import shadowed, unread_everywhere
from engine.testing.scenario import Scenario, run_scenario

Change = Callable[[Workspace], Workspace]
#: mutants a worker process judges before fresh ones take over (what a run leaves behind stays small)
TASKS_PER_WORKER = 20


@dataclass(frozen=True)
class Mutant:
    """One change to the workspace: what it is, where it stands in the YAML, and how to make it."""

    number: int
    kind: str  # guard negated | condition dropped | destination changed | effect removed | option flipped
    what: str
    location: Location
    change: Change
    option: str | None = None  # the option a flip changes


@dataclass(frozen=True)
class Verdict:
    """What the suite did to a mutant: the scenario that killed it, or none (it survived)."""

    mutant: Mutant
    killed_by: str | None
    equivalent: str | None = None  # why no suite could kill it: it changes nothing the scenarios run

    def as_json(self) -> Row:
        where, mutant = self.mutant.location, self.mutant
        return {
            "kind": mutant.kind,
            "what": mutant.what,
            "at": str(where),
            "killed_by": self.killed_by,
            "equivalent": self.equivalent,
        }


def mutants(workspace: Workspace) -> list[Mutant]:
    """Every mutant of the workspace's batch processes and option values, in YAML order."""
    found: list[tuple[Any, ...]] = []
    seen: set[tuple[Location, str, str]] = set()
    for process in workspace.processes.values():
        for transition in process.transitions:
            for kind, what, change in _transition_mutants(process, transition):
                if (transition.location, kind, what) not in seen:
                    seen.add((transition.location, kind, what))
                    found.append((kind, what, transition.location, _everywhere(transition.location, change)))
    for script in workspace.scripts.values():
        for variable in script.variables.values():
            value = variable.value if variable.has_value else variable.default
            if variable.type == "bool":
                where = variable.value_location or variable.location
                what = f"{variable.name}: {shown_value(value)} -> {shown_value(not value)}"
                found.append(("option flipped", what, where, _flip(variable.name), variable.name))
    return [Mutant(number, *entry) for number, entry in enumerate(found, start=1)]


def judge(workspace: Workspace, scenarios: list[Scenario], found: list[Mutant], cores: int | None = None) -> Iterator[Verdict]:
    """Run the scenarios against each mutant (a process per core), stopping at the first that fails;
    each verdict as soon as it is known. A flip of an option every scenario sets itself is equivalent
    (it changes nothing the scenarios run), named so, and not run; so is a dropped condition an earlier
    transition decides anyway (engine.testing.equivalent)."""
    equivalent = {mutant.number: why for mutant in found if (why := _equivalent(workspace, scenarios, mutant))}
    yield from (Verdict(mutant, None, equivalent[mutant.number]) for mutant in found if mutant.number in equivalent)
    found = [mutant for mutant in found if mutant.number not in equivalent]
    workers = max(1, min(cores or os.cpu_count() or 1, len(found)))
    if workers == 1:
        yield from (_judge_one(workspace, scenarios, mutant) for mutant in found)
        return
    size = workers * TASKS_PER_WORKER
    for start in range(0, len(found), size):  # fresh workers for each share: what a run leaves behind stays small
        share = found[start : start + size]
        with ProcessPoolExecutor(workers, initializer=_begin, initargs=(workspace, scenarios)) as pool:
            killers = list(pool.map(_killer, [mutant.number for mutant in share]))
        yield from (Verdict(mutant, killer) for mutant, killer in zip(share, killers, strict=True))


def _equivalent(workspace: Workspace, scenarios: list[Scenario], mutant: Mutant) -> str | None:
    """Why no scenario of the suite could kill `mutant`, if none could (engine.testing.equivalent)."""
    if mutant.option is not None and unread_everywhere(workspace, scenarios, mutant.option):
        return "every scenario sets this option itself or runs no process that reads it"
    if mutant.kind == "condition dropped" and shadowed(workspace, mutant.change(workspace)):
        return "where the guard changes, a transition the machine tries before it holds"
    return None


def score(verdicts: list[Verdict]) -> float:
    """The share of the non-equivalent mutants killed, in percent (100 for none)."""
    judged = [verdict for verdict in verdicts if verdict.equivalent is None]
    return 100.0 * sum(v.killed_by is not None for v in judged) / len(judged) if judged else 100.0


def mutation_json(verdicts: list[Verdict]) -> Row:
    """The mutation score as `test --json` gives it: the score, the counts, every mutant's verdict."""
    killed = sum(verdict.killed_by is not None for verdict in verdicts)
    equivalent = sum(verdict.equivalent is not None for verdict in verdicts)
    return {
        "score": score(verdicts),
        "killed": killed,
        "equivalent": equivalent,
        "total": len(verdicts),
        "verdicts": [verdict.as_json() for verdict in verdicts],
    }


def render_mutation(verdicts: list[Verdict]) -> str:
    """The survivors at their YAML lines, then the score."""
    survivors = [v.mutant for v in verdicts if v.killed_by is None and v.equivalent is None]
    equivalent = [v for v in verdicts if v.equivalent is not None]
    lines = ["", "Mutants:"] + [f"  {m.location}: survived: {m.kind}: {m.what}" for m in survivors]
    lines += [f"  {v.mutant.location}: equivalent: {v.mutant.kind}: {v.mutant.what} ({v.equivalent})" for v in equivalent]
    judged = len(verdicts) - len(equivalent)
    killed = judged - len(survivors)
    lines.append(f"mutation score: {score(verdicts):.1f}% ({killed} of {judged} mutants killed; {len(equivalent)} equivalent)")
    return "\n".join(lines)


#: a worker process's workspace, scenarios and mutants by number (a Change does not cross processes)
_WORKER: dict[str, Any] = {}


def _begin(workspace: Workspace, scenarios: list[Scenario]) -> None:
    _WORKER.update(workspace=workspace, scenarios=scenarios, mutants={m.number: m for m in mutants(workspace)})


def _killer(number: int) -> str | None:
    return _judge_one(_WORKER["workspace"], _WORKER["scenarios"], _WORKER["mutants"][number]).killed_by


def _judge_one(workspace: Workspace, scenarios: list[Scenario], mutant: Mutant) -> Verdict:
    changed = replace(mutant.change(workspace), fingerprint=f"{workspace.fingerprint}-mutant{mutant.number}")
    try:
        for scenario in scenarios:
            try:
                passed = run_scenario(changed, scenario).passed
            except Exception:  # a mutant that breaks the run is noticed as surely as one that fails an expectation
                passed = False
            if not passed:
                return Verdict(mutant, scenario.file)
        return Verdict(mutant, None)
    finally:
        forget(changed.fingerprint)  # its machines are not run again: memory stays flat over the mutants


Edit = Callable[[Transition], Transition]


def _transition_mutants(process: Process, transition: Transition) -> Iterator[tuple[str, str, Edit]]:
    label, guard = transition.label, transition.guard
    if guard is not None:
        yield "guard negated", f"{label}: not ({guard.text})", _guarded(f"not ({guard.text})")
        operator, operands = split_condition(guard.text)
        for dropped in range(len(operands) if operator else 0):
            kept = f" {operator} ".join(operand for i, operand in enumerate(operands) if i != dropped)
            yield "condition dropped", f"{label}: `{operands[dropped]}` dropped", _guarded(kept)
    states = list(process.states)
    other = states[(states.index(transition.dest) + 1) % len(states)] if transition.dest in states else None
    if other and other != transition.dest:
        yield "destination changed", f"{label}: -> {other}", _sent_to(other)
    for number, effect in enumerate(transition.effects):
        yield "effect removed", f"{label}: effect {number + 1} ({effect.kind}) removed", _without_effect(number)


def _guarded(text: str) -> Edit:
    def edit(transition: Transition) -> Transition:
        assert transition.guard is not None
        return replace(transition, guard=replace(transition.guard, text=text))

    return edit


def _sent_to(state: str) -> Edit:
    return lambda transition: replace(transition, dest=state)


def _without_effect(number: int) -> Edit:
    return lambda transition: replace(transition, effects=transition.effects[:number] + transition.effects[number + 1 :])


def _everywhere(location: Location, change: Edit) -> Change:
    """The change applied to the transition written at `location` in every process that has it."""

    def changed(workspace: Workspace) -> Workspace:
        processes = {
            name: replace(process, transitions=tuple(change(t) if t.location == location else t for t in process.transitions))
            for name, process in workspace.processes.items()
        }
        return replace(workspace, processes=processes)

    return changed


def _flip(name: str) -> Change:
    def changed(workspace: Workspace) -> Workspace:
        scripts = {}
        for key, script in workspace.scripts.items():
            variable = script.variables.get(name)
            if variable is None:
                scripts[key] = script
                continue
            flipped = not (variable.value if variable.has_value else variable.default)
            kept = replace(variable, value=flipped, has_value=True, value_location=variable.value_location or variable.location)
            scripts[key] = replace(script, variables={**script.variables, name: kept})
        return replace(workspace, scripts=scripts)

    return changed
