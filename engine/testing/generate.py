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
from engine.testing.search import Path, Search


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
                found.append((entry.described(criterion, target), refusal or why(self.process, criterion, target)))
        return found

    def _reaches(self, path: Path, criterion: str, target: Any) -> bool:
        return target in reach(self.process, (criterion,), self.domains, self.rows, [path]).reached_targets(criterion)


def plan(workspace: Workspace, process: Process, criteria: tuple[str, ...], strength: int | None) -> Plan:
    """The paths that reach every target of `criteria` the search can reach, under a covering array of
    strength `strength` (None: every combination) of the option values the process reads."""
    domains = option_domains(process, workspace)
    exhaustive = 1
    for values in domains.values():
        exhaustive *= len(values)
    rows = covering_rows(domains, strength)
    candidates = [path for r, row in enumerate(rows) for path in Search(workspace, process, r, row).paths()]
    return Plan(process, criteria, domains, rows, exhaustive, strength, _chosen(candidates, process, criteria, domains, rows))


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
        if edge.move.action == "advance":  # the clock moves past every timer of the state that fires it
            state = entry.process.states[edge.source]
            entry.timers.update(timer.where for timer in state.timers if timer.fire == edge.move.trigger)
    entry.combinations.update(pairs_in(rows[path.row], entry.domains))


def _targets(
    process: Process, criteria: tuple[str, ...], domains: Mapping[str, Any], rows: list[dict[str, Any]], path: Path
) -> set[Any]:
    """The targets one path reaches on its own, MC/DC aside (that takes two evaluations)."""
    entry = reach(process, criteria, domains, rows, [path])
    return {(c, t) for c in criteria if c != "mcdc" for t in entry.reached_targets(c)}


def _chosen(
    candidates: list[Path], process: Process, criteria: tuple[str, ...], domains: Mapping[str, Any], rows: list[dict[str, Any]]
) -> list[Path]:
    """Greedy cover: the path with the most targets not yet reached, until none adds one; then MC/DC;
    then a path for each combination that has none, and one ending with each transition fired. The
    paths that move every card (the clock, the batch sync) come first in a scenario, so that they move
    no card of a later path."""
    reached_by = [_targets(process, criteria, domains, rows, path) for path in candidates]
    covered: set[Any] = set()
    chosen: list[int] = []
    while True:
        gains = [(len(targets - covered), -len(candidates[i].edges), -i) for i, targets in enumerate(reached_by)]
        best = max(range(len(candidates)), key=lambda i: gains[i], default=None)
        if best is None or gains[best][0] == 0:
            break
        chosen.append(best)
        covered |= reached_by[best]
    if "mcdc" in criteria:
        chosen += _for_mcdc(candidates, chosen, process, criteria, domains, rows)
    for r in range(len(rows)):
        if not any(candidates[i].row == r for i in chosen):
            mine = [i for i, path in enumerate(candidates) if path.row == r]
            if mine:
                chosen.append(max(mine, key=lambda i: (len(reached_by[i]), -len(candidates[i].edges))))
    chosen += _ending_each(candidates, chosen)
    return sorted((candidates[i] for i in chosen), key=lambda path: path.clock_order)


def _ending_each(candidates: list[Path], chosen: list[int]) -> list[int]:
    """The shortest paths to add so that each transition the chosen paths fire is the last move of one,
    and each that sets off a trigger on the holder's other cards is the last move of one that has them:
    a wrong destination or a missing effect then shows in the cards' final states, not only in what
    happens to them next."""
    fired = {(edge.fired, False) for i in chosen for edge in candidates[i].edges}
    fired |= {(edge.fired, True) for path in candidates for edge in path.edges if edge.others and path.seeds}
    ending = {_ending(candidates[i]) for i in chosen}
    ending |= {(fired, False) for fired, _ in ending}  # ending with it covers it, whatever it does besides
    added: list[int] = []
    for key in sorted(fired - ending):
        if key in ending:
            continue
        last = [i for i, path in enumerate(candidates) if _ending(path)[0] == key[0] and (_ending(path)[1] or not key[1])]
        if last:
            best = min(last, key=lambda i: (len(candidates[i].edges), i))
            added.append(best)
            ending |= {_ending(candidates[best]), (key[0], False)}
    return added


def _ending(path: Path) -> tuple[int, bool]:
    """The transition a path ends with, and whether it ends acting on the holder's other cards."""
    last = path.edges[-1]
    return last.fired, bool(last.others and path.seeds)


def _for_mcdc(
    candidates: list[Path],
    chosen: list[int],
    process: Process,
    criteria: tuple[str, ...],
    domains: Mapping[str, Any],
    rows: list[dict[str, Any]],
) -> list[int]:
    """The paths to add so that each condition is shown deciding its guard alone, where one can."""
    entry = reach(process, criteria, domains, rows, [candidates[i] for i in chosen])
    added: list[int] = []
    by_length = sorted(range(len(candidates)), key=lambda i: len(candidates[i].edges))
    for index, condition in entry.conditions.targets():
        if independent(entry.vectors.get(index, ()), condition) is not None:
            continue
        for i in by_length:
            trial = reach(process, ("mcdc",), domains, rows, [candidates[i]])
            if independent(entry.vectors.get(index, set()) | trial.vectors.get(index, set()), condition) is not None:
                added.append(i)
                _add(entry, candidates[i], rows)
                break
    return added


def why(process: Process, criterion: str, target: Any) -> str:
    """Why the search reached no target like this one."""
    transitions = process.transitions
    if criterion == "transition-pairs":
        first, second = (transitions[n - 1] for n in target)
        if any(timer.fire == first.trigger for timer in process.states[first.dest].timers):
            return "the first is fired by a timer, and a generated path moves the clock only as its last step"
        if any(
            isinstance(effect, Fire) and effect.fire in (first.trigger, second.trigger)
            for t in transitions
            for effect in t.effects
        ):
            return "one of them is set off from another card (a `fire` effect), and a generated path makes that card first"
        return "no path fires the second right after the first under one combination of the options (a path keeps its options)"
    if criterion == "mcdc":
        return "no two evaluations the search can make differ in this condition and the outcome alone"
    if criterion == "option-pairs":
        return "no combination of the covering array holds both values"
    return "no path of the compiled machine reaches it under any combination of the options tried"
