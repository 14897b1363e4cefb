"""Coverage of the rules by scenarios: transitions fired, guard outcomes seen, timers fired, option values exercised."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.definitions.model import Process
from engine.store.queries import Row


@dataclass
class ProcessCoverage:
    """What the scenarios exercised of one batch process."""

    process: Process
    fired: set[int] = field(default_factory=set)
    outcomes: set[tuple[int, bool]] = field(default_factory=set)
    option_values: dict[str, set[str]] = field(default_factory=dict)
    timers: set[str] = field(default_factory=set)  # FILE:LINE of each of its timers that fired

    @property
    def declared_timers(self) -> list[str]:
        return [timer.where for state in self.process.states.values() for timer in state.timers]

    @property
    def guarded(self) -> list[int]:
        return [t.index + 1 for t in self.process.transitions if t.guard]

    @property
    def goals(self) -> int:
        return len(self.process.transitions) + 2 * len(self.guarded) + len(self.declared_timers)

    @property
    def reached(self) -> int:
        return len(self.fired) + len(self.outcomes) + len(self.timers & set(self.declared_timers))

    @property
    def percent(self) -> float:
        return 100.0 * self.reached / self.goals if self.goals else 100.0

    @property
    def shown(self) -> str:
        """The percentage for a reader, never rounded up: 100 only when every target was reached (a
        gate of 100 fails at 99.99, and the text must not say 100.0 then)."""
        tenths = math.floor(self.percent * 10) / 10
        return f"{tenths:.1f}% ({self.reached} of {self.goals} targets)"

    def missing(self) -> list[str]:
        """What was never reached, in words."""
        gaps = [f"transition {t.label} never fired" for t in self.process.transitions if t.index + 1 not in self.fired]
        for index in self.guarded:
            for outcome in (True, False):
                if (index, outcome) not in self.outcomes:
                    transition = self.process.transitions[index - 1]
                    guard = transition.guard.text if transition.guard else ""
                    gaps.append(f"guard of {transition.label} never {'true' if outcome else 'false'}: `{guard}`")
        gaps += [f"the timer at {where} never fired" for where in self.declared_timers if where not in self.timers]
        return gaps

    def as_json(self) -> Row:
        return {
            "process": self.process.symbolic_name,
            "percent": math.floor(self.percent * 10) / 10,  # never rounded up to 100
            "reached": self.reached,
            "targets": self.goals,
            "transitions": {"fired": sorted(self.fired), "total": len(self.process.transitions)},
            "guard_outcomes": {"seen": [[i, o] for i, o in sorted(self.outcomes)], "total": 2 * len(self.guarded)},
            "timers": {"fired": sorted(self.timers & set(self.declared_timers)), "total": len(self.declared_timers)},
            "option_values": {name: sorted(values) for name, values in sorted(self.option_values.items())},
            "missing": self.missing(),
        }


def measure(
    processes: Iterable[Process], traces: Iterable[tuple[str, Row]], timers: Iterable[tuple[str, str]] = ()
) -> list[ProcessCoverage]:
    """Coverage per batch process from the decision traces of scenario runs and the timers they fired
    ((process, FILE:LINE) each)."""
    coverage = {p.symbolic_name: ProcessCoverage(p) for p in processes if p.kind == "batch"}
    for process, trace in traces:
        entry = coverage.get(process)
        if entry is not None:
            _add(entry, trace)
    for process, where in timers:
        if process in coverage:
            coverage[process].timers.add(where)
    return list(coverage.values())


def _add(entry: ProcessCoverage, trace: Row) -> None:
    for candidate in trace["candidates"]:
        index = candidate["transition"]
        if candidate["fired"]:
            entry.fired.add(index)
        if candidate["guard"] is not None and candidate["result"] in (True, False):
            entry.outcomes.add((index, bool(candidate["result"])))
        for read in candidate["reads"]:
            if read["name"].startswith("options."):
                entry.option_values.setdefault(read["name"].removeprefix("options."), set()).add(shown_value(read["value"]))


def shown_value(value: Any) -> str:
    """An option value as a tester reads it: true and false in YAML's words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
