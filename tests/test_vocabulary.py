"""One vocabulary: the schemas and the dataclasses declare the same keys."""

from __future__ import annotations

import dataclasses

import pytest

from engine import effects
from engine.definitions import model, schemas
from engine.definitions.model import CardField
from engine.effects import email, fire

#: Dataclass fields that are derived or bookkeeping, not keys of the YAML.
DERIVED: dict[type, set[str]] = {
    model.Process: {"document"},
    model.Transition: {"index", "location"},
    model.State: {"name", "location"},
    model.Trigger: {"name", "location"},
    email.Email: {"location", "role"},  # `role` is the name under `to: {role: NAME}`
    fire.Fire: {"location"},
    CardField: {"name", "location"},
    model.Variable: {"name", "script", "has_value", "location", "value_location"},
    model.OptionScript: {"document"},
}


@pytest.mark.parametrize(
    "schema, cls",
    [
        (schemas.PROCESS, model.Process),
        (schemas.TRANSITION, model.Transition),
        (schemas.STATE, model.State),
        (schemas.TRIGGER, model.Trigger),
        (effects.schema_of("email"), email.Email),
        (effects.schema_of("fire"), fire.Fire),
        (schemas.FIELD, CardField),
        (schemas.PREREQUISITE, model.Prerequisite),
        (schemas.PRODUCTION_TYPE, model.ProductionType),
        (schemas.VARIABLE, model.Variable),
        (schemas.VALUE_OUTCOME, model.ValueOutcome),
        (schemas.OPTION_SCRIPT, model.OptionScript),
    ],
    ids=lambda item: getattr(item, "__name__", ""),
)
def test_schema_and_dataclass_agree(schema: dict[str, object], cls: type) -> None:
    """Every schema key is a dataclass field and every non-derived field is a schema key."""
    fields = {field.name for field in dataclasses.fields(cls)} - DERIVED.get(cls, set())
    assert set(schema) == fields
