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
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)

from engine.clock import later, now
from engine.errors import CardflowError, UsageError
from engine.store import checks, dialect, folding, lock
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
    sessions as sessions,
)
from engine.store.tables import (
    transitions as transitions,
)
from engine.store.tables import (
    users as users,
)

READ_ONLY = "cardflow_read_only"
TOKEN_DAYS = 90  # an API token's lifetime unless `users token --expires` says otherwise


def _v1(connection: Connection) -> None:
    """The first schema: every table as it is now, but cards without `open_key` and fields, the outbox
    without delivery, users without their search columns and audit rows without the fields they set."""
    later = (outbox, cards, users, transitions, bureau_attempts, batch_chunks, credentials, api_tokens, sessions)  # made later
    metadata.create_all(connection, tables=[table for table in metadata.sorted_tables if table not in later])
    first = MetaData()
    Table(
        "users",
        first,
        Column("id", String, primary_key=True),
        Column("name", Text, nullable=False),
        Column("email", Text, nullable=False),
        Column("state", String, nullable=False),
        Column("roles", Text, nullable=False),
        Column("attributes", Text, nullable=False),
        Column("updated_at", String, nullable=False),
    )
    cards_v1 = Table(
        "cards",
        first,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("user_id", String, nullable=False, index=True),
        Column("process", String, nullable=False),
        Column("state", String, nullable=False, index=True),
        Column("open", Boolean, nullable=False),
        Column("requester", String, nullable=False),
        Column("production_type", String),
        Column("batch_id", String, nullable=False),
        Column("created_at", String, nullable=False),
        Column("updated_at", String, nullable=False),
        UniqueConstraint("batch_id", "user_id", name="one_card_per_user_and_batch"),
    )
    Index("cards_user_process", cards_v1.c.user_id, cards_v1.c.process)
    audit = (Column(name, String, nullable=False) for name in ("process", "trigger", "source", "dest", "actor", "at"))
    Table("transitions", first, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("card_id", Integer, nullable=False, index=True),
          *audit, Column("batch_id", String), Column("fingerprint", String, nullable=False),
          Column("decision_id", String, nullable=False), Column("reason", Text))  # fmt: skip
    outbox_v1 = Table(
        "outbox",
        first,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("dedupe_key", String, nullable=False, unique=True),
        Column("card_id", Integer),
        Column("batch_id", String),
        Column("template", String, nullable=False),
        Column("recipient", Text, nullable=False),
        Column("recipient_user", String, nullable=False),
        Column("locale", String),
        Column("context", Text, nullable=False),
        Column("status", String, nullable=False),
        Column("created_at", String, nullable=False),
    )
    Index("outbox_status", outbox_v1.c.status)
    first.create_all(connection)


def _v2(connection: Connection) -> None:
    """Delivery of emails: rendered parts, Message-ID, attempts and back-off."""
    for name, kind in (
        ("subject", "TEXT"),
        ("body_text", "TEXT"),
        ("body_html", "TEXT"),
        ("message_id", "VARCHAR"),
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("next_attempt_at", "VARCHAR"),
        ("error", "TEXT"),
        ("sent_at", "VARCHAR"),
    ):
        connection.execute(text(f"ALTER TABLE outbox ADD COLUMN {name} {kind}"))


def _v3(connection: Connection) -> None:
    """One open card per user of an exclusive process, enforced by a unique index (NULLs do not collide)."""
    connection.execute(text("ALTER TABLE cards ADD COLUMN open_key VARCHAR"))
    connection.execute(text("CREATE UNIQUE INDEX one_open_card ON cards (process, open_key)"))


def _outbox_history(connection: Connection) -> None:
    """The outbox keeps each email's attempt history (failures and re-queues by `outbox retry`)."""
    connection.execute(text("ALTER TABLE outbox ADD COLUMN history TEXT"))


def _bureau_attempts(connection: Connection) -> None:
    """Each order attempt the bureau did not answer (time-out, 5xx, connection lost), with its error and time."""
    bureau_attempts.create(connection)


