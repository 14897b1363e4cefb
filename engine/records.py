"""The runtime's records, declared once: each field of a card, a user, a batch and an email context,
with its type, the store column it comes from, and who may read it.

Each record is a TypedDict (so mypy knows its fields) whose annotations mark a field's column
(`Stored`) and its readers: expressions (guards, prerequisites and `--where`), email templates,
the JSON of the command line and the API. The store's column lists, what `check` and `templates`
accept, the views expressions and emails get (`engine.store.views`) and the JSON of `cards` and
`batches` (`engine.report.listings`, for the command line and the API) and of `users list` derive
from here. A column of a record's table is either a field's or named in `internal`
(tests/test_records.py keeps the tables, the views, the email contexts and the JSON in step).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

#: Where a field may be read: expressions (guards, prerequisites, `--where`) or email templates.
Place = Literal["expressions", "templates"]


class Reader(enum.Enum):
    """Who reads a field, and whether the JSON leaves it out when it is empty: marks in a record's annotations."""

    EXPRESSIONS = "expressions"  # guards, prerequisites and `--where`
    TEMPLATES = "templates"  # email templates
    JSON = "json"  # the JSON of the command line and the API
    OPTIONAL = "optional"  # in the JSON only when it has a value


EXPRESSIONS, TEMPLATES, JSON, OPTIONAL = Reader


@dataclass(frozen=True)
class Stored:
    """The column of its record's table a field is kept in."""

    column: str


class Unanswered(TypedDict):
    """A card's orders the bureau left unanswered: how many, the last one's time and error."""

    unanswered: int
    last_at: str
    last_error: str


class Progress(TypedDict):
    """A batch worked by workers: the users of its chunks done, out of all its users."""

    done: int
    users: int


class User(TypedDict, total=False):
    """A user, with any attribute the users file gave it (department, ...) besides these."""

    id: Annotated[str, Stored("id"), EXPRESSIONS, TEMPLATES, JSON]
    name: Annotated[str, Stored("name"), EXPRESSIONS, TEMPLATES, JSON]
    email: Annotated[str, Stored("email"), EXPRESSIONS, TEMPLATES, JSON]
    state: Annotated[str, Stored("state"), EXPRESSIONS, JSON]
    roles: Annotated[list[str], Stored("roles"), EXPRESSIONS, JSON]
    open_cards: Annotated[int, EXPRESSIONS]  # counted by a run, for guards that limit open cards
    locale: Annotated[str | None, TEMPLATES]  # an attribute; emails pick their language by it


class Card(TypedDict, total=False):
    """A card."""

    id: Annotated[int, Stored("id"), EXPRESSIONS, TEMPLATES, JSON]
    user: Annotated[str, Stored("user_id"), EXPRESSIONS, TEMPLATES, JSON]
    process: Annotated[str, Stored("process"), EXPRESSIONS, TEMPLATES, JSON]
    state: Annotated[str, Stored("state"), EXPRESSIONS, TEMPLATES, JSON]
    requester: Annotated[str, Stored("requester"), EXPRESSIONS, TEMPLATES]
    # who made the request the card waits on: the actor of the move into its state (a new card: its creator)
    requested_by: Annotated[str | None, Stored("requested_by"), EXPRESSIONS, TEMPLATES, JSON]
    production_type: Annotated[str | None, Stored("production_type"), EXPRESSIONS, TEMPLATES, JSON]
    batch: Annotated[str, Stored("batch_id"), EXPRESSIONS, TEMPLATES, JSON]
    created_at: Annotated[str, Stored("created_at"), JSON]
    updated_at: Annotated[str, Stored("updated_at"), JSON]
    holder: Annotated[User, TEMPLATES]  # the holder as a person, in emails
    # the values of the card fields its lifecycle declares (engine.definitions.fields); expressions
    # and templates read each as card.NAME
    fields: Annotated[dict[str, Any], Stored("fields"), JSON]
    bureau: Annotated[Unanswered, JSON, OPTIONAL]


