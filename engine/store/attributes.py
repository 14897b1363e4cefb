"""Which attributes the stored users have: what a run asks before it trusts a guard that reads one."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from engine.store import db
from engine.store.listing import attribute_names, users_have_attribute

__all__ = ["attribute_names", "attributes_no_user_has"]


def attributes_no_user_has(connection: Connection, names: Iterable[str]) -> list[str]:
    """Those of `names` that no stored user has as an attribute (none when the store has no users)."""
    if connection.execute(select(db.users.c.id).limit(1)).first() is None:
        return []
    return [name for name in dict.fromkeys(names) if not users_have_attribute(connection, name)]
