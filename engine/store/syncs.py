"""What the batch sync and the order-status sync read: the cards waiting for a trigger, claimed a
chunk at a time (two syncs never share one), and the bureau's order id of each card."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from engine.store import card_runs, db
from engine.store.queries import Row


def claim_cards(connection: Connection, process: str, states: Sequence[str], after: int, limit: int) -> list[Row]:
    """Up to `limit` cards of `process` in one of `states` with an id above `after`, oldest first, held
    until the transaction ends; the cards another sync holds are left to it (PostgreSQL), and so are
    those waiting for the answer of a call (the outbox sends it: engine.batch.calls)."""
    return card_runs.card_page(connection, process, states, after, limit, hold=True, calling=False)


def latest_order_ids(connection: Connection, card_ids: Sequence[int]) -> dict[int, str]:
    """The bureau's order id of each card's latest accepted order."""
    orders = db.orders
    latest = (
        select(orders.c.card_id, func.max(orders.c.id).label("id"))
        .where(orders.c.card_id.in_(list(card_ids)), orders.c.accepted.is_(True), orders.c.order_id.is_not(None))
        .group_by(orders.c.card_id)
        .subquery()
    )
    query = select(orders.c.card_id, orders.c.order_id).join(latest, latest.c.id == orders.c.id)
    return {card: order_id for card, order_id in connection.execute(query)}
