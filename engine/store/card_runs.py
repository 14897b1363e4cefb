"""The reads of a run over existing cards: a page of the cards a trigger may move (the cards named by
id are `queries.get_cards`, held until the chunk commits), and the cards a batch has moved already (a resumed run);
for workers, the id ranges of the cards a trigger may move and the cards of one range."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, distinct, false, func, or_, select

from engine.store import batches, db, dialect, driver
from engine.store.queries import Row


def card_page(
    connection: Connection,
    process: str,
    states: Sequence[str],
    after: int,
    limit: int,
    *,
    hold: bool = True,
    calling: bool = True,
    filters: Sequence[Any] = (),
) -> list[Row]:
    """Up to `limit` cards of `process` in one of `states` with an id above `after` (and matching
    every one of `filters`), in id order; with `hold`, cards another run holds are left to it
    (PostgreSQL), the others held until the transaction ends; without `calling`, the cards with a
    pending call are left out.

    Each state's cards are read from the index by process, state and id, in id order, and the states'
    pages merged: one query over several states would sort every card still in them at each page."""
    cards, calls = db.cards, db.calls
    if not calling:
        filters = (*filters, ~select(calls.c.id).where(calls.c.card_id == cards.c.id, calls.c.status == "pending").exists())
    claim = dialect.of(connection).claim if hold else None
    pages = []
    for state in dict.fromkeys(states):
        query = select(cards).where(cards.c.process == process, cards.c.state == state, cards.c.id > after, *filters)
        query = query.order_by(cards.c.id).limit(limit)
        pages.append(driver.records(cards, connection.execute(claim(query) if claim else query).all()))
    return pages[0] if len(pages) == 1 else list(islice(heapq.merge(*pages, key=itemgetter("id")), limit))


def count_cards(connection: Connection, process: str, states: Sequence[str], filters: Sequence[Any] = ()) -> int:
    """How many cards of `process` are in one of `states` (and match every one of `filters`)."""
    cards = db.cards.c
    query = select(func.count()).select_from(db.cards).where(cards.process == process, cards.state.in_(list(states)), *filters)
    return int(connection.execute(query).scalar_one())


def known_card_ids(connection: Connection, ids: Sequence[int]) -> set[int]:
    """Which of `ids` are cards in the store."""
    return {card for (card,) in connection.execute(select(db.cards.c.id).where(db.cards.c.id.in_(list(ids))))}


def moved_in_batch(connection: Connection, batch_id: str, card_ids: Sequence[int]) -> dict[int, Row]:
    """The last move batch `batch_id` made of each of `card_ids` (card_id, source, dest, reason), by card."""
    transitions = db.transitions
    query = (
        select(transitions.c.card_id, transitions.c.source, transitions.c.dest, transitions.c.reason)
        .where(transitions.c.batch_id == batch_id, transitions.c.card_id.in_(list(card_ids)))
        .order_by(transitions.c.id)
    )
    return {row.card_id: dict(row._mapping) for row in connection.execute(query)}


def moved_count(connection: Connection, batch_id: str) -> int:
    """How many cards batch `batch_id` has moved (whichever run of it moved them)."""
    query = select(func.count(distinct(db.transitions.c.card_id))).where(db.transitions.c.batch_id == batch_id)
    return int(connection.execute(query).scalar_one())


def finish_batch(connection: Connection, batch_id: str, status: str, refused: int, at: str) -> None:
    """A run over cards ended: its status, when, how many cards the batch moved in all and how many this run refused."""
    batches.finish_batch(connection, batch_id, status, at, created=moved_count(connection, batch_id), skipped=refused)


Movable = Sequence[tuple[str, Sequence[str]]]  # (process, the states its cards may be moved from)


def _in_movable(movable: Movable) -> ColumnElement[bool]:
    cards = db.cards
    chosen = [and_(cards.c.process == process, cards.c.state.in_(list(states))) for process, states in movable]
    return or_(*chosen) if chosen else false()


def movable_ids_after(connection: Connection, movable: Movable, after: int, limit: int, filters: Sequence[Any] = ()) -> list[int]:
    """Up to `limit` ids above `after`, in order, of the cards of each process in one of its states
    (and matching every one of `filters`)."""
    cards = db.cards.c
    query = select(cards.id).where(_in_movable(movable), cards.id > after, *filters).order_by(cards.id).limit(limit)
    return [card for (card,) in connection.execute(query)]


def movable_between(
    connection: Connection, movable: Movable, first: int, last: int, *, hold: bool = True, filters: Sequence[Any] = ()
) -> list[Row]:
    """The cards with an id from `first` to `last` of each process in one of its states (and matching
    every one of `filters`), in id order; with `hold`, held until the transaction ends (PostgreSQL: a
    second run waits, then sees their new states)."""
    cards = db.cards
    query = select(cards).where(_in_movable(movable), cards.c.id.between(first, last), *filters).order_by(cards.c.id)
    return driver.records(cards, connection.execute(dialect.of(connection).lock(query) if hold else query).all())
