"""Generated scenarios, planned: the paths that reach every target, chosen among those the search
finds (`engine.testing.search`) under each combination of a covering array of the option values.

Paths are chosen greedily, most new targets first (shorter first among equals), until no path adds
one; each condition of a guard with several then gets the path that shows it deciding alone, if
there is one; every combination keeps a path. What a path reaches is counted as the scenarios'
coverage is (`engine.testing.coverage`). A target no path reaches is reported with its reason
(`Plan.unreached`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.definitions.model import Process, Workspace
from engine.effects.fire import Fire
from engine.testing.coverage import ProcessCoverage, add_life, option_domains
from engine.testing.criteria import covering_rows, independent, pairs_in
from engine.testing.search import MAX_DEPTH, Path, Search


@dataclass
class Plan:
    """The paths chosen for one process, the combinations they run under, and what none reaches."""

    process: Process
    criteria: tuple[str, ...]
    domains: Mapping[str, tuple[Any, ...]]
    rows: list[dict[str, Any]]
    exhaustive: int  # the number of combinations of the option values
    strength: int | None  # of the covering array (None: every combination)
    paths: list[Path] = field(default_factory=list)
    dropped: list[tuple[Path, str]] = field(default_factory=list)  # paths the engine refused, with its word

    @property
    def coverage(self) -> ProcessCoverage:
        """What the chosen paths reach, as the compiled machine decides."""
        return reach(self.process, self.criteria, self.domains, self.rows, self.paths)

    def unreached(self, ran: ProcessCoverage | None = None) -> list[tuple[str, str]]:
        """Each target not reached, in words, with why: by the chosen paths, or (given `ran`, what the
        scenarios reached when the engine ran them) by the scenarios."""
        planned = self.coverage
        entry, found = ran or planned, []
        for criterion in self.criteria:
            missed = planned.missed(criterion)
            for target in entry.missed(criterion):
                refusal = next((word for path, word in self.dropped if self._reaches(path, criterion, target)), None)
                if refusal is None and target not in missed:
                    refusal = "the search reached it, but the engine did not when it ran the scenarios"
                found.append((entry.described(criterion, target), refusal or self.why(criterion, target)))
        return found

    def why(self, criterion: str, target: Any) -> str:
        """Why the search reached no target like this one."""
        transitions = self.process.transitions
        tried = (
            "under any combination of the options"
            if self.strength is None
            else f"under the {len(self.rows)} combinations of the covering array of strength {self.strength} (it may need "
            f"more options at once: try --strength {self.strength + 1} or --options all)"
        )
        if criterion == "transition-pairs":
            first, second = (transitions[n - 1] for n in target)
            if any(timer.fire == first.trigger for state in first.source for timer in self.process.states[state].timers):
                return "the first is fired by a timer, and a generated path moves the clock only as its last step"
            if any(
                isinstance(effect, Fire) and effect.fire in (first.trigger, second.trigger)
                for t in transitions
                for effect in t.effects
            ):
                return "one of them is set off from another card (a `fire` effect), and a generated path makes that card first"
            return f"no path fires the second right after the first {tried}; a path keeps its options"
        if criterion == "mcdc":
            return f"no two evaluations differ in this condition and the outcome alone {tried}"
        if criterion == "option-pairs":
            return "no combination of the covering array holds both values"
        return f"no path of the compiled machine reaches it within {MAX_DEPTH} moves {tried}"

    def _reaches(self, path: Path, criterion: str, target: Any) -> bool:
        return target in reach(self.process, (criterion,), self.domains, self.rows, [path]).reached_targets(criterion)


def plan(
    workspace: Workspace, process: Process, criteria: tuple[str, ...], strength: int | None, first: int | None = None
) -> Plan:
    """The paths that reach every target of `criteria` the search can reach, under a covering array of
    strength `strength` (None: every combination) of the option values the process reads (only its
    `first` combinations, when given: a measurement). The combinations are searched one at a time,
    each keeping only the paths chosen from it."""
    domains = option_domains(process, workspace)
    exhaustive = 1
    for values in domains.values():
        exhaustive *= len(values)
    rows = covering_rows(domains, strength)[:first]
    chooser = _Chooser(process, criteria, domains, rows)
    for r, row in enumerate(rows):
        chooser.take(list(Search(workspace, process, r, row).paths()))
    chosen = sorted(chooser.chosen, key=lambda path: path.clock_order)
    return Plan(process, criteria, domains, rows, exhaustive, strength, chosen)


def reach(
    process: Process, criteria: tuple[str, ...], domains: Mapping[str, Any], rows: list[dict[str, Any]], paths: list[Path]
) -> ProcessCoverage:
    """What `paths` reach, counted as the scenarios' coverage is."""
    entry = ProcessCoverage(process, criteria, domains)
    for path in paths:
        _add(entry, path, rows)
    return entry


