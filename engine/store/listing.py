"""The read side: cards, emails, users and batches listed page by page, only the columns shown.

Each listing is a keyset walk (`id > last id seen`, in id order, a page at a time) on one read
connection, so memory stays flat however many rows the store holds, and every page is an index
search (tests/test_listing.py asks SQLite's query planner). `limit` and `offset` choose a window.
Every listing reads by `Reads` (`engine.store.prepared`): this module imports SQLAlchemy only
to build a statement, so the listing commands on an SQLite store run without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.records import json_columns, json_fields, json_names
from engine.store.prepared import Reads, reads
from engine.store.user_rows import user_record

if TYPE_CHECKING:
    from sqlalchemy import Connection

Row = dict[str, Any]

#: Rows per page: small enough to keep memory flat, big enough that a page costs little more than its rows.
PAGE = 1000

#: The columns each listing reads: those its record's JSON shows (`engine.records`), each row named
#: by the JSON's field names (`user` for `user_id`, ...).
CARD_COLUMNS = json_columns("card")
_CARD_FIELDS = json_names("card")
OUTBOX_COLUMNS = (
    "id",
    "template",
    "recipient",
    "subject",
    "status",
    "card_id",
    "batch_id",
    "message_id",
    "attempts",
    "error",
    "next_attempt_at",
    "history",
)
BATCH_COLUMNS = json_columns("batch")
_BATCH_FIELDS = json_names("batch")
_USER_COLUMNS = json_columns("user")  # and the attributes column, spread by `user_record`


def cards(
    source: Connection | Reads,
    *,
    user: str | None = None,
    state: str | None = None,
    process: str | None = None,
    batch: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    page: int = PAGE,
) -> Iterator[Row]:
    """Cards matching every given filter, oldest first: `CARD_COLUMNS` named as the card's JSON fields."""
    given = {
        name: value
        for name, value in (("user", user), ("state", state), ("process", process), ("batch", batch))
        if value is not None
    }

    def build(first: bool) -> Any:
        from sqlalchemy import bindparam, select

        from engine.store import db

        columns = {
            "user": db.cards.c.user_id,
            "state": db.cards.c.state,
            "process": db.cards.c.process,
            "batch": db.cards.c.batch_id,
        }
        query = select(*(db.cards.c[name] for name in CARD_COLUMNS)).where(*(columns[name] == bindparam(name) for name in given))
        return _window(query, db.cards.c.id, first)

    return _by_id(reads(source), f"cards by {','.join(given)}", build, _CARD_FIELDS, given, limit, offset, page)


def outbox(
    source: Connection | Reads, *, status: str | None = None, limit: int | None = None, offset: int = 0, page: int = PAGE
) -> Iterator[Row]:
    """Emails in the order they were queued, as rows of `OUTBOX_COLUMNS` (no bodies, no context)."""
    given = {"status": status} if status is not None else {}

    def build(first: bool) -> Any:
        from sqlalchemy import bindparam, select

        from engine.store import db

        query = select(*(db.outbox.c[name] for name in OUTBOX_COLUMNS))
        if given:
            query = query.where(db.outbox.c.status == bindparam("status"))
        return _window(query, db.outbox.c.id, first)

    return _by_id(reads(source), f"outbox by {','.join(given)}", build, OUTBOX_COLUMNS, given, limit, offset, page)


def users(source: Connection | Reads, *, limit: int | None = None, offset: int = 0, page: int = PAGE) -> Iterator[Row]:
    """Users in id order, as expressions and templates see them (attributes, id, name, email, state, roles)."""

    def build(first: bool) -> Any:
        from sqlalchemy import select

        from engine.store import db

        return _window(select(*(db.users.c[name] for name in _USER_COLUMNS)), db.users.c.id, first)

    found = _by_id(reads(source), "users", build, _USER_COLUMNS, {}, limit, offset, page, first="")
    for row in found:
        yield user_record([row[name] for name in _USER_COLUMNS])


def unanswered(source: Connection | Reads) -> dict[int, Row]:
    """Per card with order attempts the bureau did not answer: how many, and the last one's time and error."""

    def build() -> Any:
        from sqlalchemy import select

        from engine.store import db

        table = db.bureau_attempts
        return select(table.c.card_id, table.c.at, table.c.error).order_by(table.c.id)

    found: dict[int, Row] = {}
    for card, at, error in reads(source).rows("unanswered attempts", build):
        seen = found.setdefault(card, {"unanswered": 0})
        seen.update(unanswered=seen["unanswered"] + 1, last_at=at, last_error=error)
    return found


#: The fields every user has, the first columns of `users list`.
USER_FIELDS = json_fields("user")


