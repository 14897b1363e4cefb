"""What an operator asks `cardflow run` for, and the checks made before any card: who acts, which
users, which production type. Nothing here writes; `engine.batch.run` carries the request out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from engine.batch.card_filters import QUERY_FLAGS
from engine.clock import now
from engine.definitions.compared import never_compared
from engine.definitions.expressions import Compiled, ExpressionError, parse
from engine.definitions.model import Process
from engine.definitions.options import EffectiveOptions
from engine.diagnostics import did_you_mean
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Connector, Simulated
from engine.records import readable_fields
from engine.store import db, listing, queries
from engine.store.queries import Row
from engine.store.users import USER_STATES


@dataclass(frozen=True)
class Selection:
    """Which users a run is for: explicit ids, everyone, or those matching an expression."""

    users: tuple[str, ...] = ()
    all: bool = False
    where: str | None = None

    def describe(self) -> Row:
        return {"users": list(self.users), "all": self.all, "where": self.where}


@dataclass(frozen=True)
class RunRequest:
    """Everything an operator gives `cardflow run`."""

    process: str
    actor: str
    selection: Selection
    overrides: Mapping[str, Any] = field(default_factory=dict)
    production_type: str | None = None
    batch_id: str | None = None
    dry_run: bool = False
    strict: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)


MAX_BATCH_ID = 100


def run_bureau(dry_run: bool, connector: Connector) -> Connector:
    """The bureau a run orders from: a dry run's is simulated (it orders nothing), whoever calls."""
    return Simulated() if dry_run else connector


def check_batch_id(batch_id: str | None) -> None:
    """A batch id names files (orders/) and rows: printable, no path separators, no leading dot."""
    if batch_id is None:
        return
    bad = not batch_id.strip() or not batch_id.isprintable() or "/" in batch_id or "\\" in batch_id
    if bad or batch_id.startswith(".") or len(batch_id) > MAX_BATCH_ID:
        raise UsageError(
            f"--batch-id {batch_id!r}: a batch id is 1 to {MAX_BATCH_ID} printable characters, "
            "without '/' or '\\' and not starting with '.' (e.g. B-2026-05-sales)"
        )


def new_batch_id() -> str:
    """A batch id that sorts by time: B<date>-<time>-<random>."""
    stamp = now().replace("-", "").replace(":", "").replace("Z", "")
    return f"B{stamp.replace('T', '-')}-{os.urandom(2).hex()}"  # secrets.token_hex(2), without importing random


class Asked(Protocol):
    """What a run was asked for, as its batch row records it (a run over users or over cards)."""

    @property
    def batch_id(self) -> str | None: ...

    @property
    def selection(self) -> Any: ...


def batch_record(
    process: Process, actor: Row, options: EffectiveOptions, fingerprint: str, asked: Asked, production_type: str | None = None
) -> Row:
    """The batch row a run starts with (status running): who, the options in force with their
    sources, the workspace's fingerprint, and the selection it was asked for."""
    return {
        "id": asked.batch_id or new_batch_id(),
        "process": process.symbolic_name,
        "actor": actor["id"],
        "production_type": production_type,
        "options": queries.dumps({name: {"value": o.value, "source": o.source} for name, o in options.values.items()}),
        "fingerprint": fingerprint,
        "selection": queries.dumps(asked.selection.describe()),
        "status": "running",
        "created": 0,
        "skipped": 0,
        "created_at": now(),
        "finished_at": None,
    }


PLANNER: Row = {"id": "(plan)", "name": "cardflow plan", "email": "", "state": "active", "roles": ["operator"]}


def require_actor(connection: Connection, actor_id: str, role: str, what: str, *, planning: bool = False) -> Row:
    """The acting user, who must exist and hold `role` (unless the role is 'any'); a plan (`planning`:
    it writes nothing) may act as PLANNER, a run that writes only as a user of the store."""
    if planning and actor_id == PLANNER["id"]:
        return PLANNER
    actor = queries.users_by_id(connection, [actor_id]).get(actor_id)
    if actor is None:
        raise UsageError(f"--as {actor_id}: no such user in the store (import users first)")
    refuse_inactive(actor, "run batches")
    if role not in ("any", "system") and role not in actor["roles"]:
        raise Refused(f"{actor_id} does not have the {role} role needed for {what}")
    return actor


def refuse_inactive(actor: Row, doing: str) -> None:
    """Staff act only while active, as a card holder must be active to get a card (DOMAIN.md)."""
    if actor.get("state") != "active":
        raise Refused(f"{actor['id']} is {actor.get('state')}; an inactive user cannot {doing}")


def production_types(process: Process, options: EffectiveOptions) -> tuple[list[str], bool]:
    """The production types a batch of `process` may use under `options`, and whether the operator
    chooses one (else the first is used); ([], False) for a process without production types."""
    if process.production_type is None:
        return [], False
    scope = {"options": options.as_dict()}
    choices = [str(choice) for choice in parse(process.production_type.choices.text).evaluate(scope)[0] or []]
    return choices, bool(parse(process.production_type.selectable.text).evaluate(scope)[0])