def _indexes_for_reads(connection: Connection) -> None:
    """Indexes for every read a command runs: a card's emails (`explain`), batches in order; and
    `ix_cards_user_id` dropped, as `cards_user_process` leads with the same column (one index
    less to write per card)."""
    connection.execute(text("DROP INDEX IF EXISTS ix_cards_user_id"))
    connection.execute(text("CREATE INDEX IF NOT EXISTS outbox_card ON outbox (card_id)"))
    connection.execute(text("CREATE INDEX IF NOT EXISTS batches_created ON batches (created_at, id)"))


def _batch_chunks(connection: Connection) -> None:
    """The chunks of batches worked by `cardflow worker`: one row per key range of users, with its outcome."""
    batch_chunks.create(connection)


def _console_logins(connection: Connection) -> None:
    """Console log-ins: argon2 password hashes with failure counts, and hashed API tokens."""
    metadata.create_all(connection, tables=[credentials])
    first = MetaData()
    Table("api_tokens", first, Column("token_hash", String, primary_key=True),
          Column("user_id", String, nullable=False, index=True), Column("created_at", String, nullable=False))  # fmt: skip
    first.create_all(connection)


def _sessions_and_token_expiry(connection: Connection) -> None:
    """Console sessions in the store (so that they can be ended), and API tokens with a public id and
    an expiry: the tokens already issued get TOKEN_DAYS from the upgrade."""
    sessions.create(connection)
    connection.execute(text("ALTER TABLE api_tokens ADD COLUMN token_id VARCHAR"))
    connection.execute(text("ALTER TABLE api_tokens ADD COLUMN expires_at VARCHAR"))
    expires = later(now(), days=TOKEN_DAYS)
    connection.execute(api_tokens.update().values(token_id=func.substr(api_tokens.c.token_hash, 1, 12), expires_at=expires))
    connection.execute(text("CREATE UNIQUE INDEX api_tokens_token_id ON api_tokens (token_id)"))


def _card_fields(connection: Connection) -> None:
    """Card fields (engine.definitions.fields): their values on each card, a JSON object (`{}` for
    the cards already stored), and on each step's audit row the fields it set."""
    connection.execute(text("ALTER TABLE cards ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'"))
    connection.execute(text("ALTER TABLE transitions ADD COLUMN fields TEXT"))


def _folded_search(connection: Connection) -> None:
    """The users' name and department in lower case (Unicode, accents kept) for the console's
    search, filled for the users already stored; departments found through an index."""
    connection.execute(text("ALTER TABLE users ADD COLUMN folded_name TEXT"))
    connection.execute(text("ALTER TABLE users ADD COLUMN folded_department TEXT"))
    folding.fill_folded(connection)
    connection.execute(text("CREATE INDEX users_department ON users (folded_department, id)"))


def _groups_and_requested_by(connection: Connection) -> None:
    """Exclusivity across processes: an open key is `GROUP:USER`, unique on its own (the keys stored
    are of each process's own group, named after it); and each card's `requested_by`, the actor of
    the last move into its state (else its requester)."""
    connection.execute(text("UPDATE cards SET open_key = process || ':' || open_key WHERE open_key IS NOT NULL"))
    connection.execute(text("DROP INDEX one_open_card"))
    connection.execute(text("CREATE UNIQUE INDEX one_open_card_per_group ON cards (open_key)"))
    connection.execute(text("ALTER TABLE cards ADD COLUMN requested_by VARCHAR"))
    moved_in = (
        "SELECT t.actor FROM transitions t WHERE t.card_id = cards.id AND t.dest = cards.state AND t.source <> t.dest "
        "ORDER BY t.id DESC LIMIT 1"
    )
    connection.execute(text(f"UPDATE cards SET requested_by = COALESCE(({moved_in}), requester)"))


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1,
    _v2,
    _v3,
    _outbox_history,
    _bureau_attempts,
    _indexes_for_reads,
    _batch_chunks,
    _console_logins,
    _folded_search,
    _sessions_and_token_expiry,
    _groups_and_requested_by,
    _card_fields,
]
VERSION = len(MIGRATIONS)


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
        engine = create_engine(url, connect_args=_connect_args(url))
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
