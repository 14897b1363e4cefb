"""The console's user search: a page of the users matching a part of the name, a department and a
state, in id order, with how many match in all (the BATCH ORDERS search page over any number of users)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, cast, func, select, type_coerce

from engine.store import db
from engine.store.queries import Row, user_record

USER_COLUMNS = (db.users.c.id, db.users.c.name, db.users.c.email, db.users.c.state, db.users.c.roles, db.users.c.attributes)


@dataclass(frozen=True)
class UserSearch:
    """The console's user search: a part of the name (any case), a department, a state; all optional."""

    name: str = ""
    department: str = ""
    state: str = ""


def _attribute(connection: Connection, name: str) -> Any:
    """An attribute of the users' JSON `attributes` as text (SQLite: json_extract; PostgreSQL: ->>)."""
    column = db.users.c.attributes
    document = cast(column, JSON) if connection.dialect.name == "postgresql" else type_coerce(column, JSON)
    return document[name].as_string()


def _search_filters(connection: Connection, search: UserSearch) -> list[Any]:
    filters: list[Any] = []
    if search.name.strip():
        pattern = "%" + search.name.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(func.lower(db.users.c.name).like(pattern, escape="\\"))
    if search.department.strip():
        filters.append(_attribute(connection, "department") == search.department.strip())
    if search.state.strip():
        filters.append(db.users.c.state == search.state.strip())
    return filters


def search_users(connection: Connection, search: UserSearch, *, page: int = 1, size: int = 50) -> tuple[list[Row], int]:
    """One page (from 1) of the users matching `search` in id order, and how many match in all."""
    filters = _search_filters(connection, search)
    offset = max(0, page - 1) * size
    if not filters:  # the count comes from the primary key's index; the page is a short range of it
        total = int(connection.execute(select(func.count()).select_from(db.users)).scalar_one())
        query = select(*USER_COLUMNS).order_by(db.users.c.id).limit(size).offset(offset)
        return [user_record(row) for row in connection.execute(query)], total
    # with filters, one scan finds the page and counts every match (a window over the whole result)
    query = select(*USER_COLUMNS, func.count().over()).where(*filters).order_by(db.users.c.id).limit(size).offset(offset)
    rows = connection.execute(query).all()
    if rows or page == 1:
        return [user_record(row[:-1]) for row in rows], int(rows[0][-1]) if rows else 0
    total = int(connection.execute(select(func.count()).select_from(db.users).where(*filters)).scalar_one())
    return [], total
