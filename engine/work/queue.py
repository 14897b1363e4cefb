"""The task queue on the store: procrastinate's tables, and its connection to the same database.

procrastinate's tables live beside cardflow's in the store's database. They are not one of
cardflow's migrations (those run on SQLite too, and procrastinate's schema is PostgreSQL's
alone): they are created by procrastinate's own schema, applied when the store is first opened for
workers (`cardflow worker`, `cardflow run --workers`), under a transaction-scoped advisory lock,
so two processes opening the store at once create them once. The procrastinate version that
created them is recorded in cardflow's `meta` table.
"""

from __future__ import annotations

from sqlalchemy import Engine

from engine.errors import UsageError
from engine.store import task_queue

NO_WORKERS = (
    "there are no workers with SQLite: run `cardflow queue run`, `cardflow outbox send` and "
    "`cardflow orders sync` from cron instead (workers need a PostgreSQL store: --db postgresql+psycopg://...)"
)


def require_postgres(engine: Engine) -> None:
    """Workers need PostgreSQL; on SQLite a usage error says what to do instead."""
    if engine.dialect.name != "postgresql":
        raise UsageError(NO_WORKERS)


def conninfo(engine: Engine) -> str:
    """The store's database as a libpq connection string, for procrastinate's own connections."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def install_schema(engine: Engine) -> bool:
    """Create procrastinate's tables in the store unless they exist; True if this call created them."""
    import procrastinate
    from procrastinate.schema import SchemaManager

    return task_queue.install_schema(engine, SchemaManager.get_schema(), procrastinate.__version__)


def schema_version(engine: Engine) -> str | None:
    """The procrastinate version that created the queue's tables (None: not created yet)."""
    return task_queue.schema_version(engine)
