"""The `calls` table: external calls written with the state change that makes them (engine.batch.calls),
their attempts, their answers, and the ones due for another attempt."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select, update

from engine.clock import moment, stamp
from engine.store import db
from engine.store.driver import Compiled, among_ids, compiled, execute_tuples, expanded
from engine.store.queries import Row

#: A call the other side did not answer is tried again after a minute, then twice as long each time,
#: at most six hours apart.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)

STATUSES = ("pending", "answered", "cancelled")


class Answer(NamedTuple):
    """A call's answer as its row keeps it (`answered`): the card whose call it is, and when it came."""

    key: str
    card: int
    outcome: str
    reference: str | None
    message: str | None
    at: str


def answered(connection: Connection, answers: Sequence[Answer]) -> None:
    """Mark calls answered, in the transaction of the move their answer routes (a batch marks one a
    card: the tuples go to the driver as they are)."""
    if answers:
        execute_tuples(connection, _answered_statement(connection.dialect), Answer._fields, answers)


@lru_cache(maxsize=4)
def _answered_statement(dialect: Any) -> Compiled:
    table = db.calls  # each parameter given by every row (None here only so that it compiles without one)
    statement = (
        update(table)
        .where(table.c.idempotency_key == bindparam("key", None), table.c.status == "pending")
        .values(
            status="answered",
            outcome=bindparam("outcome", None),
            reference=bindparam("reference", None),
            message=bindparam("message", None),
            answered_at=bindparam("at", None),
            attempts=table.c.attempts + 1,
        )
    )
    return compiled(statement, dialect)


def retry_later(connection: Connection, unanswered: Mapping[str, str], at: str) -> None:
    """Count one more attempt of each call the other side did not answer (key: what went wrong) and
    set when it is tried next: after FIRST_RETRY, doubling each time, at most LONGEST_WAIT."""
    if not unanswered:
        return
    table = db.calls
    keys = table.c.idempotency_key
    found = connection.execute(select(keys, table.c.attempts).where(keys.in_(list(unanswered))))
    updates = [
        {"key": key, "attempts": attempts + 1, "next": next_attempt(at, attempts + 1), "message": unanswered[key]}
        for key, attempts in found
    ]
    statement = (
        update(table)
        .where(table.c.idempotency_key == bindparam("key"))
        .values(attempts=bindparam("attempts"), next_attempt_at=bindparam("next"), message=bindparam("message"))
    )
    if updates:
        connection.execute(statement, updates)


def cancel(connection: Connection, keys: Sequence[str], why: str, at: str) -> None:
    """Calls that will not be made: their card left the state that made them before they were sent."""
    if keys:
        table = db.calls
        statement = update(table).where(table.c.idempotency_key.in_(list(keys)), table.c.status == "pending")
        connection.execute(statement.values(status="cancelled", message=why, answered_at=at))


def next_attempt(at: str, attempts: int) -> str:
    """When a call tried `attempts` times without an answer is tried again."""
    wait: timedelta = min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_WAIT)
    return stamp(moment(at) + wait)


def made_before(connection: Connection, card: int, connector: str, operation: str) -> int:
    """How many calls of `card` to `operation` of `connector` were answered or cancelled (a pending one
    is the call being made)."""
    table = db.calls
    query = select(func.count()).where(
        table.c.card_id == card,
        table.c.connector == connector,
        table.c.operation == operation,
        table.c.status != "pending",
    )
    return int(connection.execute(query).scalar_one())


def due(connection: Connection, at: str, limit: int | None = None) -> list[Row]:
    """The pending calls whose next attempt is due at `at`, oldest first."""
    table = db.calls
    query = (
        select(table)
        .where(table.c.status == "pending", table.c.next_attempt_at <= at)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def pending(connection: Connection) -> tuple[int, str | None]:
    """How many calls are pending, and when the first of them is due."""
    table = db.calls
    query = select(func.count(), func.min(table.c.next_attempt_at)).where(table.c.status == "pending")
    count, first = connection.execute(query).one()
    return int(count), first


def listing(connection: Connection, *, status: str | None = None, card: int | None = None) -> Iterator[Row]:
    """Every call (or those of one status, or of one card), oldest first, streamed."""
    table = db.calls
    query = select(table).order_by(table.c.id)
    if status is not None:
        query = query.where(table.c.status == status)
    if card is not None:
        query = query.where(table.c.card_id == card)
    for row in connection.execution_options(yield_per=1000).execute(query).mappings():
        yield dict(row)


def made_before_each(connection: Connection, cards: Sequence[int]) -> dict[tuple[int, str, str], int]:
    """`made_before` for each of `cards` at once: by (card, connector, operation), those with any."""
    found = among_ids(connection, lambda size: _made_before_statement(connection.dialect, size), cards)
    return {(card, connector, operation): count for card, connector, operation, count in found}


@lru_cache(maxsize=16)
def _made_before_statement(for_dialect: Any, size: int) -> Compiled:
    table = db.calls
    query = (
        select(table.c.card_id, table.c.connector, table.c.operation, func.count())
        .where(table.c.card_id.in_(bindparam("ids", expanding=True)), table.c.status != "pending")
        .group_by(table.c.card_id, table.c.connector, table.c.operation)
    )
    return expanded(query, for_dialect, size)
