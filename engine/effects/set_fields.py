"""Effect kind `set`: give card fields values, `- set: {valid_until: "'2027-01-31'", pin_delivery: user.pin}`.
(The module is `set_fields`: a submodule `set` would shadow the builtin inside the registry's package.)

Each value is an expression over user, card, options, batch and actor (a YAML number or boolean is
that literal); the fields are those the card's lifecycle declares (`fields:`, engine.definitions.fields).
Validate checks each name and each literal value; a value that does not fit when the effect fires
refuses the card's step (nothing of it is written). The values are written on the card (its JSON
`fields` column) with the unit of work, and the step's audit row keeps what it set (`explain`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from engine.diagnostics import Diagnostic, Location, Source, diagnostic, did_you_mean
from engine.effects.base import At, Effect, FireContext, Firing, Kind, Work

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from engine.definitions.model import CardField, Process

#: The rows of a unit of work that carry the cards' new fields (written by `flush`, never inserted).
ROWS = "card_fields"


@dataclass(frozen=True)
class Set(Effect):
    """Give the card fields named in `set` the values of their expressions."""

    KIND: ClassVar[str] = "set"

    set: tuple[tuple[str, Source], ...]


SCHEMA = {
    "set": {
        "type": "dict",
        "required": True,
        "empty": False,
        "keysrules": {"type": "string", "regex": r"[A-Za-z][A-Za-z0-9_]*"},
        "valuesrules": {"type": ["string", "integer", "boolean"], "empty": False},
    },
}


def build(spec: Mapping[str, Any], when: Source | None, location: Location, at: At) -> Set:
    values = tuple((name, Source(_text(value), at(("set", name)))) for name, value in spec["set"].items())
    return Set(when, location, values)


def _text(value: Any) -> str:
    """A YAML value as expression text: a boolean or a number is that literal."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def describe(effect: Set) -> str:
    return "set " + ", ".join(f"{name} = {source.text}" for name, source in effect.set)


def expressions(effect: Set) -> tuple[Source, ...]:
    return tuple(source for _, source in effect.set)


def check(effect: Set, process: Process, processes: Mapping[str, Process]) -> Iterator[Diagnostic]:
    """Each name a declared field of the card (E271), each literal value fitting it (E274 type, E275 values)."""
    from engine.definitions.fields import card_fields

    declared = card_fields(process, processes)
    for name, source in effect.set:
        found = declared.get(name)
        if found is None:
            known = ", ".join(sorted(declared)) or "no fields"
            yield diagnostic(source.location, "E271", name=name, hint=did_you_mean(name, declared), known=known)
            continue
        yield from _literal_problems(found, source)


def _literal_problems(declared: CardField, source: Source) -> Iterator[Diagnostic]:
    from engine.definitions.expressions import ExpressionError, parse
    from engine.definitions.fields import type_problem, value_problem

    try:
        expression = parse(source.text)
    except ExpressionError:
        return  # check_expressions reports it
    if expression.roots:
        return  # known when it fires
    value = expression.evaluate({})[0]
    problem = type_problem(declared.type, value)
    if problem is not None:
        yield diagnostic(source.location, "E274", name=declared.name, type=declared.type, problem=problem)
    elif (problem := value_problem(declared, value)) is not None:
        yield diagnostic(source.location, "E275", name=declared.name, problem=problem)


def values(effect: Set, firing: Firing) -> dict[str, Any]:
    """The values the effect gives, evaluated on the card being fired."""
    from engine.definitions.expressions import parse

    scope = firing.scope()
    return {name: parse(source.text).evaluate(scope)[0] for name, source in effect.set}


def refusal(effect: Set, firing: Firing) -> str | None:
    """Why the values cannot be set: a value that does not fit its field (its type, its values)."""
    from engine.definitions.fields import value_problem

    declared = _declared(firing)
    problems = []
    for name, value in values(effect, firing).items():
        problem = value_problem(declared[name], value) if name in declared else f"no card field '{name}'"
        if problem is not None:
            problems.append(f"card field '{name}' ({declared[name].type if name in declared else '?'}) cannot be set: {problem}")
    return "; ".join(problems) or None


def _declared(firing: Firing) -> Mapping[str, CardField]:
    fields: Mapping[str, CardField] = firing.context.compiled.process.fields
    return fields


def fire(effect: Set, firing: Firing) -> None:
    """The card's fields with the new values: on the card (what later effects read), the step's audit row, and a row to write."""
    card = firing.card
    given = values(effect, firing)
    fields = {**_loaded(card.get("fields")), **given}
    card["fields"] = json.dumps(fields, sort_keys=True)
    audit = firing.work.audit()  # the step's row is the last, its fields the last of its values
    *before, given_before = audit[-1]
    audit[-1] = (*before, json.dumps({**_loaded(cast(str | None, given_before)), **given}, sort_keys=True))
    firing.work.rows[ROWS].append({"card_id": card["id"], "fields": card["fields"]})


def _loaded(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text and text != "{}" else {}


def flush(connection: Connection, context: FireContext, work: Work, lost: set[int]) -> None:
    """Write the new fields of the unit of work's cards (not of those another command moved)."""
    from engine.store.card_fields import set_card_fields

    rows = [row for row in work.rows.pop(ROWS, ()) if row["card_id"] not in lost]
    if rows:
        set_card_fields(connection, rows)


KIND = Kind("set", SCHEMA, build, fire, describe, check, expressions, refusal=refusal, flush=flush)