def _add(entry: ProcessCoverage, path: Path, rows: list[dict[str, Any]]) -> None:
    for _, traces in path.lives(entry.process.symbolic_name):
        add_life(entry, traces)
    for edge in path.edges:
        entry.timers.update(edge.timers)  # the clock moves past every armed timer of the state that fires it
    entry.combinations.update(pairs_in(rows[path.row], entry.domains))


def _targets(
    process: Process, criteria: tuple[str, ...], domains: Mapping[str, Any], rows: list[dict[str, Any]], path: Path
) -> set[Any]:
    """The targets one path reaches on its own, MC/DC aside (that takes two evaluations)."""
    entry = reach(process, criteria, domains, rows, [path])
    return {(c, t) for c in criteria if c != "mcdc" for t in entry.reached_targets(c)}


class _Chooser:
    """Paths chosen one combination at a time: from each, greedily the paths with the most targets not
    yet reached (shorter first among equals) until none adds one, or the one that reaches most when
    none does (every combination keeps a path); then those that show a condition deciding its guard
    alone; then one ending with each transition its paths fire, and with each that acts on the
    holder's other cards, so that a wrong destination or a missing effect shows in the cards' final
    states, not only in what happens to them next. The paths that move every card (the clock, the
    batch sync) come first in a scenario, so that they move no card of a later path."""

    def __init__(
        self, process: Process, criteria: tuple[str, ...], domains: Mapping[str, Any], rows: list[dict[str, Any]]
    ) -> None:
        self.process, self.criteria, self.domains, self.rows = process, criteria, domains, rows
        self.chosen: list[Path] = []
        self.covered: set[Any] = set()
        self.entry = ProcessCoverage(process, criteria, domains)  # the vectors of the chosen paths, for MC/DC
        self.ending: set[tuple[int, bool]] = set()

    def take(self, candidates: list[Path]) -> None:
        reached_by = [_targets(self.process, self.criteria, self.domains, self.rows, path) for path in candidates]
        before = len(self.chosen)
        while candidates:
            gains = [(len(targets - self.covered), -len(candidates[i].edges), -i) for i, targets in enumerate(reached_by)]
            best = max(range(len(candidates)), key=lambda i: gains[i])
            if gains[best][0] == 0:
                break
            self._choose(candidates[best], reached_by[best])
        if candidates and len(self.chosen) == before:
            best = max(range(len(candidates)), key=lambda i: (len(reached_by[i]), -len(candidates[i].edges), -i))
            self._choose(candidates[best], reached_by[best])
        if "mcdc" in self.criteria:
            self._for_mcdc(candidates)
        self._ending_each(candidates)

    def _choose(self, path: Path, targets: set[Any]) -> None:
        self.chosen.append(path)
        self.covered |= targets
        self.ending |= {_ending(path), (_ending(path)[0], False)}  # ending with it covers it, whatever it does besides
        _add(self.entry, path, self.rows)

    def _for_mcdc(self, candidates: list[Path]) -> None:
        """The shortest path of this combination that shows a condition deciding its guard alone, for
        each condition not yet shown, where one does."""
        by_length = sorted(candidates, key=lambda path: len(path.edges))
        for index, condition in self.entry.conditions.targets():
            if independent(self.entry.vectors.get(index, ()), condition) is not None:
                continue
            for path in by_length:
                trial = reach(self.process, ("mcdc",), self.domains, self.rows, [path])
                if independent(self.entry.vectors.get(index, set()) | trial.vectors.get(index, set()), condition):
                    self._choose(path, set())
                    break

    def _ending_each(self, candidates: list[Path]) -> None:
        fired = {(edge.fired, False) for path in self.chosen for edge in path.edges}
        fired |= {(edge.fired, True) for path in candidates for edge in path.edges if edge.others and path.seeds}
        for key in sorted(fired - self.ending):
            if key in self.ending:
                continue
            last = [path for path in candidates if _ending(path)[0] == key[0] and (_ending(path)[1] or not key[1])]
            if last:
                self._choose(min(last, key=lambda path: len(path.edges)), set())


def _ending(path: Path) -> tuple[int, bool]:
    """The transition a path ends with, and whether it ends acting on the holder's other cards."""
    last = path.edges[-1]
    return last.fired, bool(last.others and path.seeds)
