"""The runtime's records, declared once: each field of a card, a user, a batch and an email context,
with its type, the store column it comes from, and who may read it.

A field is read by expressions (guards, prerequisites and `--where`), by email templates, and is
in the JSON of the command line and the API, as its flags say; the store's column lists, what
`check` and `templates` accept, the views expressions and emails get (`engine.store.views`) and
the JSON of `cards` and `batches` (`engine.report.listings`, for the command line and the API)
and of `users list` derive from here.
A column of a record's table is either a field's or named in `internal` (tests/test_records.py
keeps the tables and this module in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

#: Where a field may be read: expressions (guards, prerequisites, `--where`) or email templates.
Place = Literal["expressions", "templates"]


@dataclass(frozen=True)
class Field:
    """One field of a record: its name where it is read, its type, its column (None: not in the
    record's table), and whether expressions, templates and the JSON read it."""

    name: str
    type: type
    column: str | None = None
    nullable: bool = False
    expressions: bool = False
    templates: bool = False
    json: bool = False
    optional: bool = False  # in the JSON only when it has a value


@dataclass(frozen=True)
class Record:
    """A record: its fields in JSON order, the store table it is kept in, the columns that are the
    store's own bookkeeping (`internal`) and the column of further attributes (`attributes`: a
    user's department, ...), which every reader may read and the JSON shows."""

    name: str
    table: str | None
    fields: tuple[Field, ...]
    internal: frozenset[str] = frozenset()
    attributes: str | None = None


def _everywhere(name: str, kind: type, column: str | None = None, *, nullable: bool = False) -> Field:
    """A field that expressions and templates read and the JSON shows."""
    return Field(name, kind, column or name, nullable, expressions=True, templates=True, json=True)


CARD = Record(
    "card",
    "cards",
    (
        _everywhere("id", int),
        _everywhere("user", str, "user_id"),
        _everywhere("process", str),
        _everywhere("state", str),
        Field("requester", str, "requester", expressions=True, templates=True),
        _everywhere("production_type", str, nullable=True),
        _everywhere("batch", str, "batch_id"),
        Field("created_at", str, "created_at", json=True),
        Field("updated_at", str, "updated_at", json=True),
        Field("holder", dict, templates=True),  # the holder as a person, in emails
        Field("bureau", dict, json=True, optional=True),  # orders the bureau left unanswered: how many, the last error
    ),
    internal=frozenset({"open", "open_key"}),  # whether it is open, and the exclusivity key built from it
)

USER = Record(
    "user",
    "users",
    (
        _everywhere("id", str),
        _everywhere("name", str),
        _everywhere("email", str),
        Field("state", str, "state", expressions=True, json=True),
        Field("roles", list, "roles", expressions=True, json=True),
        Field("open_cards", int, expressions=True),  # counted by a run, for guards that limit open cards
        Field("locale", str, nullable=True, templates=True),  # an attribute; emails pick their language by it
    ),
    internal=frozenset({"updated_at", "folded_name", "folded_department"}),  # import time, search columns
    attributes="attributes",
)

BATCH = Record(
    "batch",
    "batches",
    (
        _everywhere("id", str),
        Field("process", str, "process", expressions=True, json=True),
        Field("actor", str, "actor", expressions=True, json=True),
        Field("production_type", str, "production_type", nullable=True, expressions=True),
        Field("status", str, "status", json=True),
        Field("created", int, "created", json=True),
        Field("skipped", int, "skipped", json=True),
        Field("created_at", str, "created_at", json=True),
        Field("progress", dict, nullable=True, json=True),  # workers' batches: users of chunks done / all
    ),
    # what a resumed batch must match (options, definitions, selection), and when it ended
    internal=frozenset({"options", "fingerprint", "selection", "finished_at"}),
)

PROCESS = Record(
    "process",
    None,
    (Field("symbolic_name", str, templates=True), Field("name", str, templates=True)),
)

#: The variables of an email context, by kind of recipient: `reason` where a person's decision gives one.
EMAIL_CONTEXT: dict[str, tuple[str, ...]] = {
    "holder": ("recipient", "holder", "requester", "card", "process", "batch", "reason"),
    "requester": ("recipient", "holder", "requester", "card", "process", "batch", "reason"),
    "approvers": ("recipient", "requester", "process", "batch", "cards"),
}
#: What a person (recipient, holder, requester) is in an email context: a user as templates read it.
EMAIL_PERSONS = frozenset({"recipient", "holder", "requester"})
#: Each card of an approvers' email: the card's id and production type, its holder as a person.
APPROVAL_CARD = ("id", "holder", "production_type")

RECORDS = {record.name: record for record in (CARD, USER, BATCH, PROCESS)}


def readable_fields(record: str, place: Place = "expressions") -> frozenset[str]:
    """The fields of `record` that `place` may read: expressions (guards, prerequisites, `--where`)
    or templates. A user's attributes come on top (see `Record.attributes`)."""
    return frozenset(field.name for field in RECORDS[record].fields if getattr(field, place))


def json_fields(record: str) -> tuple[str, ...]:
    """The fields of `record` in the JSON of the command line and the API, in their order."""
    return tuple(field.name for field in RECORDS[record].fields if field.json)


def json_columns(record: str) -> tuple[str, ...]:
    """The store columns the JSON of `record` is read from, in field order, then the attributes column (if any)."""
    found = RECORDS[record]
    columns = tuple(field.column for field in found.fields if field.json and field.column)
    return (*columns, found.attributes) if found.attributes else columns


def json_names(record: str) -> tuple[str, ...]:
    """The names of the JSON fields of `record` read from columns, in the order of `json_columns`."""
    return tuple(field.name for field in RECORDS[record].fields if field.json and field.column)


@cache
def _json_derived(record: str) -> tuple[tuple[str, bool], ...]:
    return tuple((field.name, field.optional) for field in RECORDS[record].fields if field.json and not field.column)


def json_row(record: str, stored: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The JSON of `record` from `stored`, a row of `json_columns` named by `json_names`: the JSON
    fields no column holds are added from `values`, an optional one only when it has a value."""
    for name, optional in _json_derived(record):
        value = values.get(name)
        if value is not None or not optional:
            stored[name] = value
    return stored
