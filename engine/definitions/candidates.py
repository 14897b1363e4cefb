"""The transitions of a process as compiled under its options (stage 4, engine.definitions.compile):
what the options alone decide about each guard and each effect's `when`, the guard specialized under
them, and the keys under which the machine's decisions are kept."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from engine.definitions.closures import UNKNOWN, Reads, Scope
from engine.definitions.expressions import Compiled, parse, specialize
from engine.definitions.model import Effect, Transition


@dataclass(frozen=True)
class Candidate:
    """A YAML transition as compiled: what the options alone decide about its guard, and the guard
    specialized under them (`runtime`) when they leave it undecided."""

    transition: Transition
    folded: Any
    option_reads: tuple[tuple[str, Any], ...]
    effects: tuple[tuple[Effect, Compiled | None], ...]
    runtime: Compiled | None = None
    #: The `when` of its effects read nothing of the card but its declared fields: the effects a card
    #: gets follow from its fields' values (and the options) alone
    by_fields: bool = True

    @property
    def kept(self) -> bool:
        return self.folded is not False


def compile_candidate(transition: Transition, scope: Scope, declared: Collection[str]) -> Candidate:
    """`transition` compiled under the options of `scope`, for a process of the card fields `declared`."""
    guard = parse(transition.guard.text) if transition.guard else None
    folded, reads = guard.truth(scope) if guard else (True, [])
    effects = []
    for effect in transition.effects:
        when = parse(effect.when.text) if effect.when else None
        decided = when.truth(scope)[0] if when else True
        if decided is not False:
            effects.append((effect, when if decided is UNKNOWN else None))
    option_reads = tuple((name, value) for name, value in reads if name.startswith("options."))
    runtime = specialize(guard.source, scope) if guard is not None and folded is UNKNOWN else None
    by_fields = all(when is None or _reads_fields(when, declared) for _, when in effects)
    return Candidate(transition, folded, option_reads, tuple(effects), runtime, by_fields)


def _reads_fields(when: Compiled, declared: Collection[str]) -> bool:
    """Whether `when` reads nothing but the options and the card's `declared` fields."""
    return when.roots <= {"card", "options"} and all(root == "options" or name in declared for root, name in when.attributes)


def condition(candidate: Candidate) -> Any:
    """The machine's condition of a candidate whose guard the options leave undecided: it records
    what the guard held and read on the card's model."""
    assert candidate.runtime is not None
    closure, index = candidate.runtime.closure, candidate.transition.index

    def held(event: Any) -> bool:
        model = event.model
        reads: Reads = []
        found = closure(model.scope, reads) is True
        model.evaluated[index] = (found, reads)
        return found

    return held


def keyed(probe: Compiled, trigger: str, state: str, scope: Scope) -> tuple[Any, ...]:
    """The key a step's decision is kept under: the value its probe reads in `scope`, and what it held."""
    reads: Reads = []
    held = probe.closure(scope, reads)
    return (trigger, state, held, tuple((name, repr(value)) for name, value in reads))
