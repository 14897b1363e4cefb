"""Option scripts (rules/<script>.yaml) as typed data: each variable as the vendor documents it,
plus the administrator's `value:` if set (`engine.definitions.model` names them too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.definitions.document import Document
from engine.diagnostics import Location


@dataclass(frozen=True)
class ValueOutcome:
    """What one value of an option variable does."""

    value: Any
    outcome: str


@dataclass(frozen=True)
class Variable:
    """An option variable as the vendor documents it, plus the administrator's `value:` if set."""

    name: str
    script: str
    option: str
    description: str
    type: str
    items: str | None
    default: Any
    values: tuple[ValueOutcome, ...]
    outcome: str | None
    value: Any
    has_value: bool
    location: Location
    value_location: Location | None

    @property
    def allowed(self) -> tuple[Any, ...] | None:
        """The values an option may take, when the script enumerates them."""
        if self.type == "bool":
            return (True, False)
        return tuple(entry.value for entry in self.values) or None


@dataclass(frozen=True)
class OptionScript:
    """An option script (rules/<script>.yaml) and its variables."""

    script: str
    package: str
    description: str
    variables: dict[str, Variable]
    document: Document = field(repr=False, compare=False)


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
        )
    return OptionScript(script, text_of(data.get("package")), text_of(data.get("description")), variables, document)


def text_of(value: Any) -> str:
    """Descriptive text as a string, even when validation already reported it as missing or wrong."""
    return value if isinstance(value, str) else ""
