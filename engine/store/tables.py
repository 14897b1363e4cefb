"""The store's tables as the newest schema describes them (SQLAlchemy Core). Timestamps are ISO-8601
text in UTC; JSON is text, so SQLite and PostgreSQL read it alike. `engine.store.db` builds them
step by step through its migrations."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint, false

metadata = MetaData()

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
    # version 9: the name and the department in lower case, for the console's search (folding.py)
    Column("folded_name", Text),
    Column("folded_department", Text),
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
    # version 16: a run over cards: its trigger and reason (to resume it as it was asked), who paused it
    Column("trigger", String),
    Column("reason", Text),
    Column("paused_by", String),
)

cards = Table(
    "cards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String, nullable=False),  # found through cards_user_process (version 4 dropped ix_cards_user_id)
    Column("process", String, nullable=False),
    Column("state", String, nullable=False),  # found through cards_waiting (version 15 dropped ix_cards_state)
    Column("open", Boolean, nullable=False),
    Column("requester", String, nullable=False),
    Column("production_type", String),
    Column("batch_id", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
    UniqueConstraint("batch_id", "user_id", name="one_card_per_user_and_batch"),
    # version 3: the user of an open card of an exclusive process; version 11: `GROUP:USER`, unique
    # over the exclusivity group (a process's own group is named after it)
    Column("open_key", String),
    # version 11: who made the request the card waits on (the actor of the move into its state)
    Column("requested_by", String),
    # version 12: the values of the card fields its lifecycle declares, as a JSON object
    Column("fields", Text, nullable=False, server_default="{}"),
    # version 17: in a state with timers, none is armed for the card now (engine.store.timers.settle)
    Column("timerless", Boolean, nullable=False, server_default=false()),
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
    # version 12: the card fields the step set, as a JSON object (None: it set none)
    Column("fields", Text),
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
    # attempt history: every failed attempt and every re-queue, as a JSON list
    Column("history", Text),
)

bureau_attempts = Table(
    "bureau_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", Integer, nullable=False, index=True),
    Column("idempotency_key", String, nullable=False),
    Column("connector", String, nullable=False),
    Column("at", String, nullable=False),
    Column("error", Text, nullable=False),
)

# version 13: the durable outbox of external calls (`invoke`): a row written with the state change
# that makes the call, sent after its commit, retried under the same idempotency key until answered
calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String, nullable=False, unique=True),
    Column("card_id", Integer, nullable=False),
    Column("connector", String, nullable=False),
    Column("operation", String, nullable=False),
    Column("payload", Text, nullable=False),
    # what to finish once the answer is in: the trigger fired on the card from `source`, by whom, how
    Column("process", String, nullable=False),
    Column("trigger", String, nullable=False),
    Column("source", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("batch_id", String),
    Column("reason", Text),
    Column("status", String, nullable=False),  # pending | answered | cancelled
    Column("outcome", String),  # accepted | refused (unavailable: still pending)
    Column("reference", String),
    Column("message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String, nullable=False),
    Column("created_at", String, nullable=False),
    Column("answered_at", String),
    Index("calls_due", "status", "next_attempt_at"),
    Index("calls_card", "card_id", "status"),  # version 19, replacing ix_calls_card_id
)

# version 14: timers on states: armed with the change that brings a card into a state, dropped when
# it leaves, fired once when due (each repetition its own row); version 21: what the timer is (its
# process, state, declaration and trigger) kept once in `timer_kinds`, a row a card as small as it goes
timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_id", Integer, nullable=False),
    Column("due_at", String, nullable=False),
    Column("fired", Integer, nullable=False, default=0),  # how many times the timer fired before this row
    Column("status", String, nullable=False),  # armed | fired | refused
    Column("message", Text),
    Column("armed_at", String, nullable=False),
    Column("fired_at", String),
    Column("kind", Integer, nullable=False),  # timer_kinds.id
    Index("timers_due", "status", "due_at"),
    Index("timers_card", "card_id", "status"),  # version 19, replacing ix_timers_card_id
)

# version 21: the timers declared, each written once the first time one is armed
timer_kinds = Table(
    "timer_kinds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("process", String, nullable=False),
    Column("state", String, nullable=False),
    Column("timer", Integer, nullable=False),  # its index among the state's timers
    Column("location", String, nullable=False),  # FILE:LINE of its declaration
    Column("trigger", String, nullable=False),
    UniqueConstraint("process", "state", "timer", "location", "trigger", name="one_timer_kind"),
)

# version 4: a batch worked by several workers, a chunk (a key range of users) per job
batch_chunks = Table(
    "batch_chunks",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("first_user", String, nullable=False),
    Column("last_user", String, nullable=False),
    Column("users", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("created", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("deferred", Integer, nullable=False, default=0),
    Column("finished_at", String),
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
    # version 10: a token's public id (the start of its hash), to list and revoke it, and its expiry
    Column("token_id", String),
    Column("expires_at", String),
)

# version 10: console sessions, kept in the store so that log-out, a new password, a changed role or
# an inactive user end them at once; the cookie holds the session's id, the store only its hash
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String, primary_key=True),
    Column("user_id", String, nullable=False, index=True),
    Column("roles", Text, nullable=False),  # the user's roles at log-in: a change ends the session
    Column("created_at", String, nullable=False),
    Column("expires_at", String, nullable=False),
)

saved_views = Table(  # version 16
    "saved_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String, nullable=False),
    Column("name", Text, nullable=False),
    Column("page", String, nullable=False),  # the console's list it filters, e.g. /cards
    Column("query", Text, nullable=False),  # the list's query string: its filters and order
    Column("created_at", String, nullable=False),
    UniqueConstraint("user_id", "name", name="one_view_name_per_user"),
)

# version 18: the workspace as immutable releases, content-addressed (`engine.store.releases`)
releases = Table(
    "releases",
    metadata,
    Column("id", String, primary_key=True),  # the start of the SHA-256 of its files
    Column("parent", String),  # the live release when it was published
    Column("status", String, nullable=False),  # pending | live | retired
    Column("published_by", String, nullable=False),
    Column("published_at", String, nullable=False),
    Column("requested_by", String, nullable=False),  # who asked for it to go live: its publisher, or who rolled back to it
    Column("approved_by", String),
    Column("message", Text, nullable=False),
    Column("fingerprint", String, nullable=False),  # the workspace's, as each transition records it
    Column("plan", Text),  # JSON: what it changed for the store's cards and users when published (engine.testing.release_plan)
)
release_files = Table(
    "release_files",
    metadata,
    Column("release_id", String, primary_key=True),
    Column("path", String, primary_key=True),  # relative to the workspace, with /
    Column("digest", String, nullable=False),
)
release_blobs = Table(  # a file's bytes, once for every release that holds them
    "release_blobs", metadata, Column("digest", String, primary_key=True), Column("content", LargeBinary, nullable=False)
)
release_log = Table(  # what happened to each release, when and by whom: which rules were live when
    "release_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", String, nullable=False, index=True),
    Column("event", String, nullable=False),  # published | requested | approved | live | retired | superseded
    Column("actor", String),
    Column("at", String, nullable=False),
)
#: One release at most in each of these statuses (two approvals at once cannot make two releases live):
#: partial unique indexes, made by the migration that makes the table (engine.store.migrations), not
#: declared here: SQLAlchemy would import both dialects at start-up to check their `*_where` arguments.
ONE_RELEASE = {"live": "one_live_release", "pending": "one_pending_release"}

Index("outbox_status", outbox.c.status)
Index("cards_user_process", cards.c.user_id, cards.c.process)
Index("cards_waiting", cards.c.state, cards.c.process, cards.c.timerless, cards.c.updated_at)  # version 17
Index("cards_process_state", cards.c.process, cards.c.state, cards.c.id)  # version 20: a run over cards pages by id
Index("one_open_card_per_group", cards.c.open_key, unique=True)  # version 11
Index("outbox_card", outbox.c.card_id)  # version 4
Index("batches_created", batches.c.created_at, batches.c.id)  # version 4
Index("users_department", users.c.folded_department, users.c.id)  # version 9
Index("api_tokens_token_id", api_tokens.c.token_id, unique=True)  # version 10
