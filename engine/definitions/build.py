"""A process built from its validated document: the typed data of engine.definitions.model, with each
expression kept as text and the place it was written (engine.definitions.check parses them)."""

from __future__ import annotations

from typing import Any

from engine import effects
from engine.definitions.declared import Timer, own_trigger
from engine.definitions.document import Document
from engine.definitions.model import (
    CardField,
    Effect,
    Exclusive,
    Prerequisite,
    Process,
    ProductionType,
    Source,
    State,
    Transition,
    Trigger,
    text_of,
)


def build_process(document: Document) -> Process:
    """The Process of a document that passed validation."""
    data = document.data

    def source(path: tuple[Any, ...]) -> Source | None:
        node: Any = data
        for step in path:
            if isinstance(node, dict):
                node = node.get(step)
            else:
                node = node[step] if isinstance(node, list) and isinstance(step, int) and step < len(node) else None
        return Source(node, document.at(path)) if isinstance(node, str) else None

    production = data.get("production_type")
    return Process(
        symbolic_name=data["symbolic_name"],
        name=text_of(data.get("name")),
        package=text_of(data.get("package")),
        component=text_of(data.get("component")),
        start=text_of(data.get("start")),
        description=text_of(data.get("description")),
        outcome=tuple(data["outcome"]),
        kind=data["kind"],
        actor=data["actor"],
        options=tuple(data.get("options", ())),
        acts_on=tuple(data.get("acts_on", ())),
        creates=data.get("creates"),
        triggers={
            name: Trigger(
                name,
                spec["description"],
                spec.get("reason", "none"),
                document.key_at(("triggers", name)),
                spec.get("bureau_status"),
                spec.get("reason_hint"),
                spec.get("label"),
                spec.get("sv"),
            )
            for name, spec in data["triggers"].items()
        },
        production_type=ProductionType(
            source(("production_type", "choices")),  # type: ignore[arg-type]
            source(("production_type", "selectable")),  # type: ignore[arg-type]
        )
        if production
        else None,
        exclusive=_exclusive(data, document, source),
        prerequisites=tuple(
            Prerequisite(source(("prerequisites", i, "rule")), entry["message"], entry.get("sv"))  # type: ignore[arg-type]
            for i, entry in enumerate(data.get("prerequisites", ()))
        ),
        states={
            name: State(
                name,
                spec["description"],
                spec.get("initial", False),
                spec.get("final", False),
                spec.get("handover"),
                document.key_at(("states", name)),
                tuple(Timer.of(document, name, i, timer) for i, timer in enumerate(spec.get("timers", ()))),
                spec.get("incident"),
            )
            for name, spec in data.get("states", {}).items()
        },
        transitions=_transitions(document, data, source),
        fields={
            name: CardField(
                name,
                spec["type"],
                tuple(spec["values"]) if "values" in spec else None,
                spec["description"],
                document.key_at(("fields", name)),
            )
            for name, spec in data.get("fields", {}).items()
        },
        sv=dict(data.get("sv", {})),
        document=document,
        lifecycle=data.get("lifecycle"),
        aliases=tuple(data.get("aliases", ())),
    )


def _exclusive(data: dict[str, Any], document: Document, source: Any) -> Exclusive | None:
    """`exclusive: EXPR` (the group named after the process) or `exclusive: {group, when}`; None when
    absent or malformed (`engine.definitions.exclusive` reports it)."""
    value, where = data.get("exclusive"), document.at(("exclusive",))
    if isinstance(value, str):
        return Exclusive(data["symbolic_name"], source(("exclusive",)), where)
    if isinstance(value, dict) and isinstance(value.get("group"), str):
        return Exclusive(value["group"], source(("exclusive", "when")), where)
    return None


def _transitions(document: Document, data: dict[str, Any], source: Any) -> tuple[Transition, ...]:
    """The transitions the YAML lists, then one for each timer that runs effects of its own: its own
    trigger, from its state back to it, with its effects (so that a timer's effects fire, are audited,
    explained and covered as a transition's)."""
    listed = [_transition(document, i, spec, source) for i, spec in enumerate(data.get("transitions", ()))]
    for state, spec in data.get("states", {}).items():
        for i, timer in enumerate(spec.get("timers", ())):
            if "effects" in timer and "fire" not in timer:
                where = ("states", state, "timers", i)
                listed.append(
                    Transition(
                        index=len(listed),
                        trigger=own_trigger(state, i),
                        source=(state,),
                        dest=state,
                        guard=None,
                        effects=tuple(
                            _effect(document, (*where, "effects", j), entry, source) for j, entry in enumerate(timer["effects"])
                        ),
                        location=document.at(where),
                    )
                )
    return tuple(listed)


def _transition(document: Document, index: int, spec: dict[str, Any], source: Any) -> Transition:
    where = ("transitions", index)
    sources = spec["source"]
    return Transition(
        index=index,
        trigger=spec["trigger"],
        source=(sources,) if isinstance(sources, str) else tuple(sources),
        dest=spec["dest"],
        guard=source((*where, "guard")),
        effects=tuple(
            _effect(document, (*where, "effects", j), entry, source) for j, entry in enumerate(spec.get("effects", ()))
        ),
        location=document.at(where),
        invoke=source((*where, "invoke")),
    )


def _effect(document: Document, where: tuple[Any, ...], entry: dict[str, Any], source: Any) -> Effect:
    """An effect entry built by its kind (engine.effects), with its condition and location."""
    return effects.build(entry, source((*where, "when")), document.at(where), lambda path: document.at((*where, *path)))
