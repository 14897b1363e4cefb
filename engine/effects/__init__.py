"""Effects as a registry: what a transition does besides moving the card, one module a kind.

Each kind module (`email`, `set`) declares, in `KIND` (`engine.effects.base.Kind`), its keys as a
cerberus schema, its frozen dataclass, its checks, how it fires (the rows it adds to the unit of
work) and what it writes with the unit of work. An effect entry in a process is a mapping whose
one kind key names its kind (`email:`, `set:`), plus that kind's keys and the shared `when`.
Validation, building, checks, the templates' checks, `show`, the matrix and firing all go through
`KINDS`; a new kind is one module and one line here.

May import: the ground floor, and `definitions/` and `store/` inside functions only (the
definitions build effects through this registry; the store is reached when an effect fires).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engine.effects import email, fire, set_fields
from engine.effects.base import SHARED, At, Effect, Kind, Schema

if TYPE_CHECKING:
    from engine.definitions.model import Process
    from engine.diagnostics import Diagnostic, Location, Source

KINDS: dict[str, Kind] = {kind.name: kind for kind in (email.KIND, set_fields.KIND, fire.KIND)}


def register(kind: Kind) -> None:
    """Add a kind (e.g. a test's own); its name must be new."""
    if kind.name in KINDS or kind.name in SHARED:
        raise ValueError(f"effect kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Remove a kind added with `register`."""
    KINDS.pop(name, None)


def kind_keys(entry: Mapping[Any, Any]) -> list[str]:
    """The kind keys an effect entry carries (a valid entry has exactly one)."""
    return [key for key in entry if key in KINDS]


def schema_of(name: str) -> Schema:
    """The cerberus schema of an effect entry of kind `name`: its keys and the shared ones."""
    return {**KINDS[name].schema, **SHARED}


def known_keys() -> list[str]:
    """Every key an effect entry may carry, over all kinds (for did-you-mean)."""
    return sorted({key for kind in KINDS.values() for key in kind.schema} | set(SHARED))


def build(entry: Mapping[str, Any], when: Source | None, location: Location, at: At) -> Effect:
    """The effect of a validated entry, built by its kind."""
    (name,) = kind_keys(entry)
    return KINDS[name].build(entry, when, location, at)


def kind(effect: Effect) -> Kind:
    """The kind an effect was built by."""
    return KINDS[effect.kind]


def check_effects(processes: Mapping[str, Process], scripts: Mapping[str, Any]) -> Iterator[Diagnostic]:
    """Each effect's own checks, by its kind (a check of engine.definitions.check)."""
    for process in processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                yield from kind(effect).check(effect, process, processes)


def emails(effects: Iterator[Effect] | tuple[Effect, ...] | list[Effect]) -> Iterator[tuple[str, str]]:
    """(template, recipient) of every email these effects send."""
    for effect in effects:
        yield from kind(effect).emails(effect)
