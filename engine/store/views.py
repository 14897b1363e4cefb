"""Stored rows as expressions, emails and orders see them: the fields of a card, a batch and a
person that `engine.records` lets them read."""

from __future__ import annotations

from operator import itemgetter

from engine.records import BATCH, CARD, readable_fields
from engine.store.queries import Row

#: What of a user an email shows besides their attributes (id, name, email, locale); the rest
#: (roles, state, `open_cards`) is for expressions.
_NOT_SHOWN = readable_fields("user") - readable_fields("user", "templates")
_CARD = tuple((field.name, field.column) for field in CARD.fields if field.expressions and field.column)
_CARD_VALUES = itemgetter(*(column for _, column in _CARD))
_CARD_NAMES = tuple(name for name, _ in _CARD)
_BATCH = tuple((field.name, field.column) for field in BATCH.fields if field.expressions and field.column)


def person(user: Row | None) -> Row:
    """A user as an email shows them: id, name, email, locale and their other attributes (department, ...)."""
    if not user:
        return {"id": None, "name": None, "email": None}
    return {
        **{key: value for key, value in user.items() if key not in _NOT_SHOWN},
        "id": user["id"],
        "name": user["name"],
        "email": user["email"],
        "locale": user.get("locale"),
    }


def card_view(card: Row) -> Row:
    """A stored card as expressions and emails see it: its fields that expressions read."""
    return dict(zip(_CARD_NAMES, _CARD_VALUES(card), strict=True))


def batch_view(batch: Row) -> Row:
    """A stored batch as expressions see it (a field the row lacks is None)."""
    return {name: batch.get(column) for name, column in _BATCH}
