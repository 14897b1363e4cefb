"""The read side: cards, emails, users and batches listed page by page, only the columns shown.

Each listing is a keyset walk (`id > last id seen`, in id order, a page at a time) on one read
connection, so memory stays flat however many rows the store holds, and every page is an index
search (tests/test_listing.py asks SQLite's query planner). `limit` and `offset` choose a window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select, tuple_

from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.records import json_columns, json_fields, json_names
from engine.store import db
from engine.store.queries import Row, attribute_names, user_record, users_have_attribute

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
    connection: Connection,
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
    filters = [
        column == value
        for column, value in (
            (db.cards.c.user_id, user),
            (db.cards.c.state, state),
            (db.cards.c.process, process),
            (db.cards.c.batch_id, batch),
        )
        if value is not None
    ]
    query = select(*(db.cards.c[name] for name in CARD_COLUMNS)).where(*filters)
    return _by_id(connection, query, db.cards.c.id, _CARD_FIELDS, limit, offset, page)


def outbox(
    connection: Connection, *, status: str | None = None, limit: int | None = None, offset: int = 0, page: int = PAGE
) -> Iterator[Row]:
    """Emails in the order they were queued, as rows of `OUTBOX_COLUMNS` (no bodies, no context)."""
    query = select(*(db.outbox.c[name] for name in OUTBOX_COLUMNS))
    if status is not None:
        query = query.where(db.outbox.c.status == status)
    return _by_id(connection, query, db.outbox.c.id, OUTBOX_COLUMNS, limit, offset, page)


def users(connection: Connection, *, limit: int | None = None, offset: int = 0, page: int = PAGE) -> Iterator[Row]:
    """Users in id order, as expressions and templates see them (attributes, id, name, email, state, roles)."""
    query = select(*(db.users.c[name] for name in _USER_COLUMNS))
    for row in _by_id(connection, query, db.users.c.id, _USER_COLUMNS, limit, offset, page, first=""):
        yield user_record([row[name] for name in _USER_COLUMNS])


#: The fields every user has, the first columns of `users list`.
USER_FIELDS = json_fields("user")


def user_columns(connection: Connection, asked: Sequence[str] = ()) -> list[str]:
    """The columns `users list` shows: those asked for (a field, or an attribute some user has; else
    a usage error), or by default the fields and then, by name, the attributes of the first page of users."""
    if not asked:
        return [*USER_FIELDS, *sorted(attribute_names(connection, PAGE) - set(USER_FIELDS))]
    for name in asked:
        if name not in USER_FIELDS and not users_have_attribute(connection, name):
            known = attribute_names(connection, PAGE) | set(USER_FIELDS)
            raise UsageError(f"--columns: no user has the attribute '{name}'{did_you_mean(name, known)}")
    return list(asked)


def batches(connection: Connection, *, limit: int | None = None, offset: int = 0, page: int = PAGE) -> Iterator[Row]:
    """Batches in the order they were started: `BATCH_COLUMNS` named as the batch's JSON fields."""
    query = select(*(db.batches.c[name] for name in BATCH_COLUMNS))
    key = tuple_(db.batches.c.created_at, db.batches.c.id)
    last: tuple[Any, ...] = ("", "")
    for number, rows in enumerate(_pages(limit, page)):
        found = connection.execute(
            query.where(key >= last if number == 0 else key > last)
            .order_by(db.batches.c.created_at, db.batches.c.id)
            .offset(offset if number == 0 else None)
            .limit(rows)
        ).all()
        yield from (dict(zip(_BATCH_FIELDS, row, strict=True)) for row in found)
        if len(found) < rows:
            return
        last = (found[-1][BATCH_COLUMNS.index("created_at")], found[-1][0])


def _by_id(
    connection: Connection,
    query: Select[Any],
    key: Any,
    columns: Sequence[str],
    limit: int | None,
    offset: int,
    page: int,
    first: Any = 0,
) -> Iterator[Row]:
    """The rows of `query` in `key` order, a page at a time after the last key seen (`key` is the first column)."""
    last = first
    for number, rows in enumerate(_pages(limit, page)):
        window = query.where(key >= last if number == 0 else key > last).order_by(key)
        found = connection.execute(window.offset(offset if number == 0 and offset else None).limit(rows)).all()
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
