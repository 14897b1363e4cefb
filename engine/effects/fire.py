"""Effect kind `fire`: fire a trigger on each of the holder's other cards that `where` selects.

`- fire: deactivate` with `where: "card.state == 'active'"` (over `card`, the other card, and
`user`, the holder) fires `deactivate` on every other card of the holder it selects and that the
trigger can leave, in the transaction of the transition that causes it. Each is a transition of
its own (its audit row has the same actor and batch, the reason names the card and trigger that
caused it) and runs its own effects. Loops are refused by `validate` where the triggers show them
(a trigger that leads back to itself, a chain deeper than MAX_DEPTH); at run time a card reached
twice, or a chain too deep, refuses the transition that started it (`engine.batch.effects`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from engine.diagnostics import Diagnostic, Location, Source, diagnostic, did_you_mean
from engine.effects.base import At, Effect, Firing, Kind
from engine.store.views import card_view

if TYPE_CHECKING:
    from engine.definitions.model import Process

#: The longest chain of fires a transition may start (a fire whose effects fire again is two deep).
MAX_DEPTH = 3
#: What `where` may read: the other card, and its holder.
WHERE_ROOTS = frozenset({"card", "user"})


@dataclass(frozen=True)
class Fire(Effect):
    """Fire the trigger `fire` on the holder's other cards that `where` selects (all, without it)."""

    KIND: ClassVar[str] = "fire"

    fire: str
    where: Source | None


SCHEMA = {
    "fire": {"type": "string", "required": True, "empty": False, "regex": r"^[A-Za-z_][A-Za-z0-9_]*$"},
    "where": {"type": "string", "required": False, "empty": False},
}


def build(spec: Mapping[str, Any], when: Source | None, location: Location, at: At) -> Fire:
    where = Source(spec["where"], at(("where",))) if "where" in spec else None
    return Fire(when, location, spec["fire"], where)


def describe(effect: Fire) -> str:
    return f"fire {effect.fire} on the holder's other cards" + (f" where {effect.where.text}" if effect.where else "")


def fire(effect: Fire, firing: Firing) -> None:
    """Fire the trigger on each other card of the holder that it can leave and `where` selects."""
    from engine.definitions.expressions import parse

    where = parse(effect.where.text) if effect.where else None
    for other in firing.context.holder_cards(firing):
        compiled = firing.context.compiled_for(other["process"])
        if compiled is None or not compiled.can_fire(effect.fire, other["state"]):
            continue
        if where is not None and where.truth({"card": card_view(other), "user": firing.holder})[0] is not True:
            continue
        firing.context.cascade(firing, other, effect.fire)


def check(effect: Fire, process: Process, processes: Mapping[str, Process]) -> Iterator[Diagnostic]:
    """The trigger is one a card-creating process declares and some transition takes; `where` reads
    only the other card and the holder; the fires it starts neither loop nor chain too deep."""
    batches = [p for p in processes.values() if p.kind == "batch"]
    taken = {t.trigger for p in batches for t in p.transitions}
    declared = taken | {name for p in batches for name in p.triggers}
    if effect.fire not in declared:
        yield diagnostic(effect.location, "E281", name=effect.fire, hint=did_you_mean(effect.fire, sorted(declared)))
    elif effect.fire not in taken:
        yield diagnostic(effect.location, "E282", name=effect.fire)
    if effect.where:
        yield from _where_problems(effect.where)
    yield from _chain_problems(effect, process, processes)


def _where_problems(where: Source) -> Iterator[Diagnostic]:
    from engine.definitions.check import expression_problems
    from engine.definitions.expressions import ExpressionError, parse

    try:
        expression = parse(where.text)
    except ExpressionError as error:
        yield diagnostic(where.location, error.code, **error.fields)
        return
    for code, fields in expression_problems(expression, WHERE_ROOTS, {}):
        yield diagnostic(where.location, code, **fields)


def fires_by_trigger(processes: Mapping[str, Process]) -> dict[str, set[str]]:
    """For each trigger, the triggers its transitions' `fire` effects fire (in any process)."""
    found: dict[str, set[str]] = {}
    for process in processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                if isinstance(effect, Fire):
                    found.setdefault(transition.trigger, set()).add(effect.fire)
    return found


def _chain_problems(effect: Fire, process: Process, processes: Mapping[str, Process]) -> Iterator[Diagnostic]:
    """E283 when the fires it starts loop (a trigger fires again down the chain); E284 when the chain is too deep."""
    owner = next((t.trigger for t in process.transitions if effect in t.effects), None)
    if owner is None:
        return
    graph = fires_by_trigger(processes)
    path = _longest(effect.fire, graph, (owner,))
    shown = " -> ".join((owner, *path))
    if path and path[-1] in (owner, *path[:-1]):
        yield diagnostic(effect.location, "E283", trigger=owner, name=effect.fire, path=shown)
    elif len(path) > MAX_DEPTH:
        yield diagnostic(effect.location, "E284", trigger=owner, depth=len(path), path=shown, limit=MAX_DEPTH)


def _longest(trigger: str, graph: Mapping[str, set[str]], seen: tuple[str, ...]) -> tuple[str, ...]:
    """The longest chain of fires from `trigger`; it ends at the first trigger already in `seen` (a loop)."""
    if trigger in seen:
        return (trigger,)
    chains = [_longest(after, graph, (*seen, trigger)) for after in sorted(graph.get(trigger, ()))]
    loops = [chain for chain in chains if chain[-1] in (*seen, trigger)]
    return (trigger, *(loops[0] if loops else max(chains, key=len, default=())))


KIND = Kind("fire", SCHEMA, build, fire, describe, check=check)
