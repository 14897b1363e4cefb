"""A database error in the middle of a batch (a full disk, a restarted server) exits 2 naming the store
and `check-store`, says the batch is incomplete, and gives the exact command that resumes it.

The store really fails, on both stores, once the batch's first chunk is committed: SQLite's file may
grow no more (`max_page_count`, the store's "disk full"), or the PostgreSQL server ends the command's
connection (`pg_terminate_backend`, as a restarted server does). Only the test's connections are
touched: the command that resumes the batch runs on a healthy store.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import ON_POSTGRES, Run, StoreUnderTest
from sqlalchemy import Engine, event

from engine.store import db

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = 2500  # more than a chunk (2,000 users): the first chunk is committed before the store fails


@pytest.fixture
def many(run: Run, stored: StoreUnderTest) -> StoreUnderTest:
    """The store under test with an operator and 2,500 card holders."""
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
    rows += [f"u{i:05d},User {i},u{i}@example.com,active," for i in range(USERS)]
    (stored.folder / "users.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    return stored


def fail(stored: StoreUnderTest, connection: Any) -> None:
    """Make the store fail under this connection of the command: SQLite's file full, or the server ending it."""
    driver = connection.connection.driver_connection
    if ON_POSTGRES:
        stored.scalar("SELECT pg_terminate_backend(:pid, 10000)", pid=driver.info.backend_pid)
        return
    (pages,) = driver.execute("PRAGMA page_count").fetchone()
    driver.execute(f"PRAGMA max_page_count = {pages}")


@pytest.fixture
def fail_once(stored: StoreUnderTest) -> Iterator[Callable[[str], None]]:
    """`fail_once(QUERY)`: the store fails once, in the first write transaction a command begins when the
    count QUERY is above 0; the commands after that one find it healthy."""
    state: dict[str, Any] = {"when": None, "looking": False}

    def begin(connection: Any) -> None:
        if state["when"] is None or state["looking"] or connection.get_execution_options().get(db.READ_ONLY):
            return
        state["looking"] = True  # the count below begins a transaction of its own
        try:
            if stored.scalar(state["when"]) > 0:
                state["when"] = None
                fail(stored, connection)
        finally:
            state["looking"] = False

    event.listen(Engine, "begin", begin)
    try:
        yield lambda when: state.update(when=when)
    finally:
        event.remove(Engine, "begin", begin)


def resume_command(stderr: str) -> list[str]:
    """The arguments of the command the error line says resumes the batch."""
    command = stderr.rsplit("resume with `", 1)[1].split("`", 1)[0]
    words = shlex.split(command)
    assert words[0] == "cardflow"
    return words[1:]


def test_a_database_error_mid_batch_exits_2_pointing_at_check_store_and_the_exact_resume_command(
    run: Run, many: StoreUnderTest, fail_once: Callable[[str], None]
) -> None:
    """A store that fails after the first chunk: exit 2, one line naming the store, `check-store` and the batch;
    its exact resume command then finishes the batch with one card per user."""
    fail_once("SELECT count(*) FROM cards")
    result = run("run", ORDER, "--all", "--as", "op1", "--batch-id", "B1")
    assert result.exit_code == 2, result.output
    announced, error = result.stderr.strip().splitlines()
    assert announced == "cardflow: batch B1" and "Traceback" not in result.stderr
    assert "cardflow check-store" in error and "batch B1 is incomplete" in error and "SELECT" not in error, error
    assert many.scalar("SELECT count(*) FROM cards") == 2000  # the first chunk is kept
    words = resume_command(error)
    given_store = ["--db", many.location] if ON_POSTGRES else []  # $CARDFLOW_DB names it: the command repeats it
    assert words == ["run", ORDER, "--all", "--as", "op1", "--batch-id", "B1", *given_store]
    assert run(*words).exit_code == 0
    assert many.rows("SELECT count(*), count(DISTINCT user_id) FROM cards") == [(USERS + 1, USERS + 1)]
    assert many.scalar("SELECT status FROM batches WHERE id = 'B1'") == "complete"


def test_a_database_error_mid_batch_sync_exits_2_pointing_at_check_store_and_the_command_that_goes_on(
    run: Run, many: StoreUnderTest, fail_once: Callable[[str], None]
) -> None:
    """`queue run` on a store that fails after its first chunk: exit 2, one line naming the store, `check-store`
    and what was kept; the command it gives then orders every card still queued, each once."""
    assert run("run", ORDER, "--all", "--as", "op1").exit_code == 0
    queued = many.scalar("SELECT count(*) FROM cards")
    fail_once("SELECT count(*) FROM orders")
    result = run("queue", "run")
    assert result.exit_code == 2, result.output
    (error,) = result.stderr.strip().splitlines()
    assert "cardflow check-store" in error and "stay queued" in error and "SELECT" not in error, error
    ordered = many.scalar("SELECT count(*) FROM orders")
    assert 0 < ordered < queued  # the chunks done are kept
    words = error.rsplit("then `", 1)[1].split("`", 1)[0].split()
    assert words[:3] == ["cardflow", "queue", "run"]
    assert run(*words[1:]).exit_code == 0
    assert many.rows("SELECT count(*), count(DISTINCT card_id) FROM orders") == [(queued, queued)]
