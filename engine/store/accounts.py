"""Console log-ins: passwords (argon2 hashes) with a count of failed attempts, and per-user API tokens.

Only hashes are stored: a password as argon2id (a slow, salted hash), a token as its SHA-256 (a
token is 32 random bytes, so a fast hash is enough and lets a token be found by its hash). A log-in
is refused for an unknown user, a user without a password, a wrong password or a user who is not
`active`; after `FREE_FAILURES` failures in a row each further attempt is answered only after a delay
that doubles up to `MAX_DELAY` seconds (the console waits it), and a success resets the count.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select, update

from engine.clock import now
from engine.errors import UsageError
from engine.store import db, queries, sessions
from engine.store.queries import Row

FREE_FAILURES = 3
MAX_DELAY = 30.0
MIN_PASSWORD = 8
TOKEN_PREFIX = "cf_"
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class LogIn:
    """The answer to a log-in attempt: the user when it succeeded, else why not, and how long to wait."""

    user: Row | None
    problem: str | None
    delay: float = 0.0


def _require_user(connection: Connection, user_id: str) -> Row:
    user = queries.users_by_id(connection, [user_id]).get(user_id)
    if user is None:
        raise UsageError(f"{user_id}: no such user in the store (import users first)")
    return user


def set_password(connection: Connection, user_id: str, password: str) -> None:
    """Store the argon2 hash of a new password for a user of the store (failure count reset, every
    session of the user ended)."""
    _require_user(connection, user_id)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    values = {"password_hash": _HASHER.hash(password), "failures": 0, "failed_at": None, "updated_at": now()}
    if _credentials(connection, user_id) is None:
        connection.execute(db.credentials.insert().values(user_id=user_id, **values))
    else:
        connection.execute(update(db.credentials).where(db.credentials.c.user_id == user_id).values(**values))
    sessions.end_all(connection, user_id)  # a new password logs the user out everywhere


def _credentials(connection: Connection, user_id: str) -> Row | None:
    row = connection.execute(select(db.credentials).where(db.credentials.c.user_id == user_id)).first()
    return dict(row._mapping) if row else None


def failure_delay(failures: int) -> float:
    """Seconds to wait before answering an attempt after `failures` failures in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, 2.0 ** (failures - FREE_FAILURES))


def log_in(connection: Connection, user_id: str, password: str) -> LogIn:
    """Check a user's password; count a failure, or reset the count on success."""
    found = _credentials(connection, user_id)
    user = queries.users_by_id(connection, [user_id]).get(user_id)
    delay = failure_delay(found["failures"]) if found else 0.0
    if user is None or found is None or not found["password_hash"]:
        _HASHER.hash(password)  # the same work as a real check: the answer time does not tell who exists
        return LogIn(None, "wrong user or password", delay)
    if not _verified(found["password_hash"], password):
        failures = found["failures"] + 1
        connection.execute(
            update(db.credentials).where(db.credentials.c.user_id == user_id).values(failures=failures, failed_at=now())
        )
        return LogIn(None, "wrong user or password", delay)
    if found["failures"]:
        connection.execute(update(db.credentials).where(db.credentials.c.user_id == user_id).values(failures=0))
    if user["state"] != "active":
        return LogIn(None, f"the user is {user['state']}; only active users may log in", delay)
    return LogIn(user, None, delay)


def _verified(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(connection: Connection, user_id: str) -> str:
    """A new API token for a user; only its hash is kept, so it is shown once."""
    _require_user(connection, user_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    connection.execute(db.api_tokens.insert().values(token_hash=_token_hash(token), user_id=user_id, created_at=now()))
    return token


def user_for_token(connection: Connection, token: str) -> Row | None:
    """The active user an API token belongs to (None for an unknown token or a user who is not active)."""
    query = select(db.api_tokens.c.user_id).where(db.api_tokens.c.token_hash == _token_hash(token))
    user_id = connection.execute(query).scalar()
    if user_id is None:
        return None
    user = queries.users_by_id(connection, [user_id]).get(user_id)
    return user if user is not None and user["state"] == "active" else None