def user_columns(source: Connection | Reads, asked: Sequence[str] = ()) -> list[str]:
    """The columns `users list` shows: those asked for (a field, or an attribute some user has; else
    a usage error), or by default the fields and then, by name, the attributes of the first page of users."""
    read = reads(source)
    if not asked:
        return [*USER_FIELDS, *sorted(attribute_names(read, PAGE) - set(USER_FIELDS))]
    for name in asked:
        if name not in USER_FIELDS and not users_have_attribute(read, name):
            known = attribute_names(read, PAGE) | set(USER_FIELDS)
            raise UsageError(f"--columns: no user has the attribute '{name}'{did_you_mean(name, known)}")
    return list(asked)


def attribute_names(source: Connection | Reads, sample: int = PAGE) -> set[str]:
    """The attribute names of the first `sample` users (for "did you mean" hints)."""
    return {name for user in users(source, limit=sample) for name in user}


def users_have_attribute(source: Connection | Reads, name: str) -> bool:
    """Whether any stored user has the attribute `name` (its JSON key; a LIKE stops at the first)."""
    key = json.dumps(name, ensure_ascii=False).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    def build() -> Any:
        from sqlalchemy import bindparam, select

        from engine.store import db

        return select(db.users.c.id).where(db.users.c.attributes.like(bindparam("pattern"), escape="\\")).limit(1)

    return bool(reads(source).rows("a user with the attribute", build, pattern=f"%{key}:%"))


def batches(source: Connection | Reads, *, limit: int | None = None, offset: int = 0, page: int = PAGE) -> Iterator[Row]:
    """Batches in the order they were started: `BATCH_COLUMNS` named as the batch's JSON fields."""

    def build(first: bool) -> Any:
        from sqlalchemy import bindparam, select, tuple_

        from engine.store import db

        key, last = tuple_(db.batches.c.created_at, db.batches.c.id), tuple_(bindparam("last_at"), bindparam("last_id"))
        return (
            select(*(db.batches.c[name] for name in BATCH_COLUMNS))
            .where(key >= last if first else key > last)
            .order_by(db.batches.c.created_at, db.batches.c.id)
            .limit(bindparam("rows"))
            .offset(bindparam("offset"))
        )

    read, last_at, last_id = reads(source), "", ""
    for number, rows in enumerate(_pages(limit, page)):
        start = number == 0
        found = read.rows(
            f"batches {'first' if start else 'next'}",
            partial(build, start),
            last_at=last_at,
            last_id=last_id,
            rows=rows,
            offset=offset if start else 0,
        )
        yield from (dict(zip(_BATCH_FIELDS, row, strict=True)) for row in found)
        if len(found) < rows:
            return
        last_at, last_id = found[-1][BATCH_COLUMNS.index("created_at")], found[-1][0]


def progress(source: Connection | Reads, batch_id: str | None = None) -> dict[str, tuple[int, int]]:
    """Per batch worked in chunks (or just `batch_id`): (users in chunks done, users in all its chunks)."""
    given = {"batch": batch_id} if batch_id is not None else {}

    def build() -> Any:
        from sqlalchemy import bindparam, func, select

        from engine.store import db
        from engine.store.chunks import DONE

        table = db.batch_chunks
        done = func.coalesce(func.sum(table.c.users).filter(table.c.status == DONE), 0)
        query = select(table.c.batch_id, done, func.sum(table.c.users)).group_by(table.c.batch_id)
        return query.where(table.c.batch_id == bindparam("batch")) if given else query

    found = reads(source).rows(f"progress by {','.join(given)}", build, **given)
    return {batch: (int(done), int(total)) for batch, done, total in found}


def _window(query: Any, key: Any, first: bool) -> Any:
    """`query`'s page after the last `key` seen (from it, on the first page), in `key` order."""
    from sqlalchemy import bindparam

    after = key >= bindparam("last") if first else key > bindparam("last")
    return query.where(after).order_by(key).limit(bindparam("rows")).offset(bindparam("offset"))


def _by_id(
    source: Reads,
    shape: str,
    build: Callable[[bool], Any],
    columns: Sequence[str],
    given: Row,
    limit: int | None,
    offset: int,
    page: int,
    first: Any = 0,
) -> Iterator[Row]:
    """The rows `build` selects in key order (the key is the first column), a page at a time after
    the last key seen; `given`: the values of its filters."""
    last = first
    for number, rows in enumerate(_pages(limit, page)):
        start = number == 0
        found = source.rows(
            f"{shape} {'first' if start else 'next'}",
            partial(build, start),
            **given,
            last=last,
            rows=rows,
            offset=offset if start else 0,
        )
        yield from (dict(zip(columns, row, strict=True)) for row in found)
        if len(found) < rows:
            return
        last = found[-1][0]


def _pages(limit: int | None, page: int) -> Iterator[int]:
    """The sizes of the pages to read: `page` rows each, up to `limit` rows in all."""
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        yield size
        if left is not None:
            left -= size
