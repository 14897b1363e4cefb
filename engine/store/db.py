"""The store's migrations and opening it (SQLAlchemy Core; SQLite by default, PostgreSQL by URL).

The tables (`engine.store.tables`, named here too as `db.cards` ...) describe the newest schema;
`MIGRATIONS` builds it step by step, and the version reached is recorded in `meta`. A fresh store
runs every step, so the upgrade path is the only path.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    select,
)

from engine.errors import CardflowError, UsageError
from engine.store import checks, dialect, lock, migrations
from engine.store.tables import (
    api_tokens as api_tokens,
)
from engine.store.tables import (
    batch_chunks as batch_chunks,
)
from engine.store.tables import (
    batches as batches,
)
from engine.store.tables import (
    bureau_attempts as bureau_attempts,
)
from engine.store.tables import (
    calls as calls,
)
from engine.store.tables import (
    cards as cards,
)
from engine.store.tables import (
    credentials as credentials,
)
from engine.store.tables import (
    decisions as decisions,
)
from engine.store.tables import (
    meta as meta,
)
from engine.store.tables import (
    metadata as metadata,
)
from engine.store.tables import (
    orders as orders,
)
from engine.store.tables import (
    outbox as outbox,
)
from engine.store.tables import (
    release_blobs as release_blobs,
)
from engine.store.tables import (
    release_files as release_files,
)
from engine.store.tables import (
    release_log as release_log,
)
from engine.store.tables import (
    releases as releases,
)
from engine.store.tables import (
    saved_views as saved_views,
)
from engine.store.tables import (
    sessions as sessions,
)
from engine.store.tables import (
    timer_kinds as timer_kinds,
)
from engine.store.tables import (
    timers as timers,
)
from engine.store.tables import (
    transitions as transitions,
)
from engine.store.tables import (
    users as users,
)

READ_ONLY = "cardflow_read_only"
TOKEN_DAYS = migrations.TOKEN_DAYS


MIGRATIONS = migrations.MIGRATIONS
VERSION = migrations.VERSION


def schema_version(connection: Connection) -> int:
    """The version recorded in the store (0 for an empty database)."""
    if not connection.dialect.has_table(connection, "meta"):
        return 0
    value = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value or 0)


def _schema_state(connection: Connection) -> tuple[set[str], int]:
    """The tables and the recorded version of one moment. Another command may be migrating the store
    meanwhile (a step commits its tables and its version together), so the version is read before and
    after the tables, and again until no step committed in between."""
    while True:
        before = schema_version(connection)
        tables = set(connection.dialect.get_table_names(connection))
        if schema_version(connection) == before:
            return tables, before
        connection.rollback()  # a fresh snapshot where the database gives one per transaction


def upgrade(engine: Engine, target: int = VERSION) -> int:
    """Apply the migrations the store lacks, each in its own transaction; return the version reached.

    Each step reads the version again inside its transaction, under the dialect's migration lock
    (BEGIN IMMEDIATE on SQLite), so commands opening a new store at once apply each step once."""
    while True:
        with engine.begin() as connection:
            dialect.of(connection).lock_migrations(connection)
            current = schema_version(connection)
            if current > VERSION:
                raise UsageError(f"the store has schema version {current}; this cardflow knows up to {VERSION}")
            if current >= target:
                return current
            MIGRATIONS[current](connection)
            if current == 0:
                connection.execute(meta.insert().values(key="schema_version", value="1"))
            else:
                connection.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(current + 1)))


def connect(url_or_path: str, *, mode: str = "write", migrate: bool = True) -> Engine:
    """An engine for a database URL or an SQLite file path.

    `mode="write"` (commands that write) may create a missing store and upgrades it to the newest
    schema; `mode="existing"` writes too but only to a store that exists (a missing file or an
    empty database is refused, as for `serve`); `mode="read"` opens an existing store read-only
    (SQLite: `mode=ro`), never creates or migrates it, and refuses an older schema. Either way a
    file that is empty, not SQLite, another application's database or a store that lost a table is
    refused, naming it: cardflow never creates its tables inside a foreign database. An SQLite file
    is first only read, and opened to write (WAL mode, the holder file) once it is known to be a
    cardflow store, so a refused file is left as it was. Database errors become one line with the path.
    """
    shown = url_or_path if "://" not in url_or_path else checks.hidden_password(url_or_path)
    path = checks.sqlite_path(url_or_path)
    if path is not None:
        checks.check_file(path, shown, mode)
    engine = _engine(url_or_path if path is None else checks.read_only_url(path), shown, read_only=path is not None)
    _opening(engine, shown, lambda: _check_schema(engine, shown, mode))
    if mode == "read":
        return engine
    if path is not None:  # a cardflow store, or an empty database to make one: now it may be written
        engine.dispose()
        engine = _engine(f"sqlite:///{path}", shown, read_only=False)
    if migrate:
        _opening(engine, shown, lambda: upgrade(engine))
    return engine


def _engine(url: str, shown: str, *, read_only: bool) -> Engine:
    try:
        # On a server, a pooled connection is tested before use: after a restart the console's next
        # request gets a fresh one, not the dead one's error.
        engine = create_engine(url, connect_args=_connect_args(url), pool_pre_ping=not url.startswith("sqlite"))
    except Exception as error:  # a bad URL or a missing driver: a usage error, not a traceback
        raise UsageError(f"cannot open the store {shown!r}: {error}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, read_only=read_only)
    return engine


def _check_schema(engine: Engine, shown: str, mode: str) -> None:
    with engine.connect() as connection:
        tables, version = _schema_state(connection)
    checks.check_schema(tables, version, VERSION, {table.name for table in metadata.sorted_tables}, shown, mode)


def _opening(engine: Engine, shown: str, step: Callable[[], object]) -> None:
    """Run a step of opening the store; on any error the engine is closed, a database error told in one line."""
    try:
        step()
    except CardflowError:
        engine.dispose()
        raise
    except Exception as error:
        engine.dispose()
        raise UsageError(f"cannot open the store {shown!r}: {checks.one_line_error(error)}") from None


def _connect_args(url: str) -> dict[str, Any]:
    return {"timeout": 60} if url.startswith("sqlite") else {}


def _tune_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    """WAL for concurrent readers, a long busy time-out, and BEGIN IMMEDIATE so writers queue up
    (a writer waits for the lock as long as another holds it: `engine.store.lock`).
    The WAL is copied back into the database (checkpointed) every 10,000 pages (40 MB) rather
    than SQLite's 1,000: a batch commits every chunk, and checkpointing that often was about a
    tenth of a batch's time; `checkpoint` runs one when a batch ends.

    pysqlite's own transaction handling is switched off, as the SQLAlchemy documentation advises,
    so that SQLAlchemy's `begin` issues the BEGIN. A read-only store is only read (no WAL switch,
    plain BEGIN).
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {lock.BUSY_TIMEOUT_MS}")
        if read_only:
            cursor.close()
            return
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.close()

    named = engine.url.database
    store = Path(named) if named and named != ":memory:" else None  # the file beside which the holder is noted

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        if read_only or connection.get_execution_options().get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
        else:  # waits as long as another command holds the store, and says for whom
            lock.begin_immediate(connection.connection.driver_connection, store)


def checkpoint(engine: Engine) -> None:
    """Copy what the write-ahead log holds back into the database file (SQLite; as far as readers allow)."""
    if engine.dialect.name == "sqlite":
        # on the driver's connection: a checkpoint runs outside any transaction
        with engine.connect() as connection, closing(connection.connection.cursor()) as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def reading(engine: Engine) -> Connection:
    """A connection for reads only: its transactions do not take the write lock."""
    return engine.connect().execution_options(**{READ_ONLY: True})
