"""Opening a store: only commands that write create one; an empty, foreign or damaged file is refused
naming it; a read-only store can be read; `check-store` finds damage; a database error is one line.

Real SQLite files and the real CLI; the read-only store is made read-only for real (for a user
other than root, when the tests run as root).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Run

from engine.errors import UsageError
from engine.store import db

pytestmark = pytest.mark.sqlite_only  # store files: empty, foreign, read-only, corrupt pages

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = [
    {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "state": "active", "roles": ["operator"]},
    {"id": "u1", "name": "Alice Andersson", "email": "alice@example.com", "state": "active"},
]
READ_COMMANDS = [
    ["cards"],
    ["batches"],
    ["users", "list"],
    ["outbox"],
    ["explain", "1"],
    ["plan", ORDER, "--all", "--as", "op1"],
    ["diff", "--population", ORDER, "--left", str(ROOT)],
]


def one_line(stderr: str) -> bool:
    return len(stderr.strip().splitlines()) == 1 and stderr.startswith("cardflow: ") and "Traceback" not in stderr


def populated(run: Run) -> None:
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    assert run("users", "import", "users.json").exit_code == 0
    assert run("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0


@pytest.mark.parametrize("command", READ_COMMANDS, ids=[" ".join(c[:2]) for c in READ_COMMANDS])
def test_a_read_command_on_a_missing_store_exits_2_naming_it_and_creates_nothing(run: Run, command: list[str]) -> None:
    """`cards --db typo.db` (and every read command) exits 2 naming typo.db, and typo.db does not appear."""
    result = run(*command, "--db", "typo.db")
    assert result.exit_code == 2 and one_line(result.stderr) and "typo.db" in result.stderr, result.output
    assert not Path("typo.db").exists()


def test_a_write_command_creates_the_store(run: Run) -> None:
    """`users import` creates a missing store."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    assert run("users", "import", "users.json", "--db", "new.db").exit_code == 0
    assert Path("new.db").stat().st_size > 0


@pytest.mark.parametrize("command", [["cards"], ["users", "import", "users.json"], ["run", ORDER, "--all", "--as", "op1"]])
def test_an_empty_store_file_is_refused_by_every_command(run: Run, command: list[str]) -> None:
    """A 0-byte cardflow.db is an error naming it (its data is gone), never silently a new store; it stays 0 bytes."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    Path("cardflow.db").write_bytes(b"")
    result = run(*command)
    assert result.exit_code == 2 and one_line(result.stderr) and "cardflow.db is an empty file" in result.stderr
    assert Path("cardflow.db").stat().st_size == 0


@pytest.mark.parametrize("command", [["cards"], ["users", "import", "users.json"]])
def test_a_foreign_sqlite_database_is_refused_and_left_alone(run: Run, command: list[str]) -> None:
    """Another application's SQLite file is not a cardflow store: refused, naming it; no cardflow table is created in it."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    other = db.create_engine("sqlite:///other.db")  # another application's database, made without cardflow
    with other.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    other.dispose()
    result = run(*command, "--db", "other.db")
    assert result.exit_code == 2 and one_line(result.stderr) and "other.db is not a cardflow store" in result.stderr
    engine = db.create_engine("sqlite:///other.db")
    with engine.connect() as check:
        assert check.dialect.get_table_names(check) == ["invoices"]
    engine.dispose()


def test_a_file_that_is_not_sqlite_is_refused(run: Run) -> None:
    """A text file given as the store is refused, naming it."""
    Path("notes.db").write_text("shopping list\n", encoding="utf-8")
    result = run("cards", "--db", "notes.db")
    assert result.exit_code == 2 and one_line(result.stderr) and "notes.db is not an SQLite database" in result.stderr


def test_a_store_that_lost_a_table_is_refused(run: Run) -> None:
    """A store missing one of cardflow's tables is an error naming the table, for reads and writes."""
    populated(run)
    engine = db.connect("cardflow.db")
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE orders")
    engine.dispose()
    for command in (["cards"], ["run", ORDER, "--all", "--as", "op1"]):
        result = run(*command)
        assert result.exit_code == 2 and one_line(result.stderr) and "lacks its table(s) orders" in result.stderr


