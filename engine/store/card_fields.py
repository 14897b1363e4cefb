"""The values of cards' declared fields (engine.definitions.fields), written by the `set` effect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, update

from engine.store import db
from engine.store.queries import Row


def set_card_fields(connection: Connection, rows: Sequence[Row]) -> None:
    """Write the card fields of cards (each row: `card_id` and `fields`, the whole JSON object)."""
    cards = db.cards
    statement = update(cards).where(cards.c.id == bindparam("card")).values(fields=bindparam("new_fields"))
    connection.execute(statement, [{"card": row["card_id"], "new_fields": row["fields"]} for row in rows])
