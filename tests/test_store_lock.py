"""SQLite's write lock: a write command waits as long as another command holds the store, says once
for whom it waits, and a locked store is never taken for a damaged one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import NullPool

from engine.store import lock

CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
ORDER = "CardsAddonExtProdBoProcOrderMultiple"

pytestmark = pytest.mark.sqlite_only


def wait_for(condition: Callable[[], bool], deadline: float = 120) -> None:
    """Poll `condition` until it holds; fail at the deadline."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "the condition did not hold in time"
        time.sleep(0.02)


class Folder:
    """A folder whose cardflow commands share the SQLite store `cardflow.db` in it."""

    def __init__(self, path: Path) -> None:
        self.path, self.store = path, path / "cardflow.db"
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("CARDFLOW_")}
        self.env["CARDFLOW_CACHE"] = os.environ.get("CARDFLOW_CACHE", "off")
        self.started: list[subprocess.Popen[str]] = []

    def users_file(self, name: str, count: int, first: int = 0) -> str:
        rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
        rows += [f"u{i:05d},User {i},u{i}@example.com,active," for i in range(first, first + count)]
        (self.path / name).write_text("\n".join(rows) + "\n")
        return name

    def start(self, *args: str) -> tuple[subprocess.Popen[str], Path]:
        """Start `cardflow ARGS...` here; its stderr goes to a file, returned with the process."""
        log = self.path / f"stderr{len(self.started)}.txt"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [CARDFLOW, *args], cwd=self.path, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr, text=True
            )
        self.started.append(process)
        return process, log

    def value(self, sql: str) -> Any:
        engine = create_engine(f"sqlite:///file:{self.store}?mode=ro&uri=true", poolclass=NullPool)
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()

    def held(self) -> bool:
        """Whether another connection holds the store's write lock now (a BEGIN IMMEDIATE that may not wait fails)."""
        engine = create_engine(
            f"sqlite:///{self.store}", poolclass=NullPool, connect_args={"timeout": 0, "isolation_level": None}
        )
        with engine.connect() as connection:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as error:
                assert lock.is_locked(error)
                return True
            connection.exec_driver_sql("ROLLBACK")
        return False

    def holder_pid(self) -> int | None:
        """The pid the holder file beside the store names, if it names a batch."""
        try:
            record = json.loads(lock.holder_file(self.store).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return int(record["pid"]) if record.get("batch") else None

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    site = Folder(tmp_path)
    try:
        yield site
    finally:
        site.stop()


def stopped_while_holding(process: subprocess.Popen[str], site: Folder) -> None:
    """Stop `process` (SIGSTOP) at a moment it holds the store's write lock and has said so in the
    holder file (not in the instant between taking the lock and writing its name there)."""
    while True:
        assert process.poll() is None, "the command ended before it was seen holding the store"
        process.send_signal(signal.SIGSTOP)
        if site.held() and site.holder_pid() == process.pid:
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.01)


def test_a_writer_waits_for_a_held_store_and_says_once_for_which_batch(folder: Folder) -> None:
    """A `users import` that finds the store held by a `run` waits as long as it is held, says once on
    stderr that it waits for that run's batch (and pid), and finishes with exit 0 once the run goes on."""
    imported = subprocess.run(
        [CARDFLOW, "users", "import", folder.users_file("users.csv", 20_000)], cwd=folder.path, env=folder.env
    )
    assert imported.returncode == 0
    batch, _ = folder.start("run", ORDER, "--all", "--as", "op1", "--batch-id", "B-held", "--connector", "simulated")
    wait_for(lambda: folder.value("SELECT count(*) FROM batches WHERE id = 'B-held'") == 1)
    stopped_while_holding(batch, folder)
    writer, said = folder.start("users", "import", folder.users_file("more.csv", 1, first=20_000))
    waiting = f"cardflow: waiting for the store: held by `run` batch B-held (pid {batch.pid})\n"
    wait_for(lambda: said.read_text() == waiting)
    assert writer.poll() is None
    batch.send_signal(signal.SIGCONT)
    assert (writer.wait(timeout=300), batch.wait(timeout=300)) == (0, 0)
    assert said.read_text() == waiting
    assert folder.value("SELECT count(*) FROM users WHERE id = 'u20000'") == 1


def test_a_locked_store_is_told_apart_from_a_damaged_one(tmp_path: Path) -> None:
    """SQLite's "database is locked" is a busy store (`is_locked`); a file that is not a database is not."""
    store = tmp_path / "c.db"
    holder = create_engine(f"sqlite:///{store}", poolclass=NullPool, connect_args={"isolation_level": None})
    waiter = create_engine(f"sqlite:///{store}", poolclass=NullPool, connect_args={"timeout": 0, "isolation_level": None})
    with holder.connect() as held:
        held.exec_driver_sql("BEGIN IMMEDIATE")
        held.exec_driver_sql("CREATE TABLE t (x)")
        with waiter.connect() as other, pytest.raises(OperationalError) as busy:
            other.exec_driver_sql("BEGIN IMMEDIATE")
        held.exec_driver_sql("ROLLBACK")
    (tmp_path / "other.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    damaged = create_engine(f"sqlite:///{tmp_path / 'other.db'}", poolclass=NullPool)
    with damaged.connect() as connection, pytest.raises(DatabaseError) as broken:
        connection.exec_driver_sql("SELECT * FROM t")
    assert (lock.is_locked(busy.value), lock.is_locked(broken.value)) == (True, False)
