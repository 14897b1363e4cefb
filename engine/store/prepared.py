"""Reads that a short command runs without importing SQLAlchemy: on an SQLite store, statements
compiled once and kept on disk, run on Python's sqlite3 (SQLAlchemy's import is most of the
start-up of a read command such as `cards`: bench/startup.py).

A listing asks for rows by a statement's *shape* (one name per way it can be built) and a function
that builds it with SQLAlchemy Core, its values as named bound parameters. `Through` runs it on a
SQLAlchemy connection (PostgreSQL, the console, any command that writes); `Kept` runs the SQL it
compiled for SQLite, kept in the cache folder (`engine.kept`) under a digest of the code that
builds it (the store's modules, SQLAlchemy and Python's version). A kept file that is missing,
stale or torn costs one compile (SQLAlchemy is imported then), so both ways read the same query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from engine import kept
from engine.errors import CardflowError, UsageError
from engine.store import checks, lock

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: A function that builds a statement with SQLAlchemy Core (imported only when it is called).
Build = Callable[[], Any]
#: The tables of an SQLite database, as SQLAlchemy's inspector lists them.
_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
_HERE = Path(__file__).resolve().parent


class Reads(Protocol):
    """Where a listing reads: the rows of the statement `build` makes (named `shape`), with `params`."""

    def rows(self, shape: str, build: Build, **params: Any) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Through:
    """Reads on a SQLAlchemy connection."""

    connection: Connection

    def rows(self, shape: str, build: Build, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.connection.execute(build(), params)]


def reads(source: Connection | Reads) -> Reads:
    """`source` as Reads: a SQLAlchemy connection is read `Through`."""
    return source if isinstance(source, Through | Kept) else Through(cast("Connection", source))


@dataclass(frozen=True)
class Statement:
    """A statement compiled for SQLite: its SQL, its parameters' names in order, the values of those
    the statement holds (a literal in a comparison), the columns it returns as booleans (sqlite3
    gives 0 and 1, SQLAlchemy True and False)."""

    sql: str
    params: tuple[str, ...]
    values: dict[str, Any]
    booleans: tuple[int, ...]


@dataclass
class Statements:
    """The statements kept in one file, with what the schema check needs from the tables' code."""

    newest: int
    tables: frozenset[str]
    compiled: dict[str, Statement] = field(default_factory=dict)
    added: bool = False

    def get(self, shape: str, build: Build) -> Statement:
        found = self.compiled.get(shape)
        if found is None:
            found = self.compiled[shape] = compile_for_sqlite(build())
            self.added = True
        return found


@dataclass(frozen=True)
class Kept:
    """Reads on Python's sqlite3 by the statements kept on disk."""

    connection: sqlite3.Connection
    statements: Statements

    def rows(self, shape: str, build: Build, **params: Any) -> list[tuple[Any, ...]]:
        statement = self.statements.get(shape, build)
        given = {**statement.values, **params}
        found = self.connection.execute(statement.sql, [given[name] for name in statement.params]).fetchall()
        if statement.booleans:
            found = [_with_booleans(row, statement.booleans) for row in found]
        return found


def compile_for_sqlite(query: Any) -> Statement:
    """`query` (SQLAlchemy Core, bound parameters named) as SQLite runs it."""
    from sqlalchemy import Boolean
    from sqlalchemy.dialects import sqlite

    compiled = query.compile(dialect=sqlite.dialect())
    booleans = tuple(index for index, column in enumerate(query.selected_columns) if isinstance(column.type, Boolean))
    held = {name: value for name, value in compiled.params.items() if value is not None}
    return Statement(compiled.string, tuple(compiled.positiontup or ()), held, booleans)


@contextmanager
def kept_reads(path: Path, shown: str) -> Iterator[Kept]:
    """Reads of the SQLite store at `path` (shown as `shown`), opened read-only in one snapshot and
    checked as `engine.store.db.connect` checks a store opened to read."""
    checks.check_file(path, shown, "read")
    folder = kept.cache_folder()
    entry, key = (folder / "statements-sqlite.pickle", _code_key()) if folder is not None else (None, "")
    statements = kept.read(entry, key) if entry is not None else None
    if not isinstance(statements, Statements):
        statements = _fresh()
    try:
        connection = sqlite3.connect(checks.read_only_uri(path), uri=True, timeout=60, isolation_level=None)
    except sqlite3.Error as error:
        raise UsageError(f"cannot open the store {shown!r}: {checks.one_line_error(error)}") from None
    try:
        _open(connection, statements, shown)
        yield Kept(connection, statements)
    finally:
        connection.close()
        if statements.added and entry is not None:
            statements.added = False
            kept.write(entry, key, statements)


def _open(connection: sqlite3.Connection, statements: Statements, shown: str) -> None:
    """Begin the snapshot every read sees, then check the schema (one line on any error)."""
    try:
        connection.execute(f"PRAGMA busy_timeout = {lock.BUSY_TIMEOUT_MS}")
        connection.execute("BEGIN")
        tables = {name for (name,) in connection.execute(_TABLES)}
        recorded = Kept(connection, statements).rows("schema version", _schema_version) if "meta" in tables else []
        version = int(recorded[0][0] or 0) if recorded else 0
    except CardflowError:
        raise
    except Exception as error:
        raise UsageError(f"cannot open the store {shown!r}: {checks.one_line_error(error)}") from None
    checks.check_schema(tables, version, statements.newest, set(statements.tables), shown, "read")


def _schema_version() -> Any:
    from sqlalchemy import select

    from engine.store.db import meta

    return select(meta.c.value).where(meta.c.key == "schema_version")


def _fresh() -> Statements:
    """No statement kept yet: the schema this cardflow writes, from the tables' code."""
    from engine.store.db import VERSION, metadata

    return Statements(VERSION, frozenset(str(table.name) for table in metadata.sorted_tables))


def _code_key() -> str:
    """The digest of the code the kept statements come from: the store's modules, the records they
    read, SQLAlchemy (by its package's files at the top) and Python."""
    files = [*sorted(_HERE.glob("*.py")), _HERE.parent / "records.py"]
    spec = find_spec("sqlalchemy")
    if spec is not None and spec.origin:
        files.append(Path(spec.origin))
    return kept.code_digest(files).hexdigest()


def _with_booleans(row: tuple[Any, ...], booleans: tuple[int, ...]) -> tuple[Any, ...]:
    return tuple(bool(value) if index in booleans and value is not None else value for index, value in enumerate(row))
