"""The shape of every file kind, as cerberus schemas: each key of each kind declared once."""

from __future__ import annotations

from typing import Any

NAME = r"[A-Za-z][A-Za-z0-9_]*"
Schema = dict[str, Any]


def _text(required: bool = True) -> Schema:
    return {"type": "string", "required": required, "empty": False}


def _texts(required: bool = False) -> Schema:
    return {"type": "list", "required": required, "schema": {"type": "string", "empty": False}}


def _by_name(entry: Schema, required: bool = False) -> Schema:
    """A non-empty mapping from names to mappings of the shape `entry` (triggers, states, roles, ...)."""
    return {"type": "dict", "required": required, "empty": False, "keysrules": {"type": "string", "regex": NAME},
            "valuesrules": {"type": "dict", "schema": entry}}  # fmt: skip


def _names(required: bool = False) -> Schema:
    """One name or a list of names (sources of a transition)."""
    return {"type": ["string", "list"], "required": required, "empty": False, "schema": {"type": "string"}}


#: An effect entry: a mapping whose kind key names its kind; its keys are checked by its kind's
#: schema (engine.effects, in engine.definitions.validate).
EFFECT: Schema = {"type": "dict", "allow_unknown": True}

TRANSITION: Schema = {
    "trigger": {**_text(), "regex": NAME},
    "source": _names(required=True),
    "dest": _text(),
    "guard": _text(required=False),
    # the external call whose answer the guards of this transition decide on: CONNECTOR.OPERATION
    "invoke": _text(required=False),
    "effects": {"type": "list", "schema": EFFECT},
}

#: A card field a card-creating process declares (engine.definitions.fields).
FIELD: Schema = {
    "type": {"type": "string", "required": True, "allowed": ["date", "datetime", "string", "integer", "boolean"]},
    "values": {"type": "list", "empty": False, "schema": {"type": ["string", "integer", "boolean"]}},
    "description": _text(),
}

#: A timer on a state (engine.definitions.timers): after an ISO 8601 duration in the state, it fires a
#: trigger; with `every`, again each period, at most `max` times in all.
TIMER: Schema = {
    "after": _text(required=False),
    # or at a date field of the card, moved by an ISO 8601 duration (`-P60D`: 60 days before)
    "at": {**_text(required=False), "regex": NAME},
    "offset": _text(required=False),
    # or, with `at`: whole days before the date, one or a list (`options.Days`): due at each
    "before": {"type": ["string", "integer", "list"], "required": False, "empty": False, "schema": {"type": "integer", "min": 0}},
    # what it does: fire a trigger a transition takes from the state, or run its own effects in the state
    "fire": {**_text(required=False), "regex": NAME},
    "effects": {"type": "list", "empty": False, "schema": EFFECT},
    "every": _text(required=False),
    "max": {"type": "integer", "min": 1},
    "working_days": {"type": "boolean"},
    "description": _text(required=False),
}

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: calendar.yaml: the workspace's business days (engine.definitions.calendar).
CALENDAR: Schema = {
    "calendar": {
        "type": "dict",
        "required": True,
        "schema": {
            "weekend": {"type": "list", "schema": {"type": "string", "allowed": list(WEEKDAYS)}},
            "holidays": {"type": "list", "schema": {"type": ["string", "date"]}},
            "country": {"type": "string", "regex": "[A-Z]{2,3}"},
        },
    }
}

STATE: Schema = {
    "initial": {"type": "boolean"},
    "final": {"type": "boolean"},
    "handover": _text(required=False),
    # a card in this state needs a person (`cardflow incidents`): what they do about it
    "incident": _text(required=False),
    "description": _text(),
    "timers": {"type": "list", "empty": False, "schema": {"type": "dict", "schema": TIMER}},
}

BUREAU_STATUSES = ("in_production", "produced", "failed")

TRIGGER: Schema = {
    "description": _text(),
    "reason": {"type": "string", "allowed": ["none", "optional", "required"]},
    # fired by the order-status sync when the card bureau reports this status of the card's order
    "bureau_status": {"type": "string", "allowed": list(BUREAU_STATUSES)},
    # what a reason given with it is for and where it goes: the help of `cardflow TRIGGER --reason`
    "reason_hint": _text(required=False),
    # the console's button for it where a process offers several triggers, and that label in Swedish
    "label": _text(required=False),
    "sv": _text(required=False),
}

#: The console's second language: a workspace text may carry its Swedish variant under `sv`.
PREREQUISITE: Schema = {"rule": _text(), "message": _text(), "sv": _text(required=False)}

PROCESS_SV: Schema = {"name": _text(required=False), "description": _text(required=False)}

PRODUCTION_TYPE: Schema = {"choices": _text(), "selectable": _text()}

