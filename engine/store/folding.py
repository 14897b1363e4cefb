"""The users' search columns: the name and the department in lower case, as Python (and the
expression language's `lower` filter) writes it, whatever the store's own `lower()` would do
(SQLite's folds ASCII only; PostgreSQL's follows the database's locale). Accents are kept: in
Swedish å, ä and ö are letters of their own, so `åsa` finds Åsa and `asa` does not.

`folded` gives the columns of a user row being written; `fill_folded` writes them into the rows of
a store made before the columns were (its migration)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from engine.store.tables import users

PAGE = 2000


def fold(text: str) -> str:
    """`text` as the search compares it: in lower case, accents kept."""
    return text.lower()


def folded(name: str, attributes: str) -> dict[str, Any]:
    """The search columns of a user with `name` and the JSON text of its `attributes`: the folded
    name, and the folded department (None when the user has none, or it is not text)."""
    data = json.loads(attributes) if '"department"' in attributes else None
    department = data.get("department") if isinstance(data, dict) else None
    return {"folded_name": fold(name), "folded_department": fold(department) if isinstance(department, str) else None}


def fill_folded(connection: Connection) -> None:
    """Write the search columns of every user, a page at a time in id order (a migration step)."""
    change = (
        update(users)
        .where(users.c.id == bindparam("user_id"))
        .values(folded_name=bindparam("name_key"), folded_department=bindparam("department_key"))
    )
    after = ""
    while True:
        query = select(users.c.id, users.c.name, users.c.attributes).where(users.c.id > after).order_by(users.c.id).limit(PAGE)
        rows = connection.execute(query).all()
        if not rows:
            return
        keys = [(row.id, folded(row.name, row.attributes)) for row in rows]
        connection.execute(
            change,
            [{"user_id": i, "name_key": k["folded_name"], "department_key": k["folded_department"]} for i, k in keys],
        )
        after = rows[-1].id
