"""The task queue's tables in the store (PostgreSQL only): procrastinate's schema, created once under
a transaction-scoped advisory lock, and the procrastinate version that created it, kept in `meta`."""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from engine.store import db

_SCHEMA_LOCK = "cardflow.procrastinate_schema"
_VERSION_KEY = "procrastinate_schema"


def install_schema(engine: Engine, schema: str, version: str) -> bool:
    """Run `schema` (procrastinate's SQL) unless its jobs table exists, and record `version`; True if
    this call created it. Two processes opening the store at once create it once."""
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": _SCHEMA_LOCK})
        if connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        cursor = connection.connection.cursor()  # no parameters: the schema's own % signs stay as written
        try:
            cursor.execute(schema)
        finally:
            cursor.close()
        connection.execute(db.meta.insert().values(key=_VERSION_KEY, value=version))
    return True


def schema_version(engine: Engine) -> str | None:
    """The procrastinate version that created the queue's tables (None: not created yet)."""
    with db.reading(engine) as connection:
        value = connection.execute(select(db.meta.c.value).where(db.meta.c.key == _VERSION_KEY)).scalar()
    return None if value is None else str(value)


def jobs_of_batch(engine: Engine, task: str, batch_id: str) -> tuple[int, int]:
    """(waiting or running, failed for good) of the jobs of `task` for batch `batch_id`."""
    counted = text(
        "SELECT count(*) FILTER (WHERE status IN ('todo', 'doing')), count(*) FILTER (WHERE status = 'failed') "
        "FROM procrastinate_jobs WHERE task_name = :task AND args->>'batch' = :batch"
    )
    with db.reading(engine) as connection:
        waiting, failed = connection.execute(counted, {"task": task, "batch": batch_id}).one()
    return int(waiting), int(failed)
