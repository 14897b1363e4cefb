"""One page of a console list (cards, requests, emails, batches), found by keyset: the rows after
(or before) the edge of the page shown, in key order either way, with how many match and how many
come before it. A page of a million rows costs an index search and two counts, however deep it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, false, func, or_, select, tuple_

from engine.store import db, queries
from engine.store.queries import Row

Key = tuple[Any, ...]
#: What the Outbox page shows of an email (no bodies, no context) and the Batches page of a batch.
EMAIL_COLUMNS = ("id", "template", "recipient", "subject", "status", "card_id", "batch_id", "attempts", "error", "history")
BATCH_COLUMNS = ("id", "process", "actor", "status", "created", "skipped", "created_at", "finished_at")


@dataclass(frozen=True)
class Window:
    """Which page: the `size` rows `after` (or `before`) a key in the order shown, or the `last` of
    them, newest or oldest first."""

    after: Key | None = None
    before: Key | None = None
    newest_first: bool = False
    size: int = 50
    last: bool = False


@dataclass(frozen=True)
class Page:
    """The rows of one page, how many match in all, how many come before it, and the keys to go back
    from (`earlier`) and on from (`later`) when there are rows that way."""

    rows: list[Row]
    total: int
    skipped: int
    earlier: Key | None
    later: Key | None


def page_of(
    connection: Connection,
    table: Table,
    filters: Sequence[Any],
    keys: Sequence[str],
    window: Window,
    shown: Sequence[str] | None = None,
) -> Page:
    """The page of `table`'s rows matching every filter that `window` names, in `keys` order: the
    `shown` columns (the keys among them; all, when not given)."""
    columns = [table.c[name] for name in keys]
    backward = window.before is not None or window.last
    edge = window.before if backward else window.after
    ascending = window.newest_first == backward
    query = select(*(table.c[name] for name in shown)) if shown else select(table)
    query = query.where(*filters)
    if edge is not None:
        query = query.where(_beyond(columns, edge, ascending))
    order = [column if ascending else column.desc() for column in columns]
    found = [dict(row._mapping) for row in connection.execute(query.order_by(*order).limit(window.size + 1))]
    more, rows = len(found) > window.size, found[: window.size]
    if backward:
        rows.reverse()
    key = [tuple(row[name] for name in keys) for row in rows[:1] + rows[-1:]]
    has_earlier, has_later = (more, edge is not None) if backward else (edge is not None, more)
    total = connection.execute(select(func.count()).select_from(table).where(*filters)).scalar_one()
    skipped = 0
    if rows:
        ahead = _beyond(columns, key[0], window.newest_first)  # the rows shown before the first of this page
        skipped = connection.execute(select(func.count()).select_from(table).where(*filters, ahead)).scalar_one()
    return Page(rows, int(total), int(skipped), key[0] if rows and has_earlier else None, key[-1] if rows and has_later else None)


def _beyond(columns: Sequence[Any], edge: Key, ascending: bool) -> ColumnElement[bool]:
    """The rows after `edge` in ascending key order, or before it when not `ascending`."""
    left, right = (columns[0], edge[0]) if len(columns) == 1 else (tuple_(*columns), tuple_(*edge))
    return left > right if ascending else left < right


@dataclass(frozen=True)
class CardQuery:
    """Cards by what an operator filters them on: their process, state, holder and batch, the reason
    of the move into their state, and the days of their last move (both included)."""

    process: str | None = None
    state: str | None = None
    holder: str | None = None
    batch: str | None = None
    reason: str | None = None
    moved_from: date | None = None
    moved_to: date | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in _QUERY_FIELDS)

    def filters(self, processes: Sequence[str] | None = None) -> list[Any]:
        """The query's filters, with `processes` only cards of those."""
        return card_filters(
            process=self.process, state=self.state, user=self.holder, batch=self.batch, reason=self.reason,
            updated_from=self.moved_from, updated_to=self.moved_to, processes=processes,
        )  # fmt: skip

    def describe(self) -> Row:
        """The filters given, as JSON (a batch row keeps them, to be resumed)."""
        return {name: _plain(getattr(self, name)) for name in _QUERY_FIELDS if getattr(self, name)}

    @classmethod
    def described(cls, described: Mapping[str, Any]) -> CardQuery:
        """The query `describe` gave."""
        given: dict[str, Any] = {name: described.get(name) for name in _QUERY_FIELDS}
        days = {name: date.fromisoformat(given[name]) for name in ("moved_from", "moved_to") if given[name]}
        return cls(**{**given, **days})


_QUERY_FIELDS = ("process", "state", "holder", "batch", "reason", "moved_from", "moved_to")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def card_filters(
    *,
    process: str | None = None,
    state: str | None = None,
    user: str | None = None,
    batch: str | None = None,
    reason: str | None = None,
    updated_from: date | None = None,
    updated_to: date | None = None,
    processes: Sequence[str] | None = None,
    waiting: Mapping[str, Sequence[str]] | None = None,
) -> list[Any]:
    """The filters of a list of cards: each given value, the days of the last move (both included),
    with `processes` only cards of those, and with `waiting` only cards of those processes in those
    states; `reason` is the reason of the move that brought each card into its state."""
    cards = db.cards.c
    found: list[Any] = [
        column == value
        for column, value in ((cards.process, process), (cards.state, state), (cards.user_id, user), (cards.batch_id, batch))
        if value
    ]
    if reason:
        found.append(_last_reason() == reason)
    if updated_from:
        found.append(cards.updated_at >= updated_from.isoformat())
    if updated_to:
        found.append(cards.updated_at < (updated_to + timedelta(days=1)).isoformat())
    if processes is not None:
        found.append(cards.process.in_(list(processes)))
    if waiting is not None:
        found.append(or_(false(), *(and_(cards.process == p, cards.state.in_(list(s))) for p, s in waiting.items())))
    return found


def _last_reason() -> Any:
    """The reason of each card's last move (the one into its state)."""
    moves = db.transitions.c
    return select(moves.reason).where(moves.card_id == db.cards.c.id).order_by(moves.id.desc()).limit(1).scalar_subquery()


def cards(connection: Connection, filters: Sequence[Any], window: Window) -> Page:
    """A page of cards, in the order they were made."""
    return page_of(connection, db.cards, filters, ["id"], window)


def emails(connection: Connection, status: str | None, window: Window) -> Page:
    """A page of the outbox, in the order the emails were queued."""
    filters = [db.outbox.c.status == status] if status else []
    return page_of(connection, db.outbox, filters, ["id"], window, EMAIL_COLUMNS)


def batches(connection: Connection, status: str | None, process: str | None, window: Window) -> Page:
    """A page of batches, in the order they were started."""
    columns = db.batches.c
    filters = [column == value for column, value in ((columns.status, status), (columns.process, process)) if value]
    found = page_of(connection, db.batches, filters, ["created_at", "id"], window, BATCH_COLUMNS)
    for row in found.rows:
        if row["status"] == "running":  # a batch still running (or killed): the cards it has made so far
            row["created"] = queries.batch_card_count(connection, row["id"])
    return found
