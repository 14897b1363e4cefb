"""Every expression of a process with the place it stands in (which decides the roots it may read):
what the checks judge and what a run reads, apart from the checks themselves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from engine import effects
from engine.definitions.model import Process, Source
from engine.definitions.timers import literal, timers_of


@dataclass(frozen=True)
class Placed:
    """An expression of a process, with the place it stands in (which decides the roots it may read)."""

    process: Process
    source: Source
    place: str


def expressions_of(process: Process) -> Iterator[Placed]:
    """Every expression of a process with its place."""
    kind = f"{process.kind} prerequisite"
    for prerequisite in process.prerequisites:
        yield Placed(process, prerequisite.rule, kind)
    if process.exclusive and process.exclusive.when:
        yield Placed(process, process.exclusive.when, "production type")
    if process.production_type:
        yield Placed(process, process.production_type.choices, "production type")
        yield Placed(process, process.production_type.selectable, "production type")
    yield from _timer_expressions(process)
    for transition in process.transitions:
        if transition.guard:
            yield Placed(process, transition.guard, "guard")
        for effect in transition.effects:
            if effect.when:
                yield Placed(process, effect.when, "effect condition")
            for value in effects.kind(effect).expressions(effect):
                yield Placed(process, value, "effect value")


def _timer_expressions(process: Process) -> Iterator[Placed]:
    """The durations of timers written as expressions over options (`after: options.Days`)."""
    for timer in timers_of(process):
        for key in ("after", "every", "before"):
            text = getattr(timer, key)
            if text is not None and not literal(text):
                where = process.document.at(("states", timer.state, "timers", timer.index, key))
                yield Placed(process, Source(text, where), "timer duration")
