"""Console log-ins: passwords (argon2 hashes) with a count of failed attempts, and per-user API tokens.

Only hashes are stored: a password as argon2id (a slow, salted hash), a token as its SHA-256 (a
token is 32 random bytes, so a fast hash is enough and lets a token be found by its hash). A log-in
is refused for an unknown user, a user without a password, a wrong password or a user who is not
`active` (even with the right password: the same answer, counted as a failure); after `FREE_FAILURES`
failures in a row each further attempt is answered only after a delay that doubles up to `MAX_DELAY`
seconds (the console waits it), and a success resets the count.
A token expires (`db.TOKEN_DAYS` unless asked otherwise) and is listed and revoked by its public
id, the start of its hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, select, update

from engine.clock import later, now
from engine.errors import UsageError
from engine.store import db, queries, sessions
from engine.store.queries import Row

FREE_FAILURES = 3
MAX_DELAY = 30.0
MIN_PASSWORD = 8
TOKEN_PREFIX = "cf_"
TOKEN_ID_LENGTH = 12  # a token's public id: the start of its hash (listed, and named to revoke it)
MAX_TOKEN_DAYS = 3650
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Token:
    """An API token as its user sees it: its public id, times, and the secret only when just issued."""

    id: str
    user: str
    created_at: str
    expires_at: str | None
    secret: str | None = None

    def as_json(self, at: str) -> Row:
        """The token for `users token --list --json`; its status at time `at`."""
        expired = self.expires_at is not None and self.expires_at <= at
        return {
            "id": self.id,
            "user": self.user,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": "expired" if expired else "active",
        }


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
    if not _verified(found["password_hash"], password) or user["state"] != "active":
        failures = found["failures"] + 1
        connection.execute(
            update(db.credentials).where(db.credentials.c.user_id == user_id).values(failures=failures, failed_at=now())
        )
        return LogIn(None, "wrong user or password", delay)
    if found["failures"]:
        connection.execute(update(db.credentials).where(db.credentials.c.user_id == user_id).values(failures=0))
    return LogIn(user, None, delay)


def _verified(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_days(text: str) -> int:
    """A token's lifetime from `--expires`: days (`30`) or an ISO-8601 duration of days or weeks
    (`P90D`, `P12W`), from 1 day to MAX_TOKEN_DAYS."""
    found = re.fullmatch(r"(?:P(\d{1,6})([DW])|(\d{1,6}))", text.strip().upper())
    days = 0
    if found:
        days = int(found.group(3) or found.group(1)) * (7 if found.group(2) == "W" else 1)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise UsageError(f"--expires {text}: give days (90) or a duration (P90D, P12W) from 1 day to {MAX_TOKEN_DAYS} days")
    return days


def issue_token(connection: Connection, user_id: str, days: int | None = None) -> str:
    """A new API token for a user, valid `days`: its secret (shown once: only its hash is kept)."""
    return new_token(connection, user_id, days).secret or ""


def new_token(connection: Connection, user_id: str, days: int | None = None) -> Token:
    """A new API token for a user, valid `days` (default `db.TOKEN_DAYS`), with its secret (only its hash is kept)."""
    days = days or db.TOKEN_DAYS
    _require_user(connection, user_id)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hashed, at = _token_hash(secret), now()
    row = {"token_hash": hashed, "user_id": user_id, "created_at": at, "token_id": hashed[:TOKEN_ID_LENGTH]}
    connection.execute(db.api_tokens.insert().values(**row, expires_at=later(at, days=days)))
    return Token(row["token_id"], user_id, at, later(at, days=days), secret)


def tokens_of(connection: Connection, user_id: str) -> list[Token]:
    """A user's API tokens, oldest first (without their secrets: the store has none)."""
    _require_user(connection, user_id)
    table = db.api_tokens
    query = select(table.c.token_id, table.c.created_at, table.c.expires_at).where(table.c.user_id == user_id)
    rows = connection.execute(query.order_by(table.c.created_at, table.c.token_id))
    return [Token(row.token_id, user_id, row.created_at, row.expires_at) for row in rows]


def revoke_tokens(connection: Connection, user_id: str, token_id: str | None) -> int:
    """Revoke one API token of a user by its id (an id the user has not is a usage error), or every
    token of the user when `token_id` is None; how many were revoked."""
    _require_user(connection, user_id)
    query = delete(db.api_tokens).where(db.api_tokens.c.user_id == user_id)
    if token_id is not None:
        query = query.where(db.api_tokens.c.token_id == token_id)
    revoked = connection.execute(query).rowcount
    if token_id is not None and not revoked:
        raise UsageError(f"{user_id} has no API token {token_id} (`cardflow users token {user_id} --list` lists them)")
    return revoked


def check_token(connection: Connection, token: str) -> LogIn:
    """The active user an API token belongs to, or why not (unknown, expired, user not active)."""
    table = db.api_tokens
    found = connection.execute(
        select(table.c.user_id, table.c.expires_at).where(table.c.token_hash == _token_hash(token))
    ).first()
    if found is None:
        return LogIn(None, "a valid API token is needed")
    if found.expires_at is not None and found.expires_at <= now():
        return LogIn(None, f"the API token expired at {found.expires_at}; `cardflow users token ID` makes a new one")
    user = queries.users_by_id(connection, [found.user_id]).get(found.user_id)
    if user is None or user["state"] != "active":
        return LogIn(None, "a valid API token is needed")
    return LogIn(user, None)


def user_for_token(connection: Connection, token: str) -> Row | None:
    """The active user a valid API token belongs to (None for an unknown or expired token, or a user who is not active)."""
    return check_token(connection, token).user
