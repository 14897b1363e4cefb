"""Console log-ins in the store: argon2 password hashes, failures counted with a growing delay,
inactive users refused, API tokens kept as hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import StoreUnderTest
from sqlalchemy import Engine, select, text, update

from engine.clock import frozen
from engine.errors import UsageError
from engine.store import accounts, db
from engine.store.queries import open_store, upsert_users

USERS = [
    {"id": i, "name": i, "email": f"{i}@x", "state": s, "roles": '["operator"]', "attributes": "{}", "updated_at": "t"}
    for i, s in (("op1", "active"), ("old", "inactive"))
]


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = open_store(str(tmp_path / "accounts.db"))
    with engine.begin() as connection:
        upsert_users(connection, USERS)
    return engine


def test_right_password_logs_in(store: Engine) -> None:
    """The password set is the one that logs in; the hash is argon2id."""
    with store.begin() as connection:
        accounts.set_password(connection, "op1", "a long secret")
        outcome = accounts.log_in(connection, "op1", "a long secret")
        stored = connection.execute(select(db.credentials.c.password_hash)).scalar_one()
    assert (outcome.user or {}).get("id") == "op1" and outcome.problem is None
    assert stored.startswith("$argon2id$")


def test_wrong_password_and_unknown_user_look_alike(store: Engine) -> None:
    """A wrong password and an unknown user get the same answer."""
    with store.begin() as connection:
        accounts.set_password(connection, "op1", "a long secret")
        wrong = accounts.log_in(connection, "op1", "nope")
        unknown = accounts.log_in(connection, "ghost", "nope")
    assert (wrong.user, wrong.problem) == (unknown.user, unknown.problem) == (None, "wrong user or password")


def test_failures_grow_a_delay_and_success_resets_it(store: Engine) -> None:
    """Three failures are free; then 1, 2, 4 … seconds (at most 30); a success starts over."""
    with store.begin() as connection:
        accounts.set_password(connection, "op1", "a long secret")
        delays = [accounts.log_in(connection, "op1", "nope").delay for _ in range(6)]
        accounts.log_in(connection, "op1", "a long secret")
        after = accounts.log_in(connection, "op1", "nope").delay
    assert delays == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0]
    assert after == 0.0
    assert accounts.failure_delay(40) == accounts.MAX_DELAY


def test_an_inactive_user_with_the_right_password_is_answered_as_a_wrong_password(store: Engine) -> None:
    """A user who is not active cannot log in, even with the right password: the answer and the count of a wrong one."""
    with store.begin() as connection:
        accounts.set_password(connection, "old", "a long secret")
        outcomes = [accounts.log_in(connection, "old", "a long secret") for _ in range(5)]
    assert {(outcome.user, outcome.problem) for outcome in outcomes} == {(None, "wrong user or password")}
    assert [outcome.delay for outcome in outcomes] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_passwords_need_a_user_and_a_length(store: Engine) -> None:
    """Setting a password for an unknown user or a short one is a usage error."""
    with store.begin() as connection, pytest.raises(UsageError, match="no such user"):
        accounts.set_password(connection, "ghost", "a long secret")
    with store.begin() as connection, pytest.raises(UsageError, match="at least 8"):
        accounts.set_password(connection, "op1", "short")


def test_tokens_find_their_active_user(store: Engine) -> None:
    """A token is shown once, kept as its hash, and stops working when its user is inactive."""
    with store.begin() as connection:
        token = accounts.issue_token(connection, "op1")
        assert (accounts.user_for_token(connection, token) or {}).get("id") == "op1"
        assert accounts.user_for_token(connection, token + "x") is None
        assert token not in connection.execute(select(db.api_tokens.c.token_hash)).scalars().all()
        connection.execute(update(db.users).where(db.users.c.id == "op1").values(state="inactive"))
        assert accounts.user_for_token(connection, token) is None


def test_tokens_issued_before_expiry_get_an_id_and_ninety_days_at_the_upgrade(stored: StoreUnderTest) -> None:
    """A store from before token ids and expiry keeps its tokens: each gets the start of its hash as its
    id and expires 90 days after the upgrade."""
    old = db.connect(stored.location, migrate=False)
    db.upgrade(old, target=9)  # version 10 added sessions, token ids and expiry
    with old.begin() as connection:
        upsert_users(connection, USERS[:1])
        hashed = "ab" * 32
        connection.execute(text("INSERT INTO api_tokens VALUES (:hashed, 'op1', '2026-01-01T00:00:00Z')"), {"hashed": hashed})
    old.dispose()
    with frozen("2026-02-01T00:00:00Z"):
        engine = db.connect(stored.location)
        with engine.connect() as connection:
            (token,) = accounts.tokens_of(connection, "op1")
    engine.dispose()
    assert (token.id, token.created_at, token.expires_at) == (hashed[:12], "2026-01-01T00:00:00Z", "2026-05-02T00:00:00Z")
