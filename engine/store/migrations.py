"""The store's schema, step by step: `MIGRATIONS[n]` takes a store from version n to n + 1, and a
fresh store runs every step, so the upgrade path is the only path (`engine.store.db.upgrade`)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from engine.clock import later, now
from engine.store import folding
from engine.store.tables import (
    ONE_RELEASE,
    api_tokens,
    batch_chunks,
    batches,
    bureau_attempts,
    calls,
    cards,
    credentials,
    metadata,
    outbox,
    release_blobs,
    release_files,
    release_log,
    releases,
    saved_views,
    sessions,
    timer_kinds,
    timers,
    transitions,
    users,
)

TOKEN_DAYS = 90  # an API token's lifetime unless `users token --expires` says otherwise


def _v1(connection: Connection) -> None:
    """The first schema: every table as it is now, but cards without `open_key` and fields, the outbox
    without delivery, users without their search columns and audit rows without the fields they set."""
    later = (
        batches,
        saved_views,
        outbox,
        calls,
        timers,
        timer_kinds,
        cards,
        users,
        transitions,
        bureau_attempts,
        batch_chunks,
        credentials,
        api_tokens,
        sessions,
        releases,
        release_files,
        release_blobs,
        release_log,
    )  # later
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
    Table("batches", first, Column("id", String, primary_key=True),
          *(Column(name, String, nullable=False) for name in ("process", "actor")), Column("production_type", String),
          Column("options", Text, nullable=False), Column("fingerprint", String, nullable=False),
          Column("selection", Text, nullable=False), Column("status", String, nullable=False),
          *(Column(name, Integer, nullable=False, default=0) for name in ("created", "skipped")),
          Column("created_at", String, nullable=False), Column("finished_at", String))  # fmt: skip
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
    Table(
        "api_tokens",
        first,
        Column("token_hash", String, primary_key=True),
        Column("user_id", String, nullable=False, index=True),
        Column("created_at", String, nullable=False),
    )
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


def _calls(connection: Connection) -> None:
    """The durable outbox of external calls (`invoke`): written with the state change, sent after it."""
    calls.create(connection)


def _timers(connection: Connection) -> None:
    """Timers on states: armed with a state change, fired once when due (what each is, on each row)."""
    Table(
        "timers",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("card_id", Integer, nullable=False),
        *(Column(name, String, nullable=False) for name in ("process", "state")),
        Column("timer", Integer, nullable=False),
        *(Column(name, String, nullable=False) for name in ("location", "trigger", "due_at")),
        Column("fired", Integer, nullable=False, default=0),
        Column("status", String, nullable=False),
        Column("message", Text),
        Column("armed_at", String, nullable=False),
        Column("fired_at", String),
        Index("timers_due", "status", "due_at"),
        Index("timers_card", "card_id", "status"),
    ).create(connection)


def _cards_by_state_and_move(connection: Connection) -> None:
    """Cards by state, process and last move, replacing `ix_cards_state` (which every move wrote
    anyway): the incidents count the cards waiting in a state from the index alone."""
    connection.execute(text("CREATE INDEX IF NOT EXISTS cards_state_moved ON cards (state, process, updated_at)"))
    connection.execute(text("DROP INDEX IF EXISTS ix_cards_state"))


def _bulk_actions(connection: Connection) -> None:
    """Bulk actions: a run over cards keeps its trigger and reason (to be resumed as asked) and who
    paused it; each console user's saved views of a list."""
    for name, kind in (("trigger", "VARCHAR"), ("reason", "TEXT"), ("paused_by", "VARCHAR")):
        connection.execute(text(f"ALTER TABLE batches ADD COLUMN {name} {kind}"))
    saved_views.create(connection)


def _timerless_cards(connection: Connection) -> None:
    """Each card's `timerless` (in a state with timers, none armed for it now: engine.store.timers.settle),
    filled for the cards stored (a state some timer was armed in has timers); the index the incidents
    count the cards waiting with no timer from replaces `cards_state_moved` (`timerless` added before
    the moment)."""
    connection.execute(text("ALTER TABLE cards ADD COLUMN timerless BOOLEAN NOT NULL DEFAULT FALSE"))
    # each subquery once, not a search of the timers per card (that took minutes over 1,000,000 cards)
    timed_states = "SELECT DISTINCT state, process FROM timers"
    armed = "SELECT card_id FROM timers WHERE status = 'armed'"
    waiting = f"(state, process) IN ({timed_states}) AND id NOT IN ({armed})"
    connection.execute(text(f"UPDATE cards SET timerless = TRUE WHERE {waiting}"))
    connection.execute(text("CREATE INDEX IF NOT EXISTS cards_waiting ON cards (state, process, timerless, updated_at)"))
    connection.execute(text("DROP INDEX IF EXISTS cards_state_moved"))


def _releases(connection: Connection) -> None:
    """The workspace as releases in the store: their files (each file's bytes once) and their log."""
    for table in (releases, release_files, release_blobs, release_log):
        table.create(connection)
    for status, name in ONE_RELEASE.items():  # the same statement on both stores
        connection.execute(text(f"CREATE UNIQUE INDEX {name} ON releases (status) WHERE status = '{status}'"))


def _by_card_and_status(connection: Connection) -> None:
    """A card's timers and calls by card and status, replacing the indexes by card alone: with both a
    card's and a status's index to choose from, SQLite searched every armed timer for each card it
    settled (`engine.store.timers.settle`: 10,000 fired timers among 100,000 armed took 16 s instead
    of 0.1), and every pending call for each card a run over cards pages through."""
    for table in ("timers", "calls"):
        connection.execute(text(f"CREATE INDEX IF NOT EXISTS {table}_card ON {table} (card_id, status)"))
        connection.execute(text(f"DROP INDEX IF EXISTS ix_{table}_card_id"))


def _cards_by_process_and_state(connection: Connection) -> None:
    """Cards by process, state and id: a run over the cards of a process in a state reads each page
    from the index, in id order (through `cards_waiting` it sorted every card still in the state at
    each page: 3.2 of the 38 s of "Issue multiple cards" over 100,000 cards, growing with their square)."""
    connection.execute(text("CREATE INDEX IF NOT EXISTS cards_process_state ON cards (process, state, id)"))


def _timer_kinds(connection: Connection) -> None:
    """What a timer is (its process, state, index, declaration and trigger) kept once in `timer_kinds`,
    each armed timer naming its kind: a row of 140 bytes a card became one of about 60."""
    timer_kinds.create(connection)
    names = ("process", "state", "timer", "location", "trigger")
    head = ", ".join(names)
    connection.execute(text(f"INSERT INTO timer_kinds ({head}) SELECT DISTINCT {head} FROM timers ORDER BY {head}"))
    connection.execute(text("ALTER TABLE timers ADD COLUMN kind INTEGER NOT NULL DEFAULT 0"))
    same = " AND ".join(f"timer_kinds.{name} = timers.{name}" for name in names)
    connection.execute(text(f"UPDATE timers SET kind = (SELECT timer_kinds.id FROM timer_kinds WHERE {same})"))
    for name in names:
        connection.execute(text(f"ALTER TABLE timers DROP COLUMN {name}"))


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
    _calls,
    _timers,
    _cards_by_state_and_move,
    _bulk_actions,
    _timerless_cards,
    _releases,
    _by_card_and_status,
    _cards_by_process_and_state,
    _timer_kinds,
]
VERSION = len(MIGRATIONS)
