"""The store's tables and migrations (SQLAlchemy Core; SQLite by default, PostgreSQL by URL).

The table objects describe the newest schema; `MIGRATIONS` builds it step by step, and the
version reached is recorded in `meta`. A fresh store runs every step, so the upgrade path is the
only path. Timestamps are ISO-8601 text in UTC; JSON is text, so both databases read it alike.
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
    select,
    text,
)

from engine.errors import UsageError

metadata = MetaData()
READ_ONLY = "cardflow_read_only"

meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text, nullable=False))

users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("state", String, nullable=False),
    Column("roles", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("updated_at", String, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String, primary_key=True),
    Column("process", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("production_type", String),
    Column("options", Text, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("selection", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("created", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("created_at", String, nullable=False),
    Column("finished_at", String),
)

cards = Table(
    "cards",
    metadata,
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
    # version 3: the user of an open card of an exclusive process; unique per process
    Column("open_key", String),
)

decisions = Table("decisions", metadata, Column("id", String, primary_key=True), Column("trace", Text, nullable=False))

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", Integer, nullable=False, index=True),
    Column("process", String, nullable=False),
    Column("trigger", String, nullable=False),
    Column("source", String, nullable=False),
    Column("dest", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("at", String, nullable=False),
    Column("batch_id", String),
    Column("fingerprint", String, nullable=False),
    Column("decision_id", String, nullable=False),
    Column("reason", Text),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", Integer, nullable=False, index=True),
    Column("idempotency_key", String, nullable=False),
    Column("connector", String, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("order_id", String),
    Column("message", Text),
    Column("at", String, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
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
    # version 2: delivery
    Column("subject", Text),
    Column("body_text", Text),
    Column("body_html", Text),
    Column("message_id", String),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String),
    Column("error", Text),
    Column("sent_at", String),
)

# version 4: console log-ins; a row per user who has a password or API tokens
credentials = Table(
    "credentials",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("password_hash", Text),
    Column("failures", Integer, nullable=False, default=0),
    Column("failed_at", String),
    Column("updated_at", String, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String, primary_key=True),
    Column("user_id", String, nullable=False, index=True),
    Column("created_at", String, nullable=False),
)

Index("outbox_status", outbox.c.status)
Index("cards_user_process", cards.c.user_id, cards.c.process)
Index("one_open_card", cards.c.process, cards.c.open_key, unique=True)


def _v1(connection: Connection) -> None:
    """The first schema: every table as it is now, but cards without `open_key` and the outbox without delivery."""
    later = (outbox, cards, credentials, api_tokens)
    metadata.create_all(connection, tables=[table for table in metadata.sorted_tables if table not in later])
    first = MetaData()
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


def _v4(connection: Connection) -> None:
    """Console log-ins: argon2 password hashes with failure counts, and hashed API tokens."""
    metadata.create_all(connection, tables=[credentials, api_tokens])


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4]
VERSION = len(MIGRATIONS)


def schema_version(connection: Connection) -> int:
    """The version recorded in the store (0 for an empty database)."""
    if not connection.dialect.has_table(connection, "meta"):
        return 0
    value = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value or 0)


def upgrade(engine: Engine, target: int = VERSION) -> int:
    """Apply the migrations the store lacks, each in its own transaction; return the version reached."""
    with engine.begin() as connection:
        current = schema_version(connection)
    if current > VERSION:
        raise UsageError(f"the store has schema version {current}; this cardflow knows up to {VERSION}")
    for version in range(current + 1, target + 1):
        with engine.begin() as connection:
            MIGRATIONS[version - 1](connection)
            if version == 1:
                connection.execute(meta.insert().values(key="schema_version", value="1"))
            else:
                connection.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))
    return max(current, target)


def connect(url_or_path: str, *, migrate: bool = True) -> Engine:
    """An engine for a database URL or an SQLite file path, upgraded to the newest schema."""
    url = url_or_path if "://" in url_or_path else f"sqlite:///{Path(url_or_path)}"
    try:
        engine = create_engine(url, connect_args=_connect_args(url))
    except Exception as error:  # a bad URL or a missing driver: a usage error, not a traceback
        raise UsageError(f"cannot open the store {url_or_path!r}: {error}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    if migrate:
        try:
            upgrade(engine)
        except UsageError:
            raise
        except Exception as error:
            raise UsageError(f"cannot open the store {url_or_path!r}: {str(error).splitlines()[0]}") from None
    return engine


def _connect_args(url: str) -> dict[str, Any]:
    return {"timeout": 60} if url.startswith("sqlite") else {}


def _tune_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, a long busy time-out, and BEGIN IMMEDIATE so writers queue up.
    The WAL is copied back into the database (checkpointed) every 10,000 pages (40 MB) rather
    than SQLite's 1,000: a batch commits every chunk, and checkpointing that often was about a
    tenth of a batch's time; `checkpoint` runs one when a batch ends.

    pysqlite's own transaction handling is switched off, as the SQLAlchemy documentation advises,
    so that SQLAlchemy's `begin` issues the BEGIN.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def checkpoint(engine: Engine) -> None:
    """Copy what the write-ahead log holds back into the database file (SQLite; as far as readers allow)."""
    if engine.dialect.name == "sqlite":
        # on the driver's connection: a checkpoint runs outside any transaction
        with engine.connect() as connection, closing(connection.connection.cursor()) as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def reading(engine: Engine) -> Connection:
    """A connection for reads only: its transactions do not take the write lock."""
    return engine.connect().execution_options(**{READ_ONLY: True})
