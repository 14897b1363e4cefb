"""Coverage of the rules by scenarios, per batch process and criterion (`engine.testing.criteria`):
transitions fired (timers included), guard outcomes seen, MC/DC of guards with several conditions,
pairs of consecutive transitions, pairs of option values; and the option values exercised."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.definitions.expressions import parse
from engine.definitions.model import Process, Variable, Workspace
from engine.definitions.options import declared_options, values_of
from engine.definitions.timers import literal
from engine.store.queries import Row
from engine.testing.criteria import (
    BASIC,
    Conditions,
    OptionPair,
    Vector,
    independent,
    option_pairs,
    pairs_in,
    shown_value,
    transition_pairs,
)
from engine.testing.matrix import options_read


@dataclass
class ProcessCoverage:
    """What the scenarios exercised of one batch process, counted over `criteria`."""

    process: Process
    criteria: tuple[str, ...] = BASIC
    domains: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # the enumerable options it reads
    fired: set[int] = field(default_factory=set)
    outcomes: set[tuple[int, bool]] = field(default_factory=set)
    option_values: dict[str, set[str]] = field(default_factory=dict)
    timers: set[str] = field(default_factory=set)  # FILE:LINE of each of its timers that fired
    vectors: dict[int, set[Vector]] = field(default_factory=dict)  # each guard's evaluations, for MC/DC
    pairs: set[tuple[int, int]] = field(default_factory=set)  # transitions fired one after the other on a card
    combinations: set[OptionPair] = field(default_factory=set)

    @property
    def ran(self) -> bool:
        """Whether any scenario fired a trigger of the process (or one of its timers)."""
        return bool(self.fired or self.outcomes or self.timers or self.option_values)

    @property
    def declared_timers(self) -> list[str]:
        return [timer.where for state in self.process.states.values() for timer in state.timers]

    @property
    def guarded(self) -> list[int]:
        return [t.index + 1 for t in self.process.transitions if t.guard]

    @cached_property
    def conditions(self) -> Conditions:
        return Conditions(self.process)

    @cached_property
    def _targets(self) -> dict[str, list[Any]]:
        """Every target of each criterion."""
        return {
            "transitions": [*(t.index + 1 for t in self.process.transitions), *self.declared_timers],
            "guards": [(index, outcome) for index in self.guarded for outcome in (True, False)],
            "mcdc": self.conditions.targets(),
            "transition-pairs": transition_pairs(self.process),
            "option-pairs": option_pairs(self.domains),
        }

    def reached_targets(self, criterion: str) -> list[Any]:
        """The targets of `criterion` the scenarios reached."""
        return [target for target in self._targets[criterion] if self._hit(criterion, target)]

    def _hit(self, criterion: str, target: Any) -> bool:
        if criterion == "transitions":
            return target in self.fired or target in self.timers
        if criterion == "guards":
            return target in self.outcomes
        if criterion == "mcdc":
            return independent(self.vectors.get(target[0], ()), target[1]) is not None
        return target in (self.pairs if criterion == "transition-pairs" else self.combinations)

    def counts(self, criterion: str) -> tuple[int, int]:
        """Reached and all targets of one criterion."""
        return len(self.reached_targets(criterion)), len(self._targets[criterion])

    @property
    def goals(self) -> int:
        return sum(self.counts(criterion)[1] for criterion in self.criteria)

    @property
    def reached(self) -> int:
        return sum(self.counts(criterion)[0] for criterion in self.criteria)

    @property
    def percent(self) -> float:
        return 100.0 * self.reached / self.goals if self.goals else 100.0

    @property
    def shown(self) -> str:
        """The percentage for a reader, never rounded up: 100 only when every target was reached (a
        gate of 100 fails at 99.99, and the text must not say 100.0 then)."""
        tenths = math.floor(self.percent * 10) / 10
        return f"{tenths:.1f}% ({self.reached} of {self.goals} targets)"

    def missed(self, criterion: str) -> list[Any]:
        """The targets of `criterion` never reached."""
        reached = self.reached_targets(criterion)
        return [target for target in self._targets[criterion] if target not in reached]

    def missing(self) -> list[str]:
        """What was never reached, in words, for the criteria counted."""
        return [self.described(criterion, target) for criterion in self.criteria for target in self.missed(criterion)]

    def described(self, criterion: str, target: Any) -> str:
        """One target never reached, in words."""
        transitions = self.process.transitions
        if criterion == "transitions":
            if isinstance(target, str):
                return f"the timer at {target} never fired"
            return f"transition {transitions[target - 1].label} never fired"
        if criterion == "guards":
            transition = transitions[target[0] - 1]
            guard = transition.guard.text if transition.guard else ""
            return f"guard of {transition.label} never {'true' if target[1] else 'false'}: `{guard}`"
        if criterion == "mcdc":
            index, i = target
            condition = self.conditions.of[index][i]
            return f"MC/DC of {transitions[index - 1].label}: `{condition}` never shown to decide the guard on its own"
        if criterion == "transition-pairs":
            first, second = (transitions[n - 1].label for n in target)
            return f"transition pair {first} then {second} never fired on one card"
        (a, x), (b, y) = target
        return f"options {a}: {x} and {b}: {y} never in force together"

    def as_json(self) -> Row:
        criteria = {}
        for criterion in self.criteria:
            reached, total = self.counts(criterion)
            criteria[criterion] = {"reached": reached, "targets": total}
        return {
            "process": self.process.symbolic_name,
            "percent": math.floor(self.percent * 10) / 10,  # never rounded up to 100
            "reached": self.reached,
            "targets": self.goals,
            "criteria": criteria,
            "transitions": {"fired": sorted(self.fired), "total": len(self.process.transitions)},
            "guard_outcomes": {"seen": [[i, o] for i, o in sorted(self.outcomes)], "total": 2 * len(self.guarded)},
            "timers": {"fired": sorted(self.timers & set(self.declared_timers)), "total": len(self.declared_timers)},
            "option_values": {name: sorted(values) for name, values in sorted(self.option_values.items())},
            "missing": self.missing(),
        }


def option_domains(process: Process, workspace: Workspace) -> dict[str, tuple[Any, ...]]:
    """The enumerable options the process's expressions read, each with the values to try, by name; a
    whole number a timer's duration reads is tried off (0) and on (its default, else its least above 0)."""
    declared = declared_options(process, workspace.scripts)
    read: Mapping[str, Variable] = options_read(process, workspace.scripts)
    domains = {name: values for name in read if name in declared and (values := values_of(declared[name]))}
    for name in timer_options(process):
        variable = declared.get(name)
        if variable is not None and variable.type == "int" and name not in domains and (variable.min or 0) <= 0:
            on = variable.default if isinstance(variable.default, int) and variable.default > 0 else 1
            domains[name] = (0, on)
    return dict(sorted(domains.items()))


