"""Stored rows as expressions, emails and orders see them: the parts of a card and of a person they may show."""

from __future__ import annotations

from engine.store.queries import Row


def person(user: Row | None) -> Row:
    """The part of a user an email or an order may show."""
    if not user:
        return {"id": None, "name": None, "email": None}
    return {"id": user["id"], "name": user["name"], "email": user["email"], "locale": user.get("locale")}


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
