"""The batch rows a run writes: recorded when it starts, finished (its status and counts), taken up
again by a resumed run, or dropped when it stopped before making any card."""

from __future__ import annotations

from sqlalchemy import Connection, update

from engine.store import db
from engine.store.queries import Row

#: What a batch can be: being run (or killed while it ran), run to its end, or stopped short.
STATUSES = ("running", "complete", "incomplete")


def add_batch(connection: Connection, record: Row) -> None:
    """Write the row of a batch that starts (status running)."""
    connection.execute(db.batches.insert().values(**record))


def finish_batch(connection: Connection, batch_id: str, status: str, at: str, *, created: int, skipped: int) -> None:
    """A run of the batch ended: its status, when, how many cards it has in all and how many this run skipped."""
    connection.execute(
        update(db.batches)
        .where(db.batches.c.id == batch_id)
        .values(status=status, finished_at=at, created=created, skipped=skipped)
    )


def set_status(connection: Connection, batch_id: str, status: str) -> None:
    """The batch's status (e.g. `incomplete` when a run stopped early), nothing else."""
    connection.execute(update(db.batches).where(db.batches.c.id == batch_id).values(status=status))


def reopen_batch(connection: Connection, batch_id: str) -> None:
    """A resumed batch runs again: status running, not finished."""
    connection.execute(update(db.batches).where(db.batches.c.id == batch_id).values(status="running", finished_at=None))


def drop_batch(connection: Connection, batch_id: str) -> None:
    """Remove the row of a batch that made nothing (none is left `running` with 0 cards)."""
    connection.execute(db.batches.delete().where(db.batches.c.id == batch_id))
