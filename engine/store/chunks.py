"""The chunks of a batch worked by several workers: one row per key range of users (for a run over
cards, of card ids, written as text), claimed, done once, and the batch finished when the last one
is done. Every function takes an open connection; card ids come from the store's sequence
(`queries.new_card_ids`), so chunks worked at once never share one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from engine.clock import now
from engine.store import card_runs, db, dialect
from engine.store.driver import Compiled, compiled
from engine.store.queries import Row, raw_users, select_users

PENDING, DONE = "pending", "done"
#: Where a chunk marked done, and then its batch finished, are announced (PostgreSQL NOTIFY, the batch id).
DONE_CHANNEL = "cardflow_chunk_done"


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


def chunk_of(connection: Connection, batch_id: str, number: int) -> Row | None:
    """Chunk `number` of a batch, or None if it has none."""
    return _chunk(connection, batch_id, number, lock=False)


def claim_chunk(connection: Connection, batch_id: str, number: int) -> Row | None:
    """The chunk, locked for this transaction, or None if unknown. Another claim of the same chunk
    waits (FOR UPDATE, not SKIP LOCKED): a job retried while its first attempt still runs must learn
    whether that attempt committed, not skip the chunk and leave it to an attempt that may die."""
    return _chunk(connection, batch_id, number, lock=True)


def _chunk(connection: Connection, batch_id: str, number: int, *, lock: bool) -> Row | None:
    table = db.batch_chunks
    query = select(table).where(table.c.batch_id == batch_id, table.c.number == number)
    row = connection.execute(query.with_for_update() if lock else query).first()
    return dict(row._mapping) if row else None


def finish_chunk(connection: Connection, batch_id: str, number: int, counts: Row) -> None:
    """Mark a chunk done with its counts (created, skipped, deferred), in the transaction of its cards."""
    table = db.batch_chunks
    connection.execute(
        update(table)
        .where(table.c.batch_id == batch_id, table.c.number == number)
        .values(status=DONE, finished_at=now(), **counts)
    )
    dialect.of(connection).notify(connection, DONE_CHANNEL, batch_id)


def done_notices(engine: Engine) -> AbstractContextManager[Callable[[float], None]]:
    """A wait of at most so many seconds that a chunk marked done ends early (on PostgreSQL, where
    the workers are): for the command that waits for its batch, instead of looking every half second."""
    return dialect.of(engine).listening(engine, DONE_CHANNEL)


def finish_batch_if_done(connection: Connection, batch_id: str, *, over_cards: bool = False) -> str | None:
    """When no chunk is pending, record the batch's outcome (once: a compare-and-set on `running`);
    over cards, `created` is every card the batch moved, whichever run of it moved them.

    The batch's row is locked first, so that this may end the transaction that marks a chunk done:
    of two last chunks done at once, the second to take the lock counts after the first committed
    (on PostgreSQL each statement reads what has committed when it starts) and finishes the batch."""
    table = db.batch_chunks
    connection.execute(dialect.of(connection).lock(select(db.batches.c.id).where(db.batches.c.id == batch_id)))
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
    if not moved.rowcount:
        return None
    dialect.of(connection).notify(connection, DONE_CHANNEL, batch_id)  # after its last chunk's notice: the batch's own
    return status


def users_between(connection: Connection, first: str, last: str) -> list[Row]:
    """The users whose ids lie from `first` to `last`, in id order (rows straight from the driver: a
    chunk job's hottest read, as a page of users is a batch's)."""
    return raw_users(connection, _between(connection.dialect), {"first": first, "last": last})


@lru_cache(maxsize=4)
def _between(sql_dialect: Any) -> Compiled:
    ids = db.users.c.id
    return compiled(select_users().where(ids.between(bindparam("first", ""), bindparam("last", ""))).order_by(ids), sql_dialect)


def user_ranges(connection: Connection, chunk: int) -> Iterator[tuple[str, str, int]]:
    """Every user in chunks of `chunk` in id order, as (first id, last id, users), no user read: each
    range one query over the next `chunk` ids of the index after the last range (a query a range is
    half the work of numbering every id at once, and the first range is known at once)."""
    ids = db.users.c.id

    def range_of(page: Any) -> Any:
        found = page.order_by(ids).limit(chunk).subquery()
        return select(func.min(found.c.id), func.max(found.c.id), func.count())

    following = range_of(select(ids).where(ids > bindparam("after")))
    query, values = range_of(select(ids)), dict[str, str]()  # the first range: from the first id, whatever it is
    while True:
        first, last, users = connection.execute(query, values).one()
        if not users:
            return
        yield first, last, int(users)
        if users < chunk:
            return
        query, values = following, {"after": last}


def reopen_batch(connection: Connection, batch_id: str) -> None:
    """A finished batch is running again (resumed with chunks to work)."""
    connection.execute(update(db.batches).where(db.batches.c.id == batch_id).values(status="running", finished_at=None))
