"""A user's open cards counted over an exclusivity group's processes, and the card holding a group's key."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, func, select

from engine.store import db
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
    cards = db.cards
    query = select(cards.c.user_id, cards.c.process, func.count(), func.min(cards.c.id)).where(
        among(cards.c.user_id, user_ids, contiguous), cards.c.open.is_(True)
    )
    if not (contiguous and user_ids):  # in a range the process is compared here, so that no planner prefers another index
        query = query.where(cards.c.process.in_(list(processes)))
    found: dict[str, OpenCards] = {}
    for user, process, count, first in connection.execute(query.group_by(cards.c.user_id, cards.c.process)):
        if process in processes:
            held = found.get(user)
            oldest = (first, process) if held is None or first < held.card else (held.card, held.process)
            found[user] = OpenCards(count + (held.total if held else 0), *oldest)
    return found


def counts(
    connection: Connection, processes: Collection[str], user_ids: Sequence[str], *, contiguous: bool = False
) -> dict[str, int]:
    """How many open cards of `processes` each user has (`contiguous` as for `by_user`)."""
    return {user: held.total for user, held in by_user(connection, processes, user_ids, contiguous=contiguous).items()}


def with_key(connection: Connection, key: str) -> Row | None:
    """The open card holding exclusivity key `key` (`GROUP:USER`), if any."""
    row = connection.execute(select(db.cards).where(db.cards.c.open_key == key)).first()
    return dict(row._mapping) if row else None
