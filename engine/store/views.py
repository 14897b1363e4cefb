"""Stored rows as expressions, emails and orders see them: the fields of a card, a batch and a
person that `engine.records` lets them read."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from engine.records import BATCH, CARD, Batch, Card, User, readable_fields

if TYPE_CHECKING:
    from engine.store.queries import Row  # the views import no SQLAlchemy: emails fire with them

#: What of a user an email shows besides their attributes (id, name, email, locale); the rest
#: (roles, state, `open_cards`) is for expressions.
_NOT_SHOWN = readable_fields("user") - readable_fields("user", "templates")
_CARD = tuple((field.name, field.column) for field in CARD.fields if field.expressions and field.column)
_BATCH = tuple((field.name, field.column) for field in BATCH.fields if field.expressions and field.column)


def person(user: Row | None) -> User:
    """A user as an email shows them: id, name, email, locale and their other attributes (department, ...)."""
    if not user:
        return cast(User, {"id": None, "name": None, "email": None})
    shown = {key: value for key, value in user.items() if key not in _NOT_SHOWN}
    shown["id"], shown["name"], shown["email"], shown["locale"] = user["id"], user["name"], user["email"], user.get("locale")
    return cast(User, shown)


def card_view(card: Row) -> Card:
    """A stored card as expressions and emails see it: its fields that expressions read, and the
    values of its declared card fields (a built-in field's name is never a declared one's)."""
    view = {name: card[column] for name, column in _CARD}
    fields = card.get("fields")
    if fields and fields != "{}":
        view.update((name, value) for name, value in _declared(fields) if name not in view)
    return cast(Card, view)


@lru_cache(maxsize=4096)
def _declared(fields: str) -> tuple[tuple[str, Any], ...]:
    """A card's declared fields from their JSON, decoded once per distinct text (cards share their
    fields' values: a PIN delivery method, a validity date)."""
    return tuple(json.loads(fields).items())


def batch_view(batch: Row) -> Batch:
    """A stored batch as expressions see it (a field the row lacks is None)."""
    return cast(Batch, {name: batch.get(column) for name, column in _BATCH})


def batch_of(card: Row) -> Batch:
    """A card's batch as expressions see it, from what the card holds (the syncs read no batch):
    its process, and the card's requester as the batch's actor."""
    return Batch(id=card["batch_id"], process=card["process"], actor=card["requester"], production_type=card["production_type"])
