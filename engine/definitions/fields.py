"""Card fields: the typed fields a card-creating process declares (`fields:`), which the `set`
effect gives values and guards, prerequisites, `--where` and templates read as `card.NAME`.

A value is kept as JSON: a date or a moment as its ISO text. `value_problem` says why a value
does not fit a field; the checks of the declarations are `check_fields` (a check of
engine.definitions.check).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from engine.definitions.model import CardField, Process
from engine.diagnostics import Diagnostic, diagnostic
from engine.records import readable_fields

#: What a card has whatever its process declares: a declared field may not take one of these names.
BUILT_IN = readable_fields("card") | readable_fields("card", "templates")


def value_problem(declared: CardField, value: Any) -> str | None:
    """Why `value` cannot be the field's value (its type, or not among its values), else None."""
    problem = type_problem(declared.type, value)
    if problem is None and declared.values is not None and value not in declared.values:
        return f"{value!r} is not one of {', '.join(map(repr, declared.values))}"
    return problem


def type_problem(kind: str, value: Any) -> str | None:
    """Why `value` is not of the field type `kind` (None fits every type: a field may be cleared), else None."""
    if value is None:
        return None  # a field may be cleared
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else f"{value!r} is not an integer"
    if not isinstance(value, str):
        return f"{value!r} is not {'a string' if kind == 'string' else f'an ISO {kind} text'}"
    if kind == "date" and not _parses(datetime.date.fromisoformat, value, 10):
        return f"{value!r} is not an ISO date (write a date as '2027-01-31', quoted)"
    if kind == "datetime" and not _parses(datetime.datetime.fromisoformat, value, 16):
        return f"{value!r} is not an ISO date and time (write it as '2027-01-31T12:00:00Z', quoted)"
    return None


def _parses(parse: Any, text: str, shortest: int) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return len(text) >= shortest


def card_fields(process: Process, processes: Mapping[str, Process]) -> dict[str, CardField]:
    """The fields the cards a process works on have: its own, or (an action) those of the processes it acts on."""
    if process.kind == "batch":
        return dict(process.fields)
    return {name: found for target in process.acts_on if target in processes for name, found in processes[target].fields.items()}


def check_fields(processes: Mapping[str, Process], scripts: Mapping[str, Any]) -> Iterator[Diagnostic]:
    """Each declared field: a new name, allowed values of its type, and one declaration across processes."""
    seen: dict[str, CardField] = {}
    for process in processes.values():
        for name, declared in process.fields.items():
            if name in BUILT_IN:
                yield diagnostic(declared.location, "E273", name=name, known=", ".join(sorted(BUILT_IN)))
            for value in declared.values or ():
                problem = type_problem(declared.type, value)
                if problem is not None:
                    yield diagnostic(declared.location, "E274", name=name, type=declared.type, problem=problem)
            first = seen.setdefault(name, declared)
            if first is not declared and (first.type, first.values) != (declared.type, declared.values):
                yield diagnostic(declared.location, "E272", name=name, other=first.location, type=first.type)
