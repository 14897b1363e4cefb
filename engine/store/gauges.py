"""What the store holds, counted for the site's monitoring (`engine.report.metrics`): cards by
process and state, rows of the work tables by status, timers due, and on PostgreSQL the workers'
queue and heartbeats. Each is one grouped count; read in the caller's (read) transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from engine.store import db

#: The tables counted by status.
BY_STATUS = {"outbox": db.outbox, "calls": db.calls, "timers": db.timers, "batches": db.batches}


def cards(connection: Connection) -> Iterator[Any]:
    """(process, state, count) for every process and state that has cards."""
    columns = (db.cards.c.process, db.cards.c.state)
    yield from connection.execute(select(*columns, func.count()).group_by(*columns).order_by(*columns))


def by_status(connection: Connection, name: str) -> Iterator[Any]:
    """(status, count) of the rows of the table `name` of BY_STATUS."""
    status = BY_STATUS[name].c.status
    yield from connection.execute(select(status, func.count()).group_by(status).order_by(status))


def timers_due(connection: Connection, at: str) -> int:
    """How many armed timers are due at `at`."""
    armed = (db.timers.c.status == "armed") & (db.timers.c.due_at <= at)
    return int(connection.execute(select(func.count()).where(armed)).scalar_one())


def has_queue(connection: Connection) -> bool:
    """Whether the store holds the workers' queue (procrastinate's tables, PostgreSQL)."""
    return bool(inspect(connection).has_table("procrastinate_jobs"))


def queue_jobs(connection: Connection) -> Iterator[Any]:
    """(task, status, count) of the jobs on the workers' queue."""
    counted = "SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2"
    yield from connection.execute(text(counted))


def heartbeat_ages(connection: Connection) -> Iterator[Any]:
    """(worker id, seconds since its last heartbeat) of each registered worker."""
    ages = "SELECT id, extract(epoch FROM now() - last_heartbeat) FROM procrastinate_workers ORDER BY id"
    yield from connection.execute(text(ages))


def live_workers(connection: Connection, within: float) -> int:
    """How many workers gave a heartbeat in the last `within` seconds (0 where the store has no queue)."""
    if not has_queue(connection):
        return 0
    alive = "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :within)"
    return int(connection.execute(text(alive), {"within": within}).scalar_one())