def test_a_read_command_on_an_older_schema_says_so_and_changes_nothing(run: Run) -> None:
    """A read command on a store at an older version exits 2 saying so; `check-store --upgrade` upgrades it."""
    engine = db.connect("old.db", migrate=False)
    db.upgrade(engine, target=db.VERSION - 1)
    engine.dispose()
    result = run("cards", "--db", "old.db")
    assert result.exit_code == 2 and one_line(result.stderr) and f"schema version {db.VERSION - 1}" in result.stderr
    engine = db.connect("old.db", mode="write", migrate=False)
    with engine.connect() as connection:
        assert db.schema_version(connection) == db.VERSION - 1
    engine.dispose()
    assert run("check-store", "--upgrade", "--db", "old.db").exit_code == 0
    assert run("cards", "--db", "old.db").exit_code == 0


def test_connect_read_refuses_a_missing_store(tmp_path: Path) -> None:
    """`db.connect(path, mode="read")` on a missing file raises UsageError and creates nothing."""
    with pytest.raises(UsageError, match="no store at"):
        db.connect(str(tmp_path / "missing.db"), mode="read")
    assert not (tmp_path / "missing.db").exists()


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user may enter (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="cardflow-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)


def as_reader(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`cardflow ARGS` as a user who may not write the store (nobody, when the tests run as root)."""
    command = [sys.executable, "-c", "import cli; cli.main()", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a store read-only")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HOME": str(cwd)}
    env.pop("CARDFLOW_DB", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_a_read_only_store_can_be_read(run: Run, shared_folder: Path) -> None:
    """A store in a read-only file and folder: read commands read it (exit 0); a write is refused in one line."""
    populated(run)
    store = shared_folder / "cardflow.db"
    shutil.copy("cardflow.db", store)
    store.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    shared_folder.chmod(0o555)
    cards = as_reader(["cards", "--json"], shared_folder)
    assert cards.returncode == 0, cards.stderr
    (card,) = json.loads(cards.stdout)
    assert card["user"] == "u1"
    for command in (["batches"], ["outbox"], ["explain", str(card["id"])], ["users", "list"]):
        result = as_reader(command, shared_folder)
        assert result.returncode == 0, (command, result.stderr)
    written = as_reader(["abort", str(card["id"]), "--as", "op1"], shared_folder)
    assert written.returncode == 2 and one_line(written.stderr) and "cardflow.db" in written.stderr, written.stderr
    assert "SELECT" not in written.stderr and "INSERT" not in written.stderr


def corrupt(path: Path) -> None:
    """Overwrite the store's pages after the first (the schema) with garbage, once the write-ahead log is folded in."""
    engine = db.connect(str(path))
    with engine.connect() as connection, closing(connection.connection.cursor()) as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    with path.open("r+b") as file:
        size = file.seek(0, os.SEEK_END)
        for offset in range(4096, size, 4096):
            file.seek(offset)
            file.write(b"\xde\xad\xbe\xef" * 200)


def test_check_store_finds_corrupt_pages_and_a_read_is_one_line_with_the_path(run: Run) -> None:
    """`check-store` on corrupt pages exits 1 saying so; `cards` then says one line with the path, no SQL."""
    populated(run)
    assert run("check-store").exit_code == 0
    corrupt(Path("cardflow.db"))
    checked = run("check-store")
    assert checked.exit_code == 1 and "malformed" in checked.stdout, checked.output
    result = run("cards")
    assert result.exit_code == 2 and one_line(result.stderr), result.stderr
    assert "cardflow.db" in result.stderr and "SELECT" not in result.stderr and "internal error" not in result.stderr


def test_check_store_on_a_whole_store_is_ok(run: Run) -> None:
    """A whole store passes `check-store` with exit 0, and `--json` lists no problem."""
    populated(run)
    result = run("check-store", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"store": "cardflow.db", "problems": []}


def test_a_writable_store_in_a_read_only_folder_can_be_read_and_checked(run: Run, shared_folder: Path) -> None:
    """A store file the reader may write, in a folder it may not: read commands read it and `check-store` finds it whole."""
    populated(run)
    store = shared_folder / "cardflow.db"
    shutil.copy("cardflow.db", store)
    store.chmod(0o666)
    shared_folder.chmod(0o555)
    cards = as_reader(["cards", "--json"], shared_folder)
    assert cards.returncode == 0, cards.stderr
    assert [card["user"] for card in json.loads(cards.stdout)] == ["u1"]
    checked = as_reader(["check-store", "--json"], shared_folder)
    assert checked.returncode == 0 and json.loads(checked.stdout)["problems"] == [], checked.stdout + checked.stderr


def test_check_store_checks_a_read_only_store(run: Run, shared_folder: Path) -> None:
    """`check-store` on a healthy store in a read-only file and folder exits 0 with no problem."""
    populated(run)
    store = shared_folder / "cardflow.db"
    shutil.copy("cardflow.db", store)
    store.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    shared_folder.chmod(0o555)
    checked = as_reader(["check-store", "--json"], shared_folder)
    assert checked.returncode == 0 and json.loads(checked.stdout)["problems"] == [], checked.stdout + checked.stderr


@contextmanager
def sqlite_file(path: Path) -> Iterator[Any]:
    """The driver's own connection to an SQLite file that is not the store under test (autocommit)."""
    engine = db.create_engine(f"sqlite:///{path}")
    connection = engine.raw_connection()
    try:
        yield connection.driver_connection
    finally:
        connection.close()
        engine.dispose()


def foreign_database(path: Path) -> None:
    """Another application's SQLite file (rollback journal, SQLite's default), made without cardflow."""
    with sqlite_file(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("INSERT INTO invoices (total) VALUES (12.5)")
        connection.commit()


def stray_log(path: Path) -> None:
    """A write-ahead log of another store, with pages not yet folded into its database, copied to `path`."""
    with sqlite_file(path.with_name("elsewhere.db")) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.execute("CREATE TABLE cards (id INTEGER PRIMARY KEY, state TEXT)")
        connection.execute("INSERT INTO cards (state) VALUES ('ordered')")
        connection.commit()
        shutil.copy(path.with_name("elsewhere.db-wal"), path)
    path.with_name("elsewhere.db").unlink()


def folder_state(folder: Path) -> dict[str, bytes]:
    return {file.name: file.read_bytes() for file in sorted(folder.iterdir())}


def test_a_foreign_sqlite_file_is_refused_before_anything_changes(run: Run) -> None:
    """A write command on another application's SQLite file refuses it naming its tables, and leaves the
    folder byte for byte as it was: the file not switched to WAL, no holder file beside it."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    foreign_database(Path("cardflow.db"))
    before = folder_state(Path.cwd())
    result = run("users", "import", "users.json")
    assert result.exit_code == 2 and one_line(result.stderr), result.stderr
    assert "not a cardflow store (it holds other tables: invoices)" in result.stderr
    assert folder_state(Path.cwd()) == before


@pytest.mark.parametrize("command", [["users", "import", "users.json"], ["cards"]])
def test_a_stray_write_ahead_log_beside_a_foreign_file_is_refused_before_it_is_merged(run: Run, command: list[str]) -> None:
    """Another application's SQLite file with another store's `-wal` beside it: every command refuses in one
    line naming the log, and the folder stays byte for byte as it was (the log not merged into the file)."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    foreign_database(Path("cardflow.db"))
    stray_log(Path("cardflow.db-wal"))
    before = folder_state(Path.cwd())
    result = run(*command)
    assert result.exit_code == 2 and one_line(result.stderr) and "cardflow.db-wal" in result.stderr, result.stderr
    assert folder_state(Path.cwd()) == before


def test_a_stray_write_ahead_log_beside_a_missing_store_is_refused(run: Run) -> None:
    """A `cardflow.db-wal` left by another store where no cardflow.db is: a write command refuses it in
    one line naming it, and makes no store that would take in its pages."""
    Path("users.json").write_text(json.dumps(USERS), encoding="utf-8")
    stray_log(Path("cardflow.db-wal"))
    before = folder_state(Path.cwd())
    result = run("users", "import", "users.json")
    assert result.exit_code == 2 and one_line(result.stderr) and "cardflow.db-wal" in result.stderr, result.stderr
    assert folder_state(Path.cwd()) == before


def test_a_stray_write_ahead_log_beside_a_store_not_in_wal_mode_is_refused(run: Run) -> None:
    """A store in rollback-journal mode (as a copy may be) with another store's `-wal` beside it: a write
    command refuses in one line naming the log, and changes nothing."""
    populated(run)
    with sqlite_file(Path("cardflow.db")) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    stray_log(Path("cardflow.db-wal"))
    before = folder_state(Path.cwd())
    result = run("run", ORDER, "--all", "--as", "op1")
    assert result.exit_code == 2 and one_line(result.stderr) and "cardflow.db-wal" in result.stderr, result.stderr
    assert folder_state(Path.cwd()) == before
