"""The `timers` table: timers armed with the state change that brings a card into a state, dropped
when it leaves, each fired once (engine.batch.timers_due)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, select, update

from engine.store import db, dialect, driver
from engine.store.queries import Row, insert_many, insert_tuples

STATUSES = ("armed", "fired", "refused")


#: What a timer is, kept once in `timer_kinds`: process, state, its index among the state's timers,
#: FILE:LINE of its declaration, trigger.
Kind = tuple[str, str, int, str, str]
KIND = ("process", "state", "timer", "location", "trigger")
#: The columns of a timer armed, in the order `arm` takes them (`kind`: the id `kinds` gives).
COLUMNS = ("card_id", "kind", "due_at", "fired", "status", "armed_at")


class Claimed(NamedTuple):
    """A due timer claimed to be fired (a tuple: a run claims thousands)."""

    id: int
    card_id: int
    kind: int
    process: str
    state: str
    timer: int  # its index among the state's timers
    location: str  # FILE:LINE of its declaration
    trigger: str
    due_at: str
    fired: int  # how many times it fired before


def arm(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write armed timers given as tuples of COLUMNS (a batch's many, without a dict each)."""
    insert_tuples(connection, "timers", COLUMNS, rows)


def arm_cards(connection: Connection, cards: Sequence[int], tail: tuple[Any, ...]) -> None:
    """Write a timer armed for each of `cards` with the same other columns (`tail`: COLUMNS after
    card_id), in one statement: a batch's cards entering a state at one moment."""
    dialect.of(connection).insert_for_ids(connection, "timers", "card_id", cards, dict(zip(COLUMNS[1:], tail, strict=True)))


def kinds(connection: Connection) -> Callable[[Kind], int]:
    """The id of each timer kind asked for, written the first time a timer of it is armed; each looked
    up once in this transaction."""
    known: dict[Kind, int] = {}
    same = _kind_statement(connection.dialect)

    def kind_id(kind: Kind) -> int:
        if kind not in known:
            values = dict(zip(KIND, kind, strict=True))
            found = driver.seen_rows(connection, same, values)
            if not found:
                insert_many(connection, db.timer_kinds, [values], skip_existing=KIND)
                found = driver.seen_rows(connection, same, values)  # ours, or another transaction's at the same moment
            known[kind] = found[0][0]
        return known[kind]

    return kind_id


@lru_cache(maxsize=4)
def _kind_statement(for_dialect: Any) -> driver.Compiled:
    table = db.timer_kinds
    return driver.compiled(
        select(table.c.id).where(*(table.c[name] == bindparam(name, None, type_=table.c[name].type) for name in KIND)),
        for_dialect,
    )


def drop(connection: Connection, cards: Iterable[int]) -> None:
    """Drop the armed timers of cards that left their state."""
    ids = list(cards)
    table = db.timers
    for start in range(0, len(ids), 1000):
        connection.execute(delete(table).where(table.c.card_id.in_(ids[start : start + 1000]), table.c.status == "armed"))


def drop_some(connection: Connection, timers: Sequence[tuple[int, int]]) -> None:
    """Drop the armed timers given as (card, timer index in its state): those a moved date re-arms."""
    table, indexed = db.timers, db.timer_kinds.c
    for card, index in timers:
        of_index = select(indexed.id).where(indexed.timer == index).scalar_subquery()
        connection.execute(delete(table).where(table.c.card_id == card, table.c.kind.in_(of_index), table.c.status == "armed"))


def settle(connection: Connection, cards: Iterable[int]) -> None:
    """Mark each of `cards` `timerless` when no timer is armed for it now (else not): after a card's
    timers fired, were dropped or armed anew in its state, or it entered a state with timers and none
    could be armed. A move clears the mark (`queries.set_card_states`), and the cards a batch arms
    timers for are not marked, so the hot path writes nothing for it; the incidents count the cards of
    a state with timers that wait with none from the index `cards_waiting` alone."""
    ids = sorted(set(cards))
    if not ids:
        return
    timers = db.timers.c
    armed = select(timers.id).where(timers.card_id == db.cards.c.id, timers.status == "armed").exists()
    for start in range(0, len(ids), 1000):
        connection.execute(update(db.cards).where(db.cards.c.id.in_(ids[start : start + 1000])).values(timerless=~armed))


def next_due(connection: Connection, at: str, count: int) -> list[Row]:
    """The first `count` armed timers due at `at`, locked for this transaction; on PostgreSQL those
    another transaction holds are skipped (SKIP LOCKED), so that workers fire different timers side by side."""
    rows = driver.seen_rows(connection, _next_due_statement(connection.dialect), {"at": at, "count": count})
    return driver.records(db.timers, rows)


@lru_cache(maxsize=4)
def _next_due_statement(for_dialect: Any) -> driver.Compiled:
    return driver.compiled(_first_due(*db.timers.c), for_dialect)


def claim_due(connection: Connection, at: str, count: int) -> list[Claimed]:
    """Mark the first `count` armed timers due at `at` fired, in one statement, and return them first
    due first: a compare-and-set, so two commands never claim one timer; on PostgreSQL those another
    transaction holds are skipped (SKIP LOCKED), so workers fire different timers side by side."""
    rows = driver.seen_rows(connection, _claim_due_statement(connection.dialect), {"at": at, "count": count})
    if not rows:
        return []
    table = db.timer_kinds
    of = {found[0]: found[1:] for found in connection.execute(select(table).where(table.c.id.in_({row[2] for row in rows})))}
    claimed = [Claimed._make((timer, card, kind, *of[kind], due, fired)) for timer, card, kind, due, fired in rows]
    return sorted(claimed, key=attrgetter("due_at", "id"))


#: The columns of a claimed timer in `timers` (the others are its kind's).
CLAIMED = ("id", "card_id", "kind", "due_at", "fired")


@lru_cache(maxsize=4)
def _claim_due_statement(for_dialect: Any) -> driver.Compiled:
    table = db.timers
    claimed = update(table).where(table.c.id.in_(_first_due(table.c.id).scalar_subquery()))  # found and locked: still armed
    return driver.compiled(
        claimed.values(status="fired", fired_at=bindparam("at", "")).returning(*(table.c[name] for name in CLAIMED)),
        for_dialect,
    )


def claim_again(connection: Connection, timer: int, status: str, at: str, message: str | None = None) -> None:
    """Give a timer claimed in this transaction another outcome (refused, with why)."""
    table = db.timers
    connection.execute(update(table).where(table.c.id == timer).values(status=status, fired_at=at, message=message))


def listing(connection: Connection, *, due_before: str | None = None, status: str = "armed") -> Iterator[Row]:
    """The timers of one status (default: armed), first due first, streamed."""
    table, kinds = db.timers, db.timer_kinds
    columns = (*(column for column in table.c if column.name != "kind"), *(kinds.c[name] for name in KIND))
    query = select(*columns).join(kinds, kinds.c.id == table.c.kind).where(table.c.status == status)
    query = query.order_by(table.c.due_at, table.c.id)
    if due_before is not None:
        query = query.where(table.c.due_at < due_before)
    for row in connection.execution_options(yield_per=1000).execute(query).mappings():
        yield dict(row)


def _first_due(*columns: Any) -> Any:
    """`columns` of the first `count` armed timers due at `at`, first due first, locked (on PostgreSQL
    skipping those another transaction holds)."""
    table = db.timers
    query = select(*columns).where(table.c.status == "armed", table.c.due_at <= bindparam("at", ""))
    return query.order_by(table.c.due_at, table.c.id).limit(bindparam("count", 1)).with_for_update(skip_locked=True)