def timer_options(process: Process) -> set[str]:
    """The options the durations of the process's timers read."""
    texts = (text for state in process.states.values() for timer in state.timers for text in (timer.after, timer.every) if text)
    return {attr for text in texts if not literal(text) for root, attr in parse(text).attributes if root == "options"}


def measure(
    workspace: Workspace,
    lives: Iterable[tuple[str, list[Row]]],
    timers: Iterable[tuple[str, str]] = (),
    in_force: Iterable[tuple[str, Mapping[str, Any]]] = (),
    criteria: tuple[str, ...] = BASIC,
) -> list[ProcessCoverage]:
    """Coverage per batch process from the lives of the scenarios' cards (each card's decision traces, in
    order), the timers they fired ((process, FILE:LINE) each) and the option values in force where a card
    of a process moved ((process, values) each)."""
    coverage = {
        p.symbolic_name: ProcessCoverage(p, criteria, option_domains(p, workspace))
        for p in workspace.processes.values()
        if p.kind == "batch"
    }
    for process, traces in lives:
        entry = coverage.get(process)
        if entry is not None:
            add_life(entry, traces)
    for process, where in timers:
        if process in coverage:
            coverage[process].timers.add(where)
    for process, values in in_force:
        if process in coverage:
            coverage[process].combinations.update(pairs_in(values, coverage[process].domains))
    return list(coverage.values())


def add_life(entry: ProcessCoverage, traces: list[Row]) -> None:
    """One card's decisions: each trace, and each pair of transitions fired one after the other."""
    last = None
    for trace in traces:
        fired = _add_trace(entry, trace)
        if fired is not None:
            if last is not None:
                entry.pairs.add((last, fired))
            last = fired


def _add_trace(entry: ProcessCoverage, trace: Row) -> int | None:
    """What one decision exercised; the number of the transition it fired, if any."""
    fired = None
    for candidate in trace["candidates"]:
        index = candidate["transition"]
        if candidate["fired"]:
            entry.fired.add(index)
            fired = index
        if candidate["guard"] is not None and candidate["result"] in (True, False):
            entry.outcomes.add((index, bool(candidate["result"])))
            if index in entry.conditions.of:
                vector = entry.conditions.vector(index, candidate["reads"], bool(candidate["result"]))
                entry.vectors.setdefault(index, set()).add(vector)
        for read in candidate["reads"]:
            if read["name"].startswith("options."):
                entry.option_values.setdefault(read["name"].removeprefix("options."), set()).add(shown_value(read["value"]))
    return fired
