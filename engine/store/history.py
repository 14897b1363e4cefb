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


def card_attempts(connection: Connection, card_id: int) -> list[Row]:
    """The order attempts of a card that the bureau did not answer, oldest first."""
    query = select(db.bureau_attempts).where(db.bureau_attempts.c.card_id == card_id).order_by(db.bureau_attempts.c.id)
    return [dict(row._mapping) for row in connection.execute(query)]
