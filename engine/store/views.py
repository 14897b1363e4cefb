"""Stored rows as expressions, emails and orders see them: the parts of a card and of a person they may show."""

from __future__ import annotations

from engine.store.queries import Row

#: What of a user an email does not show: the roles and state are the store's, `open_cards` a count for guards.
_NOT_SHOWN = frozenset({"roles", "state", "open_cards"})


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
    """A stored card as expressions and emails see it."""
    return {
        "id": card["id"],
        "user": card["user_id"],
        "state": card["state"],
        "process": card["process"],
        "requester": card["requester"],
        "production_type": card["production_type"],
        "batch": card["batch_id"],
    }
