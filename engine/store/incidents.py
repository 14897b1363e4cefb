"""What needs a person, counted in the store (`cardflow incidents`): cards in the states the workspace
marks as incidents, grouped by the move that brought them there; cards waiting too long; calls no
system has answered; batches that stopped; timers refused (emails that failed: `engine.store.outbox`).
Each group is one grouped count with its oldest moment; read in the caller's (read) transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, false, func, or_, select

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
    `before` and with no timer armed; only the `timed` pairs (states that declare timers) can have one."""
    cards, timers = db.cards.c, db.timers.c
    # one set of the cards with a timer armed, not a search per card: SQLite's planner would search
    # the timers by status for each card (500,000 armed timers, 500,000 cards: minutes, not a second)
    armed = select(timers.card_id).where(timers.status == "armed")
    found: list[Any] = []
    for chosen, unarmed in (([p for p in pairs if p not in timed], None), ([p for p in pairs if p in timed], armed)):
        if not chosen:
            continue
        query = select(cards.process, cards.state, func.count(), func.min(cards.updated_at))
        query = query.where(_in(chosen), cards.updated_at < before, *([cards.id.not_in(unarmed)] if unarmed is not None else []))
        found += connection.execute(query.group_by(cards.process, cards.state))
    return sorted(found, key=lambda row: (row[0], row[1]))


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
    timers = db.timers.c
    columns = (timers.process, timers.state, timers.trigger, timers.message)
    query = (
        select(*columns, func.count(), func.min(timers.fired_at))
        .where(timers.status == "refused")
        .group_by(*columns)
        .order_by(*columns)
    )
    return list(connection.execute(query))