PROCESS: Schema = {
    "symbolic_name": {**_text(), "regex": NAME},
    "name": _text(),
    "package": _text(),
    "component": _text(),
    "start": _text(),
    "description": _text(),
    "outcome": {**_texts(required=True), "empty": False},
    "kind": {"type": "string", "required": True, "allowed": ["batch", "action"]},
    # a role of roles.yaml, or `any` / `system` (checked with the roles: engine.definitions.check)
    "actor": _text(),
    "options": _texts(),
    "acts_on": _texts(),
    # the trigger that creates a card of this batch process (default: the one leaving the initial state)
    "creates": {"type": "string", "empty": False, "regex": NAME},
    "triggers": _by_name(TRIGGER, required=True),
    "production_type": {"type": "dict", "schema": PRODUCTION_TYPE},
    # an expression, or {group, when}: checked by engine.definitions.exclusive (E250, E251)
    "exclusive": {"nullable": False},
    "prerequisites": {"type": "list", "schema": {"type": "dict", "schema": PREREQUISITE}},
    "states": _by_name(STATE),
    "transitions": {"type": "list", "empty": False, "schema": {"type": "dict", "schema": TRANSITION}},
    # the typed fields of its cards, which `set` effects give values and expressions read as card.NAME
    "fields": _by_name(FIELD),
    "sv": {"type": "dict", "empty": False, "schema": PROCESS_SV},
    # the shared lifecycle (lifecycles/NAME.yaml) its triggers, states, transitions and fields come from
    "lifecycle": {"type": "string", "empty": False, "regex": NAME},
    # the names it was known by before (commands, the API, scenarios and stored rows still find it by them)
    "aliases": {"type": "list", "empty": False, "schema": {"type": "string", "regex": NAME}},
}

#: lifecycles/NAME.yaml: the states, transitions, triggers and card fields of the processes that name
#: it (engine.definitions.lifecycles).
LIFECYCLE: Schema = {
    "lifecycle": {**_text(), "regex": NAME},
    "description": _text(),
    "includes": {"type": "list", "empty": False, "schema": {**_text(), "regex": NAME}},
    "triggers": _by_name(TRIGGER),
    "states": _by_name(STATE, required=True),
    "transitions": {"type": "list", "required": True, "empty": False, "schema": {"type": "dict", "schema": TRANSITION}},
    "fields": _by_name(FIELD),
}

VALUE_OUTCOME: Schema = {"value": {"required": True, "nullable": False}, "outcome": _text()}

VARIABLE: Schema = {
    "option": _text(),
    "description": _text(),
    "type": {"type": "string", "required": True, "allowed": ["bool", "str", "int", "list"]},
    "items": {"type": "string", "allowed": ["str", "int"]},
    # the least and the most an int (or each int of a list) may be
    "min": {"type": "integer"},
    "max": {"type": "integer"},
    "default": {"required": True, "nullable": False},
    "values": {"type": "list", "empty": False, "schema": {"type": "dict", "schema": VALUE_OUTCOME}},
    "outcome": _text(required=False),
    "value": {"nullable": False},
}

OPTION_SCRIPT: Schema = {
    "script": {**_text(), "regex": NAME},
    "package": _text(),
    "description": _text(),
    "variables": _by_name(VARIABLE, required=True),
}

SCENARIO_USER: Schema = {
    "id": {"type": ["string", "integer"], "required": True},
    "name": _text(),
    "email": _text(),
    "state": _text(),
    "roles": {"type": "list", "schema": {"type": "string"}},  # the workspace's roles, checked as `users import` does
}

SCENARIO_CARD: Schema = {
    "user": _text(),
    "process": _text(),
    "state": _text(),
    "requester": _text(required=False),
    "production_type": _text(required=False),
}

_REFS = {"type": "list", "empty": False, "schema": {"type": ["string", "integer"]}}
#: The keys of a scenario step. Its action is one of STEP_ACTIONS or a key naming a trigger that an
#: action process of the workspace lets a person fire (`TRIGGER: [cards]`, shaped as `cards`); such
#: keys are unknown to this schema and checked against the workspace (engine/testing/steps.py).
STEP: Schema = {
    "run": _text(required=False),
    "queue": {"type": "string", "allowed": ["run"]},
    "orders": {"type": "string", "allowed": ["sync"]},
    # the scenario's clock moves on by an ISO 8601 duration, firing the timers that fall due on the way
    "advance": _text(required=False),
    # with `orders: sync`: the order status the bureau reports per user (failed ones take `reason`)
    "status": {
        "type": "dict",
        "keysrules": {"type": "string"},
        "valuesrules": {"type": "string", "allowed": ["ordered", "in_production", "produced", "failed"]},
    },
    "as": _text(required=False),
    "users": {"type": "list", "empty": False, "schema": {"type": ["string", "integer"]}},
    "cards": _REFS,
    "all": {"type": "boolean"},
    "where": _text(required=False),
    "trigger": {**_text(required=False), "regex": NAME},
    "production_type": _text(required=False),
    "reason": _text(required=False),
    "fail": {"type": "list", "schema": {"type": ["string", "integer"]}},
    "limit": {"type": "integer", "min": 1},
    "set": {"type": "dict", "keysrules": {"type": "string", "regex": NAME}},
    "refused": {"type": "boolean"},
}
STEP_ACTIONS = ("run", "queue", "orders", "advance")

