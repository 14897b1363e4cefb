"""Stage 3, check: the option variables of the option scripts, each against its own declaration
(a type every enumerated value, default and value has; both values of a bool enumerated)."""

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
    if variable.items and variable.type != "list":
        yield diagnostic(document.key_at((*path, "items")), "E404", name=name, detail="'items' is only for type list")
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


def _plain(variable: Variable) -> Variable:
    """The variable without its enumerated values, to type-check the enumeration itself."""
    return replace(variable, values=())


def _value_diagnostic(where: Location, name: str, value: Any, problem: str) -> Diagnostic:
    code, detail = problem.split(":", 1)
    if code == "E402":
        return diagnostic(where, code, name=name, value=value, allowed=detail)
    return diagnostic(where, code, name=name, value=value, type=detail)
