"""Stage 3, check: the option variables of the option scripts, each against its own declaration
(a type every enumerated value, default and value has; both values of a bool enumerated; the
`min` and `max` of a number kept by each of them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from engine.definitions.model import OptionScript, Variable
from engine.definitions.options import type_problem
from engine.diagnostics import Diagnostic, Location, diagnostic

Processes = Mapping[str, Any]
Scripts = Mapping[str, OptionScript]


def check_variables(processes: Processes, scripts: Scripts) -> Iterator[Diagnostic]:
    for script in scripts.values():
        for name, variable in script.variables.items():
            yield from _check_variable(script, name, variable)


def _check_variable(script: OptionScript, name: str, variable: Variable) -> Iterator[Diagnostic]:
    path = ("variables", name)
    document = script.document
    yield from _declaration_problems(script, name, variable)
    for i, entry in enumerate(variable.values):
        problem = type_problem(_plain(variable), [entry.value] if variable.type == "list" else entry.value)
        if problem:
            yield _value_diagnostic(document.at((*path, "values", i, "value")), name, entry.value, problem)
    if variable.type == "bool":
        missing = [str(v).lower() for v in (True, False) if v not in [entry.value for entry in variable.values]]
        if missing:
            yield diagnostic(document.key_at(path), "E403", name=name, missing=" and ".join(missing))
    elif not variable.values and not variable.outcome:
        yield diagnostic(document.key_at(path), "E404", name=name, detail="needs 'values' (each with its outcome) or 'outcome'")
    for key, value in (("default", variable.default), ("value", variable.value)):
        if key == "value" and not variable.has_value:
            continue
        problem = type_problem(variable, value)
        if problem:
            yield _value_diagnostic(document.at((*path, key)), name, value, problem)


def _declaration_problems(script: OptionScript, name: str, variable: Variable) -> Iterator[Diagnostic]:
    """Keys that do not fit the variable: `items` on anything but a list, `min` and `max` on anything but
    numbers, and a `max` below the `min`."""
    path, document = ("variables", name), script.document
    if variable.items and variable.type != "list":
        yield diagnostic(document.key_at((*path, "items")), "E404", name=name, detail="'items' is only for type list")
    numeric = variable.type == "int" or (variable.type == "list" and variable.items == "int")
    for key, bound in (("min", variable.min), ("max", variable.max)):
        if bound is not None and not numeric:
            yield diagnostic(
                document.key_at((*path, key)), "E404", name=name, detail=f"'{key}' is only for an int or a list of int"
            )
    if variable.min is not None and variable.max is not None and variable.min > variable.max:
        yield diagnostic(document.key_at((*path, "max")), "E404", name=name, detail="'max' is less than 'min'")


def _plain(variable: Variable) -> Variable:
    """The variable without its enumerated values, to type-check the enumeration itself."""
    return replace(variable, values=())


def _value_diagnostic(where: Location, name: str, value: Any, problem: str) -> Diagnostic:
    code, detail = problem.split(":", 1)
    if code == "E402":
        return diagnostic(where, code, name=name, value=value, allowed=detail)
    if code == "E405":
        return diagnostic(where, code, name=name, value=value, range=detail)
    return diagnostic(where, code, name=name, value=value, type=detail)
