"""Effective option values and where each came from: the default, a `value:` line, or `--set`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from engine.definitions.document import Document
from engine.definitions.model import OptionScript, Process, ValueOutcome, Variable, text_of
from engine.errors import UsageError

SET_ON_COMMAND_LINE = "--set"
DEFAULT = "default"


@dataclass(frozen=True)
class OptionValue:
    """The value an option has for one command, and its provenance."""

    variable: Variable
    value: Any
    source: str

    @property
    def name(self) -> str:
        return self.variable.name


@dataclass(frozen=True)
class EffectiveOptions:
    """All option values in force for one command."""

    values: Mapping[str, OptionValue]
    #: `for_scripts`' answers, made once each (a run asks them for every card)
    _scoped: dict[frozenset[str], EffectiveOptions] = field(default_factory=dict, init=False, repr=False, compare=False)

    def for_scripts(self, scripts: Iterable[str]) -> EffectiveOptions:
        """The options of the given scripts only (what a process reads)."""
        wanted = frozenset(scripts)
        found = self._scoped.get(wanted)
        if found is None:
            found = self._scoped[wanted] = EffectiveOptions({n: v for n, v in self.values.items() if v.variable.script in wanted})
        return found

    def as_dict(self) -> dict[str, Any]:
        return {name: option.value for name, option in self.values.items()}

    @cached_property
    def read(self) -> Mapping[str, Any]:
        """The values as expressions read them: one mapping, made once, never changed."""
        return MappingProxyType(self.as_dict())

    def provenance(self, name: str) -> str:
        option = self.values.get(name)
        return option.source if option else "undeclared"

    @cached_property
    def sources(self) -> tuple[tuple[str, str], ...]:
        """Where each value was set, by name (the traces name it: two sources are two machines)."""
        return tuple(sorted((name, value.source) for name, value in self.values.items()))

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the names and values, the cache key of compiled machines."""
        text = json.dumps(sorted(self.as_dict().items()), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def type_problem(variable: Variable, value: Any) -> str | None:
    """Why `value` does not fit `variable` ('E401'/'E402'/'E405' style text), or None when it fits."""
    if not _has_type(value, variable.type, variable.items):
        shown = f"list of {variable.items}" if variable.type == "list" and variable.items else variable.type
        return f"E401:{shown}"
    allowed = variable.allowed
    if allowed is not None and variable.type != "bool":
        members = value if variable.type == "list" else [value]
        if any(member not in allowed for member in members):
            return "E402:" + ", ".join(map(str, allowed))
    if _out_of_range(variable, value if variable.type == "list" else [value]):
        return "E405:" + _range(variable.min, variable.max)
    return None


def _out_of_range(variable: Variable, numbers: list[Any]) -> bool:
    low, high = variable.min, variable.max
    return any((low is not None and n < low) or (high is not None and n > high) for n in numbers)


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"within {low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _has_type(value: Any, kind: str, items: str | None) -> bool:
    simple = {"bool": bool, "str": str, "int": int}
    if kind == "list":
        return isinstance(value, list) and all(_has_type(member, items or "str", None) for member in value)
    if kind == "int" and isinstance(value, bool):
        return False
    return isinstance(value, simple[kind])


def effective_options(
    scripts: Mapping[str, OptionScript], overrides: Mapping[str, Any] | None = None, sources: Mapping[str, str] | None = None
) -> EffectiveOptions:
    """Every declared variable with its value in force; `overrides` come from `--set` (or `sources` says whence)."""
    values: dict[str, OptionValue] = {}
    for script in scripts.values():
        for name, variable in script.variables.items():
            if overrides and name in overrides:
                values[name] = OptionValue(variable, overrides[name], (sources or {}).get(name, SET_ON_COMMAND_LINE))
            elif variable.has_value and variable.value_location is not None:
                where = variable.value_location
                values[name] = OptionValue(variable, variable.value, f"{where.file}:{where.line}")
            else:
                values[name] = OptionValue(variable, variable.default, DEFAULT)
    return EffectiveOptions(values)


def recorded_options(scripts: Mapping[str, OptionScript], stored: str | None) -> EffectiveOptions:
    """The options a batch ran with, from its row's `options` (`--set` included; a variable no longer
    declared is dropped), else (no row) those in force."""
    if stored is None:
        return effective_options(scripts)
    return effective_options(scripts, *recorded_overrides(scripts, stored))


def recorded_overrides(scripts: Mapping[str, OptionScript], stored: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The values and sources of a batch row's `options`, as `effective_options` takes them (a
    variable no longer declared is dropped): to run the batch again with what it ran with."""
    declared = {name for script in scripts.values() for name in script.variables}
    kept = {name: value for name, value in json.loads(stored).items() if name in declared}
    return {n: v["value"] for n, v in kept.items()}, {n: v["source"] for n, v in kept.items()}


def parse_sets(items: Iterable[str], scripts: Mapping[str, OptionScript]) -> dict[str, Any]:
    """Parse `VAR=VALUE` items (VALUE as YAML flow), checked against each variable's type."""
    variables = {name: var for script in scripts.values() for name, var in script.variables.items()}
    parsed: dict[str, Any] = {}
    for item in items:
        name, equals, text = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise UsageError(f"--set {item!r}: expected VAR=VALUE")
        if name not in variables:
            from engine.diagnostics import did_you_mean

            raise UsageError(f"--set {name}: unknown option variable{did_you_mean(name, variables)}")
        from engine.definitions.load import load_text  # YAML is imported only when there is a --set

        document, problems = load_text(text, "--set")
        if problems or document is None:
            raise UsageError(f"--set {name}: {text!r} is not a YAML value")
        problem = type_problem(variables[name], document.data)
        if problem:
            code, detail = problem.split(":", 1)
            want = {"E402": f"one of {detail}", "E405": detail}.get(code, f"of type {detail}")
            raise UsageError(f"--set {name}: {document.data!r} is not {want}")
        parsed[name] = document.data
    return parsed


def values_of(variable: Variable) -> tuple[Any, ...] | None:
    """The values to try for a variable: false then true, or the enumerated ones in order; None if not enumerable."""
    if variable.type == "bool":
        return (False, True)
    if variable.type == "list":
        return None
    return variable.allowed


def declared_options(process: Process, scripts: Mapping[str, OptionScript]) -> dict[str, Variable]:
    """The option variables of the scripts a process reads."""
    return {name: var for script in process.options if script in scripts for name, var in scripts[script].variables.items()}


def build_script(document: Document) -> OptionScript:
    """The OptionScript of a document that passed validation."""
    data = document.data
    script = data["script"]
    variables = {}
    for name, spec in data["variables"].items():
        path = ("variables", name)
        variables[name] = Variable(
            name=name,
            script=script,
            option=spec["option"],
            description=spec["description"],
            type=spec["type"],
            items=spec.get("items"),
            default=spec["default"],
            values=tuple(ValueOutcome(entry["value"], entry["outcome"]) for entry in spec.get("values", ())),
            outcome=spec.get("outcome"),
            value=spec.get("value"),
            has_value="value" in spec,
            location=document.key_at(path),
            value_location=document.at((*path, "value")) if "value" in spec else None,
            min=spec.get("min"),
            max=spec.get("max"),
        )
    return OptionScript(script, text_of(data.get("package")), text_of(data.get("description")), variables, document)
