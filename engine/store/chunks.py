"""The chunks of a batch worked by several workers: one row per key range of users (for a run over
cards, of card ids, written as text), claimed, done once, and the batch finished when the last one
is done. Every function takes an open connection; card ids come from the store's sequence
(`queries.new_card_ids`), so chunks worked at once never share one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select, update

from engine.clock import now
from engine.store import card_runs, db
from engine.store.queries import Row, user_record

PENDING, DONE = "pending", "done"


def add_chunks(connection: Connection, batch_id: str, ranges: Sequence[tuple[str, str, int]]) -> None:
    """Record the chunks of a batch: each (first user, last user, users in it), numbered from 1."""
    rows = [
        {"batch_id": batch_id, "number": n, "first_user": first, "last_user": last, "users": count, "status": PENDING}
        for n, (first, last, count) in enumerate(ranges, start=1)
    ]
    if rows:
        connection.execute(db.batch_chunks.insert(), rows)


def chunks_of(connection: Connection, batch_id: str) -> list[Row]:
    """The chunks of a batch, in order."""
    query = select(db.batch_chunks).where(db.batch_chunks.c.batch_id == batch_id).order_by(db.batch_chunks.c.number)
    return [dict(row._mapping) for row in connection.execute(query)]


def reopen_deferred(connection: Connection, batch_id: str) -> None:
    """Chunks whose cards waited for the bureau are worked again (a resumed batch)."""
    table = db.batch_chunks
    connection.execute(
        update(table).where(table.c.batch_id == batch_id, table.c.deferred > 0).values(status=PENDING, finished_at=None)
    )


def claim_chunk(connection: Connection, batch_id: str, number: int) -> Row | None:
    """The chunk, locked for this transaction, or None if unknown. Another claim of the same chunk
    waits (FOR UPDATE, not SKIP LOCKED): a job retried while its first attempt still runs must learn
    whether that attempt committed, not skip the chunk and leave it to an attempt that may die."""
    table = db.batch_chunks
    query = select(table).where(table.c.batch_id == batch_id, table.c.number == number).with_for_update()
    row = connection.execute(query).first()
    return dict(row._mapping) if row else None


def finish_chunk(connection: Connection, batch_id: str, number: int, counts: Row) -> None:
    """Mark a chunk done with its counts (created, skipped, deferred), in the transaction of its cards."""
    table = db.batch_chunks
    connection.execute(
        update(table)
        .where(table.c.batch_id == batch_id, table.c.number == number)
        .values(status=DONE, finished_at=now(), **counts)
    )


def finish_batch_if_done(connection: Connection, batch_id: str, *, over_cards: bool = False) -> str | None:
    """When no chunk is pending, record the batch's outcome (once: a compare-and-set on `running`);
    over cards, `created` is every card the batch moved, whichever run of it moved them."""
    table = db.batch_chunks
    pending, created, skipped, deferred = connection.execute(
        select(
            func.count().filter(table.c.status == PENDING),
            func.coalesce(func.sum(table.c.created), 0),
            func.coalesce(func.sum(table.c.skipped), 0),
            func.coalesce(func.sum(table.c.deferred), 0),
        ).where(table.c.batch_id == batch_id)
    ).one()
    if pending:
        return None
    status = "incomplete" if deferred else "complete"
    if over_cards:
        created = card_runs.moved_count(connection, batch_id)
    moved = connection.execute(
        update(db.batches)
        .where(db.batches.c.id == batch_id, db.batches.c.status == "running")
        .values(status=status, finished_at=now(), created=created, skipped=skipped)
    )
    return status if moved.rowcount else None


def progress(connection: Connection, batch_id: str | None = None) -> dict[str, tuple[int, int]]:
    """Per batch worked in chunks (or just `batch_id`): (users in chunks done, users in all its chunks)."""
    table = db.batch_chunks
    query = select(
        table.c.batch_id,
        func.coalesce(func.sum(table.c.users).filter(table.c.status == DONE), 0),
        func.sum(table.c.users),
    ).group_by(table.c.batch_id)
    if batch_id is not None:
        query = query.where(table.c.batch_id == batch_id)
    return {batch: (int(done), int(total)) for batch, done, total in connection.execute(query)}


def users_between(connection: Connection, first: str, last: str) -> list[Row]:
    """The users whose ids lie from `first` to `last`, in id order."""
    users = db.users
    query = (
        select(users.c.id, users.c.name, users.c.email, users.c.state, users.c.roles, users.c.attributes)
        .where(users.c.id.between(first, last))
        .order_by(users.c.id)
    )
    return [user_record(row) for row in connection.execute(query)]


def reopen_batch(connection: Connection, batch_id: str) -> None:
    """A finished batch is running again (resumed with chunks to work)."""
    connection.execute(update(db.batches).where(db.batches.c.id == batch_id).values(status="running", finished_at=None))
