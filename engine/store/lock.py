"""SQLite's write lock: taking it (waiting as long as another command holds it), and who holds it.

Every write transaction on SQLite begins with BEGIN IMMEDIATE, which takes the store's one write
lock. A command that finds it taken waits, however long the other command keeps it, and says
once on stderr for whom: "waiting for the store: held by `run` batch B... (pid N)". The holder is
known because each writer, once it has the lock, writes who it is (the command, the batch it
works, its pid) to a small file beside the store, `<store>-holder`: a row in the store could not
be read by the waiting command before the holder commits.

A locked store is busy, not damaged: `is_locked` tells such an error apart, so that it is never
reported as damage.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How long a writer waits for the lock before it says that it waits (then it keeps waiting).
NOTICE_AFTER_MS = 1000
#: SQLite's busy time-out for every other statement (reads, the journal mode at connect).
BUSY_TIMEOUT_MS = 60000
_BUSY = 5  # SQLITE_BUSY (the extended codes keep it in their low byte)
_LOCKED = 6  # SQLITE_LOCKED


@dataclass
class Holder:
    """Who this process is, as a writer that holds the store tells it to those who wait."""

    command: str = "cardflow"
    batch: str | None = None


#: This process as a holder of the lock: its command (set when the command opens the store) and batch.
HOLDER = Holder()
_told: set[str] = set()
#: The record this process last wrote to each holder file, with that file's identity.
_written: dict[Path, tuple[str, tuple[int, int, int]]] = {}


def hold_as(*, command: str | None = None, batch: str | None = None) -> None:
    """Name this process's command or the batch it works, for the commands that wait for its lock."""
    if command is not None:
        HOLDER.command = command
    if batch is not None:
        HOLDER.batch = batch


def tell(line: str) -> None:
    """The default way a waiting command says that it waits: one line on stderr."""
    print(f"cardflow: {line}", file=sys.stderr, flush=True)


def begin_immediate(driver: Any, store: Path | None, say: Callable[[str], None] = tell) -> None:
    """BEGIN IMMEDIATE on the driver's connection, waiting as long as the lock is held elsewhere
    (and saying so once for each holder), then record this process as the holder of the `store`
    file (None: a store in memory, which nobody else can hold)."""
    driver.execute(f"PRAGMA busy_timeout = {NOTICE_AFTER_MS}")
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as error:
                if not is_locked(error):
                    raise
                _notice(store, say)
    finally:
        driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if store is not None:
        _record(store)


def is_locked(error: BaseException) -> bool:
    """True for SQLite's "database is locked" (busy) errors, also wrapped by SQLAlchemy: the store is in use, not damaged."""
    original = getattr(error, "orig", None) or error
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_BUSY, _LOCKED)
    return isinstance(original, sqlite3.OperationalError) and "is locked" in str(original)


def holder_file(store: Path) -> Path:
    return store.with_name(f"{store.name}-holder")


def holder_of(store: Path | None) -> str:
    """Who holds the store's lock, in words: "`run` batch B... (pid N)", or "another program"."""
    if store is None:
        return "another program"
    try:
        data = json.loads(holder_file(store).read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another program"
    if not _alive(pid):  # a holder that has exited is not the one holding the lock now
        return "another program"
    batch = f" batch {data['batch']}" if data.get("batch") else ""
    return f"`{data.get('command')}`{batch} (pid {pid})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _notice(store: Path | None, say: Callable[[str], None]) -> None:
    line = f"waiting for the store: held by {holder_of(store)}"
    if line not in _told:
        _told.add(line)
        say(line)


def _record(store: Path) -> None:
    """Write this process as the holder (whole, then renamed into place), unless the file is still
    the one it last wrote (no other writer came between): a file costs a millisecond or two, a
    look at it microseconds. A folder that refuses the file only costs the waiting commands the
    holder's name."""
    record = json.dumps({"command": HOLDER.command, "batch": HOLDER.batch, "pid": os.getpid()})
    target = holder_file(store)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        known = _written.get(target)
        if known is not None and known == (record, _identity(target)):
            return
        partial.write_text(record, encoding="utf-8")
        os.replace(partial, target)
        _written[target] = (record, _identity(target))
    except OSError:
        _written.pop(target, None)
        partial.unlink(missing_ok=True)


def _identity(path: Path) -> tuple[int, int, int]:
    """What tells one file at `path` from another written there later."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
