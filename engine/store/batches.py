"""The batch rows a run writes: recorded when it starts, finished (its status and counts), taken up
again by a resumed run, or dropped when it stopped before making any card."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from engine.store import db
from engine.store.queries import Row

#: A batch over cards a person paused (`cardflow batches pause`): its run stops after the chunk in
#: work; running it again (`cardflow batches resume`) finishes it.
PAUSED = "paused"
#: What a batch can be: being run (or killed while it ran), run to its end, stopped short, or paused.
STATUSES = ("running", "complete", "incomplete", PAUSED)


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


def pause_batch(connection: Connection, batch_id: str, actor: str) -> bool:
    """Pause a running batch, as `actor`; False when it is not running (anymore)."""
    paused = update(db.batches).where(db.batches.c.id == batch_id, db.batches.c.status == "running")
    return connection.execute(paused.values(status=PAUSED, paused_by=actor)).rowcount == 1


def paused_by(connection: Connection, batch_id: str) -> str | None:
    """Who paused the batch, while it is paused."""
    batches = db.batches.c
    found = connection.execute(select(batches.paused_by).where(batches.id == batch_id, batches.status == PAUSED)).first()
    return None if found is None else found.paused_by
