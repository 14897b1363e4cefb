"""A card's story as the store keeps it: its audit rows, the orders placed for it, its emails and
the bureau's unanswered attempts (what `explain`, `cards` and preview read)."""

from __future__ import annotations

import json

from sqlalchemy import Connection, select

from engine.store import db
from engine.store.queries import Row


def card_history(connection: Connection, card_id: int) -> list[Row]:
    """The audit rows of a card in order, each with its decision trace."""
    query = (
        select(db.transitions, db.decisions.c.trace)
        .join(db.decisions, db.decisions.c.id == db.transitions.c.decision_id)
        .where(db.transitions.c.card_id == card_id)
        .order_by(db.transitions.c.id)
    )
    return [{**dict(row._mapping), "trace": json.loads(row.trace)} for row in connection.execute(query)]


def card_orders(connection: Connection, card_id: int) -> list[Row]:
    query = select(db.orders).where(db.orders.c.card_id == card_id).order_by(db.orders.c.id)
    return [dict(row._mapping) for row in connection.execute(query)]


def all_orders(connection: Connection) -> list[Row]:
    """Every order placed, of every card, oldest first (a scenario's outcome)."""
    return [dict(row._mapping) for row in connection.execute(select(db.orders).order_by(db.orders.c.id))]


def card_emails(connection: Connection, card_id: int) -> list[Row]:
    query = select(db.outbox).where(db.outbox.c.card_id == card_id).order_by(db.outbox.c.id)
    return [dict(row._mapping) for row in connection.execute(query)]


def unanswered_attempts(connection: Connection) -> dict[int, Row]:
    """Per card with order attempts the bureau did not answer: how many, and the last one's time and error."""
    found: dict[int, Row] = {}
    table = db.bureau_attempts
    for card, at, error in connection.execute(select(table.c.card_id, table.c.at, table.c.error).order_by(table.c.id)):
        seen = found.setdefault(card, {"unanswered": 0})
        seen.update(unanswered=seen["unanswered"] + 1, last_at=at, last_error=error)
    return found


def card_attempts(connection: Connection, card_id: int) -> list[Row]:
    """The order attempts of a card that the bureau did not answer, oldest first."""
    query = select(db.bureau_attempts).where(db.bureau_attempts.c.card_id == card_id).order_by(db.bureau_attempts.c.id)
    return [dict(row._mapping) for row in connection.execute(query)]