EXPECT_EMAIL: Schema = {"template": _text(), "to": _text()}

SCENARIO: Schema = {
    "name": _text(),
    # when the scenario starts (ISO 8601; default engine.testing.scenario.SCENARIO_TIME)
    "now": {"type": "string", "regex": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"},
    "description": _text(required=False),
    "users": {
        "type": "list",
        "required": True,
        "empty": False,
        "schema": {"type": "dict", "schema": SCENARIO_USER, "allow_unknown": True},
    },
    "cards": {"type": "list", "schema": {"type": "dict", "schema": SCENARIO_CARD}},
    "options": {"type": "dict", "keysrules": {"type": "string", "regex": NAME}},
    "steps": {
        "type": "list",
        "required": True,
        "empty": False,
        "schema": {"type": "dict", "schema": STEP, "allow_unknown": True},
    },
    "expect": {
        "type": "dict",
        "schema": {
            "cards": {"type": "dict", "valuesrules": {"type": "list", "schema": {"type": "string"}}},
            # per user, card fields of their newest card and the values expected (others are not compared)
            "fields": {"type": "dict", "valuesrules": {"type": "dict", "keysrules": {"type": "string", "regex": NAME}}},
            "emails": {"type": "list", "schema": {"type": "dict", "schema": EXPECT_EMAIL}},
        },
    },
}

ROLE: Schema = {
    "description": _text(),
    "sv": _text(required=False),  # the description in Swedish, for the console
    "system": {"type": "boolean"},  # the role the system's own processes run as (at most one)
}

ROLES: Schema = {
    "roles": _by_name(ROLE, required=True),
}

SCHEDULED_JOB: Schema = {"schedule": _text(), "description": _text(required=False)}

SCHEDULE: Schema = {
    "jobs": {
        "type": "dict",
        "required": True,
        # a command (engine.definitions.schedule.COMMAND_JOBS) or a process the system runs, checked by name
        "keysrules": {"type": "string", "regex": r"[A-Za-z][A-Za-z0-9_-]*"},
        "valuesrules": {"type": "dict", "schema": SCHEDULED_JOB},
    },
}

#: One operation of a connector: what it is for, and what its call sends (fields of the card and its holder).
CONNECTOR_OPERATION: Schema = {
    "description": _text(required=False),
    "sends": {
        "type": "dict",
        "keysrules": {"type": "string", "allowed": ["card", "holder"]},
        "valuesrules": {"type": "list", "empty": False, "schema": {"type": "string", "regex": NAME}},
    },
}

#: An environment variable's name, or several tried in order.
_ENVIRONMENT = {
    "type": ["string", "list"],
    "regex": r"[A-Za-z_][A-Za-z0-9_]*",
    "empty": False,
    "schema": {"type": "string", "regex": r"[A-Za-z_][A-Za-z0-9_]*"},
}

CONNECTOR: Schema = {
    "kind": _text(),  # checked against engine.definitions.connector_kinds.KINDS, with a close name
    "description": _text(),
    "settings": {"type": "dict", "keysrules": {"type": "string", "regex": NAME}, "valuesrules": _ENVIRONMENT},
    "operations": _by_name(CONNECTOR_OPERATION, required=True),
}

CONNECTORS: Schema = {
    "connectors": _by_name(CONNECTOR, required=True),
}

#: release.yaml: where a release moves the open cards it would strand, per process {state gone: state}.
RELEASE: Schema = {
    "moves": {
        "type": "dict",
        "required": True,
        "keysrules": {"type": "string", "regex": NAME},
        "valuesrules": {
            "type": "dict",
            "empty": False,
            "keysrules": {"type": "string", "regex": NAME},
            "valuesrules": {"type": "string", "regex": NAME},
        },
    },
}

#: Keys a batch process must have, and keys an action process must not have (and the reverse).
KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "batch": (("states", "transitions"), ("acts_on",)),
    "action": (("acts_on",), ("states", "transitions", "production_type", "exclusive", "creates", "fields", "lifecycle")),
}

#: Top-level keys that only describe; a problem in them does not stop the checks of meaning.
DESCRIPTIVE: dict[str, frozenset[str]] = {
    "process": frozenset({"name", "package", "component", "start", "description"}),
    "scenario": frozenset({"name", "description"}),
    "option_script": frozenset({"package", "description"}),
    "lifecycle": frozenset({"description"}),
    "schedule": frozenset(),
    "roles": frozenset(),
    "connectors": frozenset(),
    "release": frozenset(),
}
