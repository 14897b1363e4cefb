"""The console's user search: a page of the users matching a part of the name, a department and a
state, in id order, with how many match in all (the BATCH ORDERS search page over any number of users);
how many users the store holds (a run's progress bar)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from engine.store import db, pages
from engine.store.folding import fold
from engine.store.pages import Page, Window
from engine.store.queries import Row
from engine.store.user_rows import user_record

USER_COLUMNS = (db.users.c.id, db.users.c.name, db.users.c.email, db.users.c.state, db.users.c.roles, db.users.c.attributes)


@dataclass(frozen=True)
class UserSearch:
    """The console's user search: a part of the name and a department (any case, accents kept), a state; all optional."""

    name: str = ""
    department: str = ""
    state: str = ""


def _search_filters(search: UserSearch) -> list[Any]:
    """The conditions of `search`: name and department compared folded (any case, accents kept)."""
    filters: list[Any] = []
    if search.name.strip():
        pattern = "%" + fold(search.name.strip()).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(db.users.c.folded_name.like(pattern, escape="\\"))
    if search.department.strip():
        filters.append(db.users.c.folded_department == fold(search.department.strip()))
    if search.state.strip():
        filters.append(db.users.c.state == search.state.strip())
    return filters


def count_users(connection: Connection) -> int:
    """How many users the store holds (from the primary key's index)."""
    return int(connection.execute(select(func.count()).select_from(db.users)).scalar_one())


def search_users(connection: Connection, search: UserSearch, *, page: int = 1, size: int = 50) -> tuple[list[Row], int]:
    """One page (from 1) of the users matching `search` in id order, and how many match in all."""
    filters = _search_filters(search)
    offset = max(0, page - 1) * size
    if not filters:  # the count comes from the primary key's index; the page is a short range of it
        total = count_users(connection)
        query = select(*USER_COLUMNS).order_by(db.users.c.id).limit(size).offset(offset)
        return [user_record(row) for row in connection.execute(query)], total
    # with filters, one scan finds the page and counts every match (a window over the whole result)
    query = select(*USER_COLUMNS, func.count().over()).where(*filters).order_by(db.users.c.id).limit(size).offset(offset)
    rows = connection.execute(query).all()
    if rows or page == 1:
        return [user_record(row[:-1]) for row in rows], int(rows[0][-1]) if rows else 0
    total = int(connection.execute(select(func.count()).select_from(db.users).where(*filters)).scalar_one())
    return [], total


def users_page(connection: Connection, search: UserSearch, window: Window) -> Page:
    """A page of the users matching `search`, by keyset in id order, with how many match and come before it."""
    shown = [column.name for column in USER_COLUMNS]
    found = pages.page_of(connection, db.users, _search_filters(search), ["id"], window, shown)
    rows = [user_record([row[name] for name in shown]) for row in found.rows]
    return Page(rows, found.total, found.skipped, found.earlier, found.later)
