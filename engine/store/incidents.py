"""What needs a person, counted in the store (`cardflow incidents`): cards in the states the workspace
marks as incidents, grouped by the move that brought them there; cards waiting too long; calls no
system has answered; batches that stopped; timers refused (emails that failed: `engine.store.outbox`).
Each group is one grouped count with its oldest moment; read in the caller's (read) transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, false, func, or_, select, true

from engine.store import db

Pair = tuple[str, str]


def _in(pairs: Iterable[Pair]) -> Any:
    cards = db.cards.c
    return or_(false(), *(and_(cards.process == process, cards.state == state) for process, state in pairs))


def cards_in(connection: Connection, pairs: Sequence[Pair]) -> list[Any]:
    """(process, state, trigger, reason, count, oldest) of the cards in the (process, state) `pairs`,
    by the trigger and reason of the move that brought each into its state."""
    cards, moves, earlier = db.cards.c, db.transitions, db.transitions.alias("earlier")
    last = select(func.max(earlier.c.id)).where(earlier.c.card_id == cards.id).correlate(db.cards).scalar_subquery()
    columns = (cards.process, cards.state, moves.c.trigger, moves.c.reason)
    query = (
        select(*columns, func.count(), func.min(cards.updated_at))
        .select_from(db.cards.join(moves, moves.c.id == last))
        .where(_in(pairs))
        .group_by(*columns)
        .order_by(*columns)
    )
    return list(connection.execute(query))


def waiting(connection: Connection, pairs: Sequence[Pair], before: str, timed: Sequence[Pair] = ()) -> list[Any]:
    """(process, state, count, oldest) of the cards in the (process, state) `pairs` not moved since
    `before` and with no timer armed; only the `timed` pairs (states that declare timers) can have
    one, and there a card with none is marked `timerless` (engine.store.timers.settle).

    One count per pair, each a range of the index `cards_waiting` (an OR of the pairs made SQLite
    gather and sort every card's row id first: 7x slower over 300,000 cards; reading the armed timers
    against the cards cost a probe per card: 380 ms over 500,000 timed cards, 48 ms with the mark)."""
    cards = db.cards.c
    found = []
    for process, state in pairs:
        marked = [true()] if (process, state) in timed else [false(), true()]
        query = select(func.count(), func.min(cards.updated_at)).where(
            cards.state == state, cards.process == process, cards.timerless.in_(marked), cards.updated_at < before
        )
        count, oldest = connection.execute(query).one()
        if count:
            found.append((process, state, count, oldest))
    return found


def unanswered_calls(connection: Connection) -> list[Any]:
    """(connector, operation, count, oldest, most attempts) of the calls still waiting for an answer."""
    calls = db.calls.c
    query = (
        select(calls.connector, calls.operation, func.count(), func.min(calls.created_at), func.max(calls.attempts))
        .where(calls.status == "pending")
        .group_by(calls.connector, calls.operation)
        .order_by(calls.connector, calls.operation)
    )
    return list(connection.execute(query))


def stopped_batches(connection: Connection, before: str) -> list[Any]:
    """(id, process, status, created_at) of the batches that stopped before their end: incomplete, or
    still running since before `before` (the command that ran it was killed), oldest first."""
    batches = db.batches.c
    stopped = or_(batches.status == "incomplete", and_(batches.status == "running", batches.created_at < before))
    query = select(batches.id, batches.process, batches.status, batches.created_at).where(stopped)
    return list(connection.execute(query.order_by(batches.created_at, batches.id)))


def refused_timers(connection: Connection) -> list[Any]:
    """(process, state, trigger, message, count, oldest) of the timers whose firing was refused."""
    timers, kinds = db.timers.c, db.timer_kinds.c
    columns = (kinds.process, kinds.state, kinds.trigger, timers.message)
    query = (
        select(*columns, func.count(), func.min(timers.fired_at))
        .join_from(db.timers, db.timer_kinds, kinds.id == timers.kind)
        .where(timers.status == "refused")
        .group_by(*columns)
        .order_by(*columns)
    )
    return list(connection.execute(query))
