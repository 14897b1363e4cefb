"""Is it a cardflow store? The checks made when a store is opened: the file (missing, empty, not
SQLite) and the schema (another application's tables, a version this cardflow cannot use, a lost
table), each refused with one line naming the store; and database errors told in one line."""

from __future__ import annotations

import os
import re
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from engine.errors import UsageError

SQLITE_HEADER = b"SQLite format 3\x00"
#: The byte of an SQLite file's header that holds 2 when the database is in WAL mode.
WAL_MODE_AT = 18


def one_line_error(error: BaseException) -> str:
    """A database error in one line, without the SQL statement or its parameters."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def from_the_database(error: BaseException) -> bool:
    """An error of the database or its driver (told as one line with the store's path, never SQL)."""
    return type(error).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg", "_sqlite3")


def hidden_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def store_location(location: str | None = None) -> str:
    """Where the store is: --db, else $CARDFLOW_DB, else cardflow.db in the current folder."""
    return location or os.environ.get("CARDFLOW_DB") or "cardflow.db"


def sqlite_path(url_or_path: str) -> Path | None:
    if "://" not in url_or_path:
        return Path(url_or_path)
    if url_or_path.startswith("sqlite:///") and "?" not in url_or_path and url_or_path != "sqlite:///:memory:":
        return Path(url_or_path.removeprefix("sqlite:///"))
    return None


#: What a command that only serves an existing store (`mode="existing"`) says of a missing one.
NO_STORE_TO_SERVE = "check --db or CARDFLOW_DB; --create makes a new one"


def check_file(path: Path, shown: str, mode: str) -> None:
    """A store file that exists is an SQLite file with content and no other store's write-ahead log
    beside it; a missing one is created only to write."""
    if not path.exists():
        _missing(path, shown, mode)
        return
    if path.is_dir():
        raise UsageError(f"the store {shown} is a folder, not a database file")
    try:
        with path.open("rb") as file:
            header = file.read(WAL_MODE_AT + 1)
    except OSError as error:
        raise UsageError(f"cannot read the store {shown}: {error.strerror}") from None
    if not header:
        raise UsageError(
            f"the store {shown} is an empty file, not a cardflow store (its data is gone): restore it from a backup, "
            "or remove it to start a new store"
        )
    if header[: len(SQLITE_HEADER)] != SQLITE_HEADER:
        raise UsageError(f"{shown} is not an SQLite database, so not a cardflow store")
    if header[WAL_MODE_AT:] != b"\x02" and _holds_pages(_log_of(path)):  # SQLite would read it even so
        raise _stray_log(path, shown, "beside a database that keeps no write-ahead log")


def _missing(path: Path, shown: str, mode: str) -> None:
    """No file at `path`: refused to read; created to write, unless another store's log lies there."""
    if mode == "read":
        raise UsageError(f"no store at {shown} (only commands that write create one; check --db or CARDFLOW_DB)")
    if mode == "existing":
        raise UsageError(f"no store at {shown} ({NO_STORE_TO_SERVE})")
    if _holds_pages(_log_of(path)) and not path.exists():  # a store made meanwhile (its log after it) is opened
        raise _stray_log(path, shown, "where no store is")
    _create(path, shown)


def _log_of(path: Path) -> Path:
    return path.with_name(f"{path.name}-wal")


def _holds_pages(log: Path) -> bool:
    try:
        return log.stat().st_size > 0
    except FileNotFoundError:
        return False


def _stray_log(path: Path, shown: str, where: str) -> UsageError:
    """A write-ahead log that is not the store's: SQLite would take its pages for the store's (and copy them in)."""
    return UsageError(
        f"{shown}-wal is the write-ahead log of another database, {where}: cardflow leaves both alone; "
        f"move {_log_of(path).name} away (or put back the database it belongs to)"
    )


def read_only_url(path: Path) -> str:
    """The SQLAlchemy URL that opens the SQLite file at `path` only to read it (see `read_only_uri`)."""
    return f"sqlite:///{read_only_uri(path)}&uri=true"


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens the file at `path` only to read it. A store in WAL mode is read through
    its shared-memory file (`-shm`): one that exists is used (read-only if need be), so every commit is
    seen; where there is none and this user may not make one (the file or its folder is read-only), the
    file is read `immutable`, as it is on disk."""
    shared = path.with_name(f"{path.name}-shm")
    may_make = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    immutable = "" if shared.exists() or may_make else "&immutable=1"
    return f"file:{quote_path(path)}?mode=ro{immutable}"


def _create(path: Path, shown: str) -> None:
    """A new, empty SQLite file at `path`, made beside it and linked into place whole, so another
    command opening the same new store at the same moment never sees it empty (which is refused)."""
    import sqlite3

    spare = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        with closing(sqlite3.connect(spare)) as connection:
            connection.execute("PRAGMA journal_mode = WAL")  # writes the header: the file is a database
        os.link(spare, path)
    except FileExistsError:
        pass  # another command made it first: open theirs
    except (OSError, sqlite3.Error) as error:
        raise UsageError(f"cannot create the store {shown}: {getattr(error, 'strerror', None) or error}") from None
    finally:
        spare.unlink(missing_ok=True)


def check_schema(tables: set[str], version: int, newest: int, expected: set[str], shown: str, mode: str) -> None:
    """The database (its `tables`, its recorded `version`) is a cardflow store, or empty to be made
    one, at a version this cardflow (`newest`, with the `expected` tables) can use."""
    if version == 0 and tables:
        listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise UsageError(f"{shown} is not a cardflow store (it holds other tables: {listed}); cardflow leaves it alone")
    if version > newest:
        raise UsageError(f"the store has schema version {version}; this cardflow knows up to {newest}")
    if mode == "existing" and version == 0:
        raise UsageError(f"{shown} is an empty database, not yet a cardflow store ({NO_STORE_TO_SERVE})")
    if mode == "read" and version < newest:
        raise UsageError(
            f"the store {shown} has schema version {version}, this cardflow needs {newest}: "
            f"`cardflow check-store --upgrade --db {shown}` upgrades it (keep a backup)"
            if version
            else f"{shown} is an empty database, not yet a cardflow store"
        )
    if version == newest or (mode == "read" and version):
        missing = sorted(expected - tables)
        if missing:
            raise UsageError(f"the store {shown} lacks its table(s) {', '.join(missing)}: restore it from a backup")


def quote_path(path: Path) -> str:
    """A file path as it goes into an SQLite URI (`file:PATH?mode=ro`)."""
    return quote(str(path))
