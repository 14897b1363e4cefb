"""The console's commands: `users password` (prompted or --stdin), `users token`, `serve`, and the
demo's hint to open its store in the console."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import Run, StoreUnderTest
from sqlalchemy import inspect, select

from engine.clock import later
from engine.store import accounts, db
from engine.store.queries import open_store

USERS = "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\n"
CARDFLOW = str(Path(sys.executable).parent / "cardflow")


def store_with_users(run: Run, tmp_path: Path) -> str:
    (tmp_path / "users.csv").write_text(USERS)
    database = str(tmp_path / "c.db")
    assert run("users", "import", str(tmp_path / "users.csv"), "--db", database).exit_code == 0
    return database


def test_password_from_stdin_logs_in(cli: Run, tmp_path: Path) -> None:
    """`users password ID --stdin` stores a hash that the log-in accepts."""
    database = store_with_users(cli, tmp_path)
    result = cli("users", "password", "op1", "--stdin", "--db", database, input="a long secret\n")
    assert (result.exit_code, result.output.strip()) == (0, "password set for op1")
    engine = open_store(database)
    with engine.begin() as connection:
        assert accounts.log_in(connection, "op1", "a long secret").user is not None
    engine.dispose()


def test_password_is_prompted_twice(cli: Run, tmp_path: Path) -> None:
    """Without --stdin the password is asked for twice, hidden."""
    database = store_with_users(cli, tmp_path)
    result = cli("users", "password", "op1", "--db", database, input="a long secret\na long secret\n")
    assert result.exit_code == 0 and result.output.count("Password") == 1


def test_password_for_an_unknown_user_or_too_short(cli: Run, tmp_path: Path) -> None:
    """An unknown user or a short password is a one-line error with exit 2."""
    database = store_with_users(cli, tmp_path)
    unknown = cli("users", "password", "ghost", "--stdin", "--db", database, input="a long secret\n")
    short = cli("users", "password", "op1", "--stdin", "--db", database, input="short\n")
    assert (unknown.exit_code, short.exit_code) == (2, 2)
    assert "no such user" in unknown.output and "at least 8" in short.output


def test_token_is_printed_once_and_kept_hashed(cli: Run, tmp_path: Path) -> None:
    """`users token ID` prints a new token; the store keeps only its hash."""
    database = store_with_users(cli, tmp_path)
    result = cli("users", "token", "op1", "--db", database)
    token = result.stdout.strip()
    assert result.exit_code == 0 and token.startswith("cf_")
    engine = open_store(database)
    with engine.connect() as connection:
        assert token not in connection.execute(select(db.api_tokens.c.token_hash)).scalars().all()
        assert (accounts.user_for_token(connection, token) or {}).get("id") == "op1"
    engine.dispose()


def test_tokens_are_listed_and_revoked_by_their_id(cli: Run, tmp_path: Path) -> None:
    """`users token ID --list` shows each token's id, times and status; `--revoke TOKEN-ID` ends one,
    `--revoke --all` the rest; a revoked token no longer finds its user."""
    database = store_with_users(cli, tmp_path)
    first = json.loads(cli("users", "token", "op1", "--json", "--db", database).stdout)
    second = json.loads(cli("users", "token", "op1", "--json", "--db", database, "--expires", "30").stdout)
    listed = json.loads(cli("users", "token", "op1", "--list", "--json", "--db", database).stdout)
    expected = sorted([(first["id"], "active"), (second["id"], "active")])
    assert sorted((token["id"], token["status"]) for token in listed) == expected
    revoked = cli("users", "token", "op1", "--revoke", first["id"], "--db", database)
    assert (revoked.exit_code, revoked.stdout.strip()) == (0, "revoked 1 token(s) of op1")
    engine = open_store(database)
    with engine.connect() as connection:
        assert accounts.user_for_token(connection, first["token"]) is None
        assert accounts.user_for_token(connection, second["token"]) is not None
    engine.dispose()
    assert cli("users", "token", "op1", "--revoke", "--all", "--db", database).stdout.strip() == "revoked 1 token(s) of op1"
    assert json.loads(cli("users", "token", "op1", "--list", "--json", "--db", database).stdout) == []


def test_a_token_expires_after_the_days_asked_or_ninety(cli: Run, tmp_path: Path) -> None:
    """A new token expires after 90 days, or after --expires (days or P<n>D); a bad --expires or an
    unknown TOKEN-ID is a one-line usage error (exit 2) that issues or revokes nothing."""
    database = store_with_users(cli, tmp_path)
    default = json.loads(cli("users", "token", "op1", "--json", "--db", database).stdout)
    asked = json.loads(cli("users", "token", "op1", "--expires", "P7D", "--json", "--db", database).stdout)
    assert default["expires_at"] == later(default["created_at"], days=90)
    assert asked["expires_at"] == later(asked["created_at"], days=7)
    for args in (["--expires", "P0D"], ["--expires", "soon"], ["--revoke", "nosuchid"], ["--revoke"], ["--all"]):
        refused = cli("users", "token", "op1", *args, "--db", database)
        assert (refused.exit_code, refused.output.count("\n")) == (2, 1), (args, refused.output)
    assert len(json.loads(cli("users", "token", "op1", "--list", "--json", "--db", database).stdout)) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(*args: str, cwd: Path | None = None, stderr: Any = subprocess.DEVNULL) -> Iterator[Any]:
    """`cardflow serve ARGS...` running, once its log-in page answers; stopped at the end."""
    port = free_port()
    command = [CARDFLOW, "serve", "--port", str(port), *args]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=dict(os.environ), cwd=cwd)
    try:
        deadline, answer = time.monotonic() + 30, None
        while answer is None:
            assert server.poll() is None and time.monotonic() < deadline, "cardflow serve did not answer"
            try:
                answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2)
            except OSError:
                time.sleep(0.05)
        with answer:
            yield answer
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_answers_the_login_page(cli: Run, tmp_path: Path) -> None:
    """`cardflow serve` listens on 127.0.0.1 and answers the log-in page with its security headers."""
    database = store_with_users(cli, tmp_path)
    with serving("--db", database) as answer:
        assert answer.status == 200 and "Log in" in answer.read().decode()
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_serve_logs_json_lines_and_answers_its_health_without_a_session(cli: Run, tmp_path: Path) -> None:
    """With --log-format json every line on stderr is a JSON object; /healthz answers anyone."""
    database = store_with_users(cli, tmp_path)
    with open(tmp_path / "serve.log", "w") as log, serving("--db", database, "--log-format", "json", stderr=log) as answer:
        port = answer.url.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert json.loads(health.read()) == {"status": "ok"}
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    assert lines[0]["message"] == f"the console is at http://127.0.0.1:{port}/ (Ctrl+C stops it)"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_serve_refuses_a_store_that_does_not_exist_unless_create(stored: StoreUnderTest) -> None:
    """`serve` on a missing store (SQLite: no file; PostgreSQL: an empty database) exits 2 in one line and
    makes nothing; with --create it makes the store and serves it."""
    command = [CARDFLOW, "serve", "--port", str(free_port())]
    done = subprocess.run(command, cwd=stored.folder, env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--create makes a new one" in done.stderr and "console is at" not in done.stderr
    assert not (stored.folder / "cardflow.db").exists()
    if not stored.url.startswith("sqlite"):
        assert inspect(stored.engine()).get_table_names() == []
    with serving("--create", cwd=stored.folder) as answer:
        assert answer.status == 200
    assert "cards" in inspect(stored.engine()).get_table_names()


def test_serve_on_a_port_in_use_is_one_line_before_the_console_address(cli: Run, tmp_path: Path) -> None:
    """A port another program listens on stops `serve` with exit 2 and one line naming the port, and the
    console's address is never announced."""
    database = store_with_users(cli, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [CARDFLOW, "serve", "--port", str(port), "--db", database]
        done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [f"cardflow: cannot listen on 127.0.0.1:{port}: the port is in use by another program (choose another with --port)"],
    )


def test_serve_refuses_a_secret_key_shorter_than_32_bytes(cli: Run, tmp_path: Path) -> None:
    """A CARDFLOW_SECRET_KEY under 32 bytes stops `serve` with exit 2 and one line, before anything is served."""
    database = store_with_users(cli, tmp_path)
    command = [CARDFLOW, "serve", "--port", str(free_port()), "--db", database]
    environment = {**os.environ, "CARDFLOW_SECRET_KEY": "s" * 31}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
    assert "CARDFLOW_SECRET_KEY is 31 bytes" in done.stderr and "at least 32" in done.stderr
    assert "console is at" not in done.stderr


def test_serve_on_a_missing_store_is_a_usage_error(cli: Run, tmp_path: Path) -> None:
    """A --db URL that cannot be opened stops `serve` with a one-line error, no traceback."""
    result = cli("serve", "--db", "nosuchdriver://x")
    assert result.exit_code == 2 and "cannot open the store" in result.output


def test_demo_says_how_to_open_its_store_in_the_console(cli: Run, tmp_path: Path) -> None:
    """The demo's last line tells how to set a password and serve its store."""
    result = cli("demo", "--dir", str(tmp_path / "demo"))
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Console: cardflow users password op1 --db ") and "cardflow serve --db " in last