class Batch(TypedDict, total=False):
    """A batch: a process run for users, or over cards."""

    id: Annotated[str, Stored("id"), EXPRESSIONS, TEMPLATES, JSON]
    process: Annotated[str, Stored("process"), EXPRESSIONS, JSON]
    actor: Annotated[str, Stored("actor"), EXPRESSIONS, JSON]
    production_type: Annotated[str | None, Stored("production_type"), EXPRESSIONS]
    status: Annotated[str, Stored("status"), JSON]
    created: Annotated[int, Stored("created"), JSON]
    skipped: Annotated[int, Stored("skipped"), JSON]
    created_at: Annotated[str, Stored("created_at"), JSON]
    # a run over cards: the trigger it fires and the reason given (None for a batch for users)
    trigger: Annotated[str | None, Stored("trigger"), JSON]
    reason: Annotated[str | None, Stored("reason"), JSON]
    paused_by: Annotated[str | None, Stored("paused_by"), JSON]  # who paused it, while it is paused
    progress: Annotated[Progress | None, JSON]  # None for a batch run by `run` alone


class ProcessView(TypedDict, total=False):
    """A process as an email names it."""

    symbolic_name: Annotated[str, TEMPLATES]
    name: Annotated[str, TEMPLATES]


@dataclass(frozen=True)
class Field:
    """One field of a record, read from its annotation: its name, its type, its column (None: not
    in the record's table), and whether expressions, templates and the JSON read it."""

    name: str
    type: Any
    column: str | None = None
    nullable: bool = False
    expressions: bool = False
    templates: bool = False
    json: bool = False
    optional: bool = False  # in the JSON only when it has a value

    @property
    def kind(self) -> type:
        """The class of its values (a list, a mapping for a nested record), None aside."""
        found = next(arg for arg in get_args(self.type) if arg is not NoneType) if self.nullable else self.type
        origin = get_origin(found)
        return dict if is_typeddict(found) else origin if isinstance(origin, type) else found


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


def _fields(declared: type) -> tuple[Field, ...]:
    """The fields of a TypedDict declared with `Annotated[type, Stored(column)?, readers...]`."""
    found = []
    for name, hint in get_type_hints(declared, include_extras=True).items():
        kind, *marks = get_args(hint) if hasattr(hint, "__metadata__") else (hint,)
        column = next((mark.column for mark in marks if isinstance(mark, Stored)), None)
        nullable = get_origin(kind) in (Union, UnionType) and NoneType in get_args(kind)
        readers = {mark.value: True for mark in marks if isinstance(mark, Reader)}
        found.append(Field(name, kind, column, nullable, **readers))
    return tuple(found)


# open, its exclusivity key, and whether it waits in a state with timers with none armed (for the incidents)
CARD = Record("card", "cards", _fields(Card), internal=frozenset({"open", "open_key", "timerless"}))
USER = Record(
    "user",
    "users",
    _fields(User),
    internal=frozenset({"updated_at", "folded_name", "folded_department"}),  # import time, search columns
    attributes="attributes",
)
# internal: what a resumed batch must match (options, definitions, selection), and when it ended
BATCH = Record("batch", "batches", _fields(Batch), internal=frozenset({"options", "fingerprint", "selection", "finished_at"}))
PROCESS = Record("process", None, _fields(ProcessView))

#: The variables of an email context, by kind of recipient: `reason` where a person's decision gives one.
#: A person (holder, requester, actor) gets an email about one card; a group (the approvers, a role)
#: one per batch and template, listing its cards.
EMAIL_CONTEXT: dict[str, tuple[str, ...]] = {
    "holder": ("recipient", "holder", "requester", "card", "process", "batch", "reason"),
    "requester": ("recipient", "holder", "requester", "card", "process", "batch", "reason"),
    "actor": ("recipient", "holder", "requester", "card", "process", "batch", "reason"),
    "approvers": ("recipient", "requester", "process", "batch", "cards"),
    "role": ("recipient", "requester", "process", "batch", "cards"),
}
#: The recipients whose email lists the cards of a batch (one email per batch, template and person).
GROUP_RECIPIENTS = frozenset({"approvers", "role"})
#: What a person (recipient, holder, requester) is in an email context: a user as templates read it.
EMAIL_PERSONS = frozenset({"recipient", "holder", "requester"})
#: Each card of an approvers' email: the card's id and production type, its holder as a person, and
#: the reason given with the step that put it before them (a deactivation's, say), else None.
APPROVAL_CARD = ("id", "holder", "production_type", "reason")

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
