"""The cards a batch made, read back for a resumed batch or for their second firing, or counted as
they were made (the second firing of cards nothing changed since their first need not read them)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, or_, select

from engine.store import db, driver
from engine.store.driver import Compiled, compiled, driver_rows
from engine.store.queries import Row, among

#: The columns of a card that change after it is made (its id, holder, process, requester, production
#: type, batch and time made never do), as a new card of a batch holds them (`as_made`).
CHANGING = ("state", "open", "requested_by", "fields", "updated_at")


def existing_cards(connection: Connection, batch_id: str, user_ids: Sequence[str], *, contiguous: bool = False) -> dict[str, Row]:
    """Cards this batch already made for these users (a resumed batch skips them); `contiguous`: the
    users are a page of the users table, in its order (read as a range).

    The second firing of a batch whose cards made calls reads one a card: over a range of users its
    rows come straight from the driver, the flags made booleans as SQLAlchemy would."""
    if not (contiguous and user_ids):
        query = select(db.cards).where(db.cards.c.batch_id == batch_id, among(db.cards.c.user_id, user_ids, contiguous))
        return {row.user_id: dict(row._mapping) for row in connection.execute(query)}
    values = {"batch": batch_id, "first": user_ids[0], "last": user_ids[-1]}
    rows = driver_rows(connection, _existing_cards_statement(connection.dialect), values)
    return {card["user_id"]: card for card in driver.records(db.cards, rows)}


def as_made(connection: Connection, batch_id: str, first: str, last: str, made: Row) -> tuple[int, int]:
    """This batch's cards of the users from `first` to `last` (in the users table's order): how many
    there are, and how many still hold what `made` holds in every CHANGING column, with no timer
    settled (nothing moved, set or timed them since). One count instead of reading the rows: a
    twentieth of the time."""
    values = {"batch": batch_id, "first": first, "last": last, **{name: made[name] for name in CHANGING}}
    ((count, same),) = driver_rows(connection, _as_made_statement(connection.dialect), values)
    return int(count), int(same or 0)


#: The batch's cards of the users from `first` to `last`, in the users table's order.
_OF_USERS_IN_RANGE = (
    db.cards.c.batch_id == bindparam("batch", ""),
    db.cards.c.user_id.between(bindparam("first", ""), bindparam("last", "")),
)


@lru_cache(maxsize=4)
def _existing_cards_statement(dialect: Any) -> Compiled:
    return compiled(select(db.cards).where(*_OF_USERS_IN_RANGE), dialect)


@lru_cache(maxsize=4)
def _as_made_statement(dialect: Any) -> Compiled:
    cards = db.cards
    changed = or_(*(cards.c[name].is_distinct_from(bindparam(name, None)) for name in CHANGING), cards.c.timerless)
    return compiled(select(func.count(), func.sum(case((changed, 0), else_=1))).where(*_OF_USERS_IN_RANGE), dialect)
