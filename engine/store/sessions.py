"""Console sessions, kept in the store: the cookie holds only a session's random id (the store its
SHA-256), so a session ends when its row goes. Log-out deletes the row, a new password deletes the
user's rows, and a session is refused (and deleted) once its user is no longer active, holds other
roles than at log-in, or its `SESSION_HOURS` are over. A copied cookie is worth no more than that.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from sqlalchemy import Connection, delete, select

from engine.clock import later, now
from engine.store import db, queries
from engine.store.queries import Row

SESSION_HOURS = 12


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _roles(user: Row) -> str:
    return json.dumps(sorted(user["roles"]))


def start(connection: Connection, user: Row) -> str:
    """A new session for `user` (expired sessions of anyone are cleared); its id, for the cookie."""
    at = now()
    connection.execute(delete(db.sessions).where(db.sessions.c.expires_at <= at))
    session_id = secrets.token_urlsafe(32)
    row = {"id_hash": _hash(session_id), "user_id": user["id"], "roles": _roles(user), "created_at": at}
    connection.execute(db.sessions.insert().values(**row, expires_at=later(at, hours=SESSION_HOURS)))
    return session_id


def user_of(connection: Connection, session_id: str) -> Row | None:
    """The user of a live session: it exists, has not expired, and its user is active with the roles
    held at log-in. None otherwise."""
    query = select(db.sessions).where(db.sessions.c.id_hash == _hash(session_id))
    found = connection.execute(query).first()
    if found is None or found.expires_at <= now():
        return None
    user = queries.users_by_id(connection, [found.user_id]).get(found.user_id)
    if user is None or user["state"] != "active" or _roles(user) != found.roles:
        return None
    return user


def end(connection: Connection, session_id: str) -> None:
    """End one session (log-out, or one found no longer valid)."""
    connection.execute(delete(db.sessions).where(db.sessions.c.id_hash == _hash(session_id)))


def end_all(connection: Connection, user_id: str) -> int:
    """End every session of a user (a new password); how many there were."""
    return connection.execute(delete(db.sessions).where(db.sessions.c.user_id == user_id)).rowcount
