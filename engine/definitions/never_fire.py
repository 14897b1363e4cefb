"""Never-fire analysis: what of a batch process no option combination and no user can reach.

Under each combination of the enumerable options its guards read (each bool both ways, each allowed
value; others, and everything a guard reads of a user, a card or a call, stay unknown), the guards
are folded three-valued and the states reached from the initial one along every transition whose
guard is not false. A transition taken in no combination is W206 at its line, with the cause: its
guard is false under every value, or the states it leaves are never reached where it could hold. A
guard that is true wherever it is tried is W207 (its false outcome never happens: no scenario can
cover it). A timer of a state no combination reaches is W208. Only what the options decide is
judged, so a warning is never a guess about users; a process whose combinations exceed
`MAX_COMBINATIONS` is not judged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.definitions.closures import UNKNOWN
from engine.definitions.expressions import Compiled, ExpressionError, parse
from engine.definitions.model import OptionScript, Process, Transition, Variable
from engine.definitions.options import declared_options, values_of
from engine.diagnostics import Diagnostic, diagnostic

MAX_COMBINATIONS = 4096  # the most option combinations any check enumerates (the ambiguity check and `matrix` too)


@dataclass
class _Seen:
    """What the combinations reached: transitions taken, guard outcomes where tried, states."""

    taken: set[int] = field(default_factory=set)
    tried: set[int] = field(default_factory=set)  # transitions whose state was reached
    outcomes: dict[int, set[Any]] = field(default_factory=dict)
    states: set[str] = field(default_factory=set)


def check_never_fire(processes: Mapping[str, Process], scripts: Mapping[str, OptionScript]) -> Iterator[Diagnostic]:
    """W206–W208 for every batch process whose option combinations can be enumerated."""
    for process in processes.values():
        if process.kind == "batch" and sum(state.initial for state in process.states.values()) == 1:
            yield from _judged(process, declared_options(process, scripts))


def _judged(process: Process, declared: Mapping[str, Variable]) -> Iterator[Diagnostic]:
    guards = _guards(process)
    if guards is None:
        return
    names = sorted({attr for guard in guards.values() for root, attr in guard.attributes if root == "options"})
    if any(name not in declared for name in names):
        return  # an undeclared option: E302 says so, and no value of it can be judged
    domains = {name: values for name in names if (values := values_of(declared[name]))}
    if math.prod(len(values) for values in domains.values()) > MAX_COMBINATIONS:
        return
    seen, walked = _Seen(), set()
    leaving = {state: [t for t in process.transitions if state in t.source] for state in process.states}
    outcomes = _Outcomes(guards, names)
    for combination in itertools.product(*domains.values()):
        outcome = outcomes.under(dict(zip(domains, combination, strict=True)))
        if outcome not in walked:  # combinations that fold every guard alike reach alike
            walked.add(outcome)
            _walk(process.initial, leaving, dict(zip(guards, outcome, strict=True)), seen)
    shown = ", ".join(f"options.{name}" for name in domains) or "no option"
    unguarded = reachable_states(process, process.initial)
    for transition in process.transitions:
        if any(source in unguarded for source in transition.source):  # else E205 says its state is unreachable
            yield from _transition_warnings(transition, seen, shown)
    for state in process.states.values():
        if state.name in unguarded and state.name not in seen.states:
            yield from (diagnostic(timer.location, "W208", state=state.name, options=shown) for timer in state.timers)


def _transition_warnings(transition: Transition, seen: _Seen, shown: str) -> Iterator[Diagnostic]:
    """W206 for a transition no combination takes; W207 for a guard no combination finds false."""
    index, guard = transition.index, transition.guard.text if transition.guard else None
    if index not in seen.taken:
        why = f"its guard `{guard}` is false under every value of {shown}" if index in seen.tried else None
        why = why or f"no value of {shown} reaches the state it leaves"
        yield diagnostic(transition.location, "W206", label=transition.label, why=why)
    elif guard is not None and seen.outcomes.get(index) == {True}:
        yield diagnostic(transition.location, "W207", label=transition.label, guard=guard, options=shown)


_unknown = object()  # a guard outcome the options leave open (it reads a user, a card, a call)


class _Outcomes:
    """Each guard folded under option values, worked out once per values of the options it reads."""

    def __init__(self, guards: Mapping[int, Compiled], names: list[str]) -> None:
        self.guards = guards
        self.reads = {i: sorted({a for r, a in g.attributes if r == "options"}) for i, g in guards.items()}
        self.open = dict.fromkeys(names, UNKNOWN)  # a list or a number: any value
        self.known: dict[tuple[int, tuple[Any, ...]], Any] = {}

    def under(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(self._one(index, values) for index in self.guards)

    def _one(self, index: int, values: Mapping[str, Any]) -> Any:
        key = (index, tuple(values.get(name, UNKNOWN) for name in self.reads[index]))
        if key not in self.known:
            result = self.guards[index].truth({"options": {**self.open, **values}})[0]
            self.known[key] = result if isinstance(result, bool) else _unknown
        return self.known[key]


def _walk(initial: str, leaving: Mapping[str, list[Transition]], outcome: Mapping[int, Any], seen: _Seen) -> None:
    """The states and transitions one combination of guard outcomes reaches, added to `seen`."""
    reached, frontier = {initial}, [initial]
    while frontier:
        for transition in leaving.get(frontier.pop(), ()):
            result = outcome.get(transition.index, True)
            seen.tried.add(transition.index)
            if transition.index in outcome:
                seen.outcomes.setdefault(transition.index, set()).add(result)
            if result is False:
                continue
            seen.taken.add(transition.index)
            if transition.dest not in reached:
                reached.add(transition.dest)
                frontier.append(transition.dest)
    seen.states |= reached


def _guards(process: Process) -> dict[int, Compiled] | None:
    """Each guard parsed, by its transition's index; None when one does not parse (E3xx says why)."""
    try:
        return {t.index: parse(t.guard.text) for t in process.transitions if t.guard}
    except ExpressionError:
        return None


def reachable_states(process: Process, initial: str) -> set[str]:
    """The states reachable from `initial` along any transition, guards ignored."""
    reached, frontier = {initial}, [initial]
    while frontier:
        state = frontier.pop()
        for transition in process.transitions:
            if state in transition.source and transition.dest not in reached:
                reached.add(transition.dest)
                frontier.append(transition.dest)
    return reached
