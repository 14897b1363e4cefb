"""A user's open cards counted over an exclusivity group's processes, and the card holding a group's key."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select

from engine.store import db
from engine.store.driver import Compiled, compiled, seen_rows
from engine.store.queries import Row, among


class OpenCards(NamedTuple):
    """A user's open cards of some processes: how many, and the oldest one's id and process."""

    total: int
    card: int
    process: str


def by_user(
    connection: Connection, processes: Collection[str], user_ids: Sequence[str], *, contiguous: bool = False
) -> dict[str, OpenCards]:
    """The open cards of `processes` of each user who has any. `contiguous` says the ids are every
    user from the first to the last in id order (a page of users), so one range scan finds them."""
    if contiguous and user_ids:  # a batch's page of users: one statement compiled once, the process compared here
        rows = seen_rows(connection, _in_range(connection.dialect), {"first": user_ids[0], "last": user_ids[-1]})
    else:
        listed = among(db.cards.c.user_id, user_ids, contiguous), db.cards.c.process.in_(list(processes))
        rows = connection.execute(_open_by_user(*listed)).all()
    found: dict[str, OpenCards] = {}
    for user, process, count, first in rows:
        if process in processes:
            held = found.get(user)
            oldest = (first, process) if held is None or first < held.card else (held.card, held.process)
            found[user] = OpenCards(count + (held.total if held else 0), *oldest)
    return found


@lru_cache(maxsize=4)
def _in_range(for_dialect: Any) -> Compiled:
    """The open cards of the users from `first` to `last`, by user and process (in a range the process
    is compared in Python, so that no planner prefers another index)."""
    return compiled(_open_by_user(db.cards.c.user_id.between(bindparam("first", ""), bindparam("last", ""))), for_dialect)


def _open_by_user(*where: Any) -> Any:
    """Open cards matching `where`, by user and process: how many, and the oldest one's id."""
    cards = db.cards
    query = select(cards.c.user_id, cards.c.process, func.count(), func.min(cards.c.id)).where(cards.c.open.is_(True), *where)
    return query.group_by(cards.c.user_id, cards.c.process)


def counts(
    connection: Connection, processes: Collection[str], user_ids: Sequence[str], *, contiguous: bool = False
) -> dict[str, int]:
    """How many open cards of `processes` each user has (`contiguous` as for `by_user`)."""
    return {user: held.total for user, held in by_user(connection, processes, user_ids, contiguous=contiguous).items()}


def with_key(connection: Connection, key: str) -> Row | None:
    """The open card holding exclusivity key `key` (`GROUP:USER`), if any."""
    row = connection.execute(select(db.cards).where(db.cards.c.open_key == key)).first()
    return dict(row._mapping) if row else None
