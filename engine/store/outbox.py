"""The outbox's reads and writes for delivery: the emails due, claiming one to send, recording an
attempt or its sending, and re-queuing failed emails; an email written unless its dedupe key is taken."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, or_, select, update

from engine.store import db, dialect, queries
from engine.store.queries import Row

#: What an email can be: waiting to be sent (again), sent, or failed for good.
STATUSES = ("pending", "sent", "failed")


def due_emails(engine: Engine, limit: int | None, at: str | None) -> list[int]:
    """The ids of the pending emails, oldest first: those whose next attempt is due at `at` (every one when None)."""
    query = select(db.outbox.c.id).where(db.outbox.c.status == "pending").order_by(db.outbox.c.id)
    if at is not None:
        query = query.where(or_(db.outbox.c.next_attempt_at.is_(None), db.outbox.c.next_attempt_at <= at))
    if limit is not None:
        query = query.limit(limit)
    with db.reading(engine) as connection:
        return [row for (row,) in connection.execute(query)]


def claim_pending(connection: Connection, outbox_id: int) -> Row | None:
    """The email, held for this transaction, if it is still pending and no other sender holds it."""
    pending = select(db.outbox).where(db.outbox.c.id == outbox_id, db.outbox.c.status == "pending")
    row = connection.execute(dialect.of(connection).claim(pending)).first()
    return None if row is None else dict(row._mapping)


def mark_sent(connection: Connection, outbox_id: int, attempts: int, at: str) -> None:
    """The email was sent at `at`, on its `attempts`-th attempt."""
    connection.execute(
        update(db.outbox).where(db.outbox.c.id == outbox_id).values(status="sent", sent_at=at, attempts=attempts, error=None)
    )


def record_attempt(connection: Connection, outbox_id: int, values: Row) -> None:
    """A failed attempt: the email's new status, attempts, error, next attempt and history (`values`)."""
    connection.execute(update(db.outbox).where(db.outbox.c.id == outbox_id).values(**values))


def emails_for_retry(connection: Connection, ids: list[int] | None) -> dict[int, Row]:
    """The emails of `ids` whatever their status (or every failed one when `ids` is None): id, status, attempts, history."""
    query = select(db.outbox.c.id, db.outbox.c.status, db.outbox.c.attempts, db.outbox.c.history)
    query = query.where(db.outbox.c.status == "failed") if ids is None else query.where(db.outbox.c.id.in_(ids))
    return {row.id: dict(row._mapping) for row in connection.execute(query)}


def requeue(connection: Connection, outbox_id: int, history: str) -> None:
    """A failed email pending again, due now, with its `history` (JSON)."""
    connection.execute(
        update(db.outbox)
        .where(db.outbox.c.id == outbox_id, db.outbox.c.status == "failed")
        .values(status="pending", next_attempt_at=None, history=history)
    )


def failed_emails(connection: Connection) -> tuple[int, str | None]:
    """How many emails failed for good (retried to the end, or refused by the server), and the oldest's moment."""
    found = connection.execute(select(func.count(), func.min(db.outbox.c.created_at)).where(db.outbox.c.status == "failed"))
    count, oldest = found.one()
    return int(count), oldest


def add_once(connection: Connection, email: Row) -> None:
    """Write an email (an outbox row) unless one with its dedupe key exists (a batch's merged email)."""
    queries.insert_many(connection, db.outbox, [email], skip_existing="dedupe_key")