def search_selection(name: str = "", department: str = "", state: str = "") -> Selection:
    """The users a console search found, as a selection a run can take: every user when no filter is
    given, else an expression with the search's meaning (a part of the name and a department in any
    case, as `engine.store.folding` compares them; a state)."""
    parts = []
    if name.strip():
        parts.append(f"{_literal(name.strip().lower())} in user.name | lower")
    if department.strip():
        parts.append(f"user.department | lower == {_literal(department.strip().lower())}")
    if state.strip():
        parts.append(f"user.state == {_literal(state.strip())}")
    return Selection(where=" and ".join(parts)) if parts else Selection(all=True)


def _literal(text: str) -> str:
    """A string literal of the expression language (Jinja's syntax) holding `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def settle_production_type(process: Process, options: EffectiveOptions, asked: str | None) -> str | None:
    """The production type of the batch, by the rules of DOMAIN.md; a wrong one is a usage error."""
    if process.production_type is None:
        if asked:
            raise UsageError(f"{process.symbolic_name} has no production types; drop --production-type")
        return None
    choices, selectable = production_types(process, options)
    if not choices:
        raise UsageError(f"{process.symbolic_name}: no production types are configured")
    if asked is None:
        return str(choices[0])
    if asked not in choices:
        raise UsageError(f"--production-type {asked}: not one of {', '.join(map(str, choices))}")
    if not selectable and asked != choices[0]:
        raise UsageError(f"--production-type {asked}: selecting a production type is off; cards use '{choices[0]}'")
    return asked


def selection_expression(where: str | None, roots: frozenset[str] = frozenset({"user"})) -> Compiled | None:
    """The parsed --where expression, which may read `roots` only (a selection of users: `user`)."""
    if where is None:
        return None
    try:
        expression = parse(where)
    except ExpressionError as error:
        from engine.diagnostics import CODES

        raise UsageError(f"--where: {CODES[error.code].format(**error.fields)}") from None
    if expression.roots - roots:
        readable = " and ".join(f"`{root}`" for root in sorted(roots))
        raise UsageError(f"--where may read {readable} only, not {', '.join(sorted(expression.roots - roots))}")
    return expression


#: What every user has, whatever the users file held: the columns, and what a run counts.
USER_FIELDS = readable_fields("user")


def check_where_attributes(connection: Connection, where: Compiled | None) -> None:
    """An attribute --where reads that no stored user has is a mistake (it would select nobody)."""
    if where is None:
        return
    for found in never_compared(where.source, "user", {"state": USER_STATES}):
        raise UsageError(f"--where: {found.said('user')}")
    for root, name in sorted(where.attributes):
        if root != "user" or name in USER_FIELDS or listing.users_have_attribute(connection, name):
            continue
        known = USER_FIELDS | listing.attribute_names(connection)
        raise UsageError(f"--where: no user in the store has the attribute 'user.{name}'{did_you_mean(name, known)}")


class Described(Protocol):
    """A selection (of users or of cards) as a batch row keeps it."""

    def describe(self) -> Row: ...


def check_resumable(existing: Row, process: str, fingerprint: str, selection: Described) -> None:
    """Resuming finishes a batch as it was started: same process, definitions, options and users."""
    if existing["process"] != process or existing["fingerprint"] != fingerprint:
        raise UsageError(
            f"batch {existing['id']} was started for {existing['process']} with other definitions or options; "
            "resume it with the same ones, or choose another --batch-id"
        )
    started = json.loads(existing["selection"])
    if started != selection.describe():
        raise Refused(
            f"batch {existing['id']} ({existing['status']}) was started for {_described(started)}, not "
            f"{_described(selection.describe())}; resuming finishes the original selection only: "
            "run it again with that selection, or choose another --batch-id"
        )


def _described(selection: Row) -> str:
    """A selection in the words of the command line."""
    if selection.get("users"):
        return " ".join(f"--user {user}" for user in selection["users"])
    if selection.get("cards"):
        return " ".join(f"--card {card}" for card in selection["cards"])
    if selection.get("query"):
        filters = " ".join(f"{QUERY_FLAGS[name]} {value!r}" for name, value in selection["query"].items())
        return filters + (f" --where {selection['where']!r}" if selection.get("where") else "")
    return "--all" if selection.get("all") else f"--where {selection.get('where')!r}"


def check_one_selection(noun: str, flag: str, ids: tuple[Any, ...], everyone: bool, where: str | None) -> None:
    """A run is for exactly one of: the `ids` named (`flag`, e.g. --user), all (--all), those matching --where."""
    if sum((bool(ids), everyone, where is not None)) != 1:
        raise UsageError(f"choose the {noun} with exactly one of {flag}, --all or --where")


def check_users_exist(connection: Connection, selection: Selection) -> None:
    if selection.users:
        found = queries.users_by_id(connection, selection.users)
        missing = [user for user in selection.users if user not in found]
        if missing:
            raise UsageError(f"unknown user(s): {', '.join(missing)}")


def count_selected(engine: Engine, selection: Selection) -> int | None:
    """How many users a selection may hold (for a progress bar), when cheap to know."""
    if selection.users:
        return len(set(selection.users))
    from engine.store.search import count_users

    with db.reading(engine) as connection:
        return count_users(connection)
