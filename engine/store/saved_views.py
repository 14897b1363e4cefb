"""Each console user's saved views: a list's filters and order under a name of their own, to open
again in one click (Temporal's saved views, Camunda's "all instances with this value")."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from engine.clock import now
from engine.store import db
from engine.store.queries import Row


def save_view(connection: Connection, user_id: str, name: str, page: str, query: str) -> None:
    """Keep `query` (a query string of `page`) as the user's view `name`; a view of that name is replaced."""
    views = db.saved_views.c
    changed = update(db.saved_views).where(views.user_id == user_id, views.name == name)
    if connection.execute(changed.values(page=page, query=query, created_at=now())).rowcount == 0:
        connection.execute(db.saved_views.insert().values(user_id=user_id, name=name, page=page, query=query, created_at=now()))


def views_of(connection: Connection, user_id: str, page: str) -> list[Row]:
    """The user's views of `page`, by name."""
    views = db.saved_views.c
    query = select(views.id, views.name, views.query).where(views.user_id == user_id, views.page == page).order_by(views.name)
    return [dict(row._mapping) for row in connection.execute(query)]


def drop_view(connection: Connection, user_id: str, view_id: int) -> bool:
    """Delete the user's view `view_id`; False when they have none of that id."""
    views = db.saved_views.c
    return connection.execute(delete(db.saved_views).where(views.id == view_id, views.user_id == user_id)).rowcount == 1
