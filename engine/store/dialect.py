"""What differs between the two stores, in one place; `of` gives the store's `Dialect`.

The rules are the same on both (DESIGN.md, Store): ids from the database, every state change a
compare-and-set, claims of work that two commands never share, migrations one at a time. How:

| | SQLite | PostgreSQL |
|---|---|---|
| ids of new cards (known before their rows are written) | the highest id + 1 | a block from the table's sequence, in one step |
| claims of work (queued cards, pending emails) | BEGIN IMMEDIATE (db.py) | `FOR UPDATE SKIP LOCKED` |
| cards an action reads before it changes them | BEGIN IMMEDIATE | `FOR UPDATE` (the second waits, then sees the new state) |
| migrations | BEGIN IMMEDIATE | a transaction-scoped advisory lock |
| bulk inserts of the hot tables | executemany | COPY |
| many rows that differ in three columns at most (audit rows, cards, timers) | one INSERT ... SELECT over `json_each` | COPY |
| compare-and-set of many cards' states | `UPDATE ... FROM (VALUES ...) RETURNING id` | the same, its columns named and typed |
| a waiter told that work is done (a batch's chunks) | it looks again after a pause | LISTEN/NOTIFY, the pause its longest wait |
| rows units of work side by side share (decision traces) | in the unit's transaction | in a transaction of their own (`apart`) |

SQLite's writers take turns (every write transaction begins with BEGIN IMMEDIATE), so what it
reads in a write transaction stays true until it commits; PostgreSQL's writers run side by side,
so they lock the rows they mean to change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, text
from sqlalchemy.exc import IntegrityError

#: The key of the advisory lock the migrations take on PostgreSQL ("cardflow" in ASCII, as a number).
MIGRATION_LOCK = 0x63617264666C6F77
#: Cards a compare-and-set statement sets at most (seven parameters each, under SQLite's 32,766).
SET_STATES_SLICE = 1000
#: The columns a card's move sets (`Dialect.set_states`; a move also clears `timerless`: its new state's
#: timers are armed after it); a card that stays in its state sets `STAYED` (its timers and mark stay).
MOVED = ("state", "open", "open_key", "requested_by", "updated_at")
NARROW = ("state", "updated_at")  # a move that leaves the card open under the same key, from the same requester
STAYED = ("updated_at",)
#: The types PostgreSQL is told of the cards' columns in a VALUES list (it would guess text).
_TYPES = {"id": "integer", "state": "text", "open": "boolean", "open_key": "text", "requested_by": "text", "updated_at": "text"}
#: The most columns in which the rows of one insert may differ and be read from one JSON array (`insert_alike`):
#: beyond, reading each from JSON costs more than binding it.
ALIKE = 3
#: The types of the values one JSON array carries as they are stored.
_JSON_TYPES = {int, str, bool, type(None)}
#: A text this long that differs from row to row (a call's payload, itself JSON) is bound as it is: its
#: quotes escaped into one JSON array and read back cost more than binding it (2,000 calls: 10.4 µs a
#: row against 9.8).
LONG_TEXT = 120
#: The key of the lock held while a block of card ids is taken from the sequence (the next number).
CARD_IDS_LOCK = MIGRATION_LOCK + 1


class Dialect:
    """SQLite's ways, the base of the others: the writer holds the whole store, so nothing here
    needs a lock of its own."""

    name = "sqlite"
    copies = False

    def card_ids(self, connection: Connection, count: int, *, planned: bool = False) -> list[int]:
        """`count` ids for new cards, in increasing order (`planned`: for a plan, which writes nothing)."""
        if count == 0:
            return []
        first = int(connection.execute(text("SELECT coalesce(max(id), 0) FROM cards")).scalar_one()) + 1
        return list(range(first, first + count))

    def claim(self, query: Select[Any]) -> Select[Any]:
        """The query, so that the rows it returns are this transaction's alone (others skip them)."""
        return query

    def lock(self, query: Select[Any]) -> Select[Any]:
        """The query, so that the rows it returns stay as read until this transaction ends."""
        return query

    def lock_migrations(self, connection: Connection) -> None:
        """Make this transaction the only one migrating the store until it ends."""

    def set_states(
        self, connection: Connection, changes: Sequence[tuple[Any, ...]], columns: tuple[str, ...] = MOVED
    ) -> set[int]:
        """Compare-and-set many cards at once, each change `(id, state read, *values of columns)` with
        one card id once: a statement a slice, the ids of the cards that were still in the state read
        (and so were set)."""
        done: set[int] = set()
        for start in range(0, len(changes), SET_STATES_SLICE):
            part = changes[start : start + SET_STATES_SLICE]
            flat = tuple(chain.from_iterable(part))
            done.update(connection.exec_driver_sql(self._set_states_sql(len(part), columns), flat).scalars().all())
        return done

    @staticmethod
    @lru_cache(maxsize=8)
    def _set_states_sql(count: int, columns: tuple[str, ...]) -> str:
        marks = "(" + ", ".join(["?"] * (len(columns) + 2)) + ")"
        values = ", ".join([marks] * count)  # SQLite names a VALUES table's columns column1, ...
        sets = ", ".join(f"{name} = v.column{number}" for number, name in enumerate(columns, start=3))
        return (
            f"UPDATE cards SET {sets}{_cleared(columns)} FROM (VALUES {values}) AS v "
            "WHERE cards.id = v.column1 AND cards.state = v.column2 RETURNING cards.id"
        )

    def insert_for_ids(self, connection: Connection, table: str, column: str, ids: Sequence[int], same: dict[str, Any]) -> None:
        """Insert a row for each of `ids` (in `column`) whose other columns are `same`, in one statement
        that reads the ids as one JSON array (100,000 timers: 91 ms, against 235 ms binding each row's
        six values in an executemany)."""
        if ids:
            sql = _alike_sql(table, (column, *same), (0,))
            connection.exec_driver_sql(sql, (*same.values(), json.dumps(list(ids))))

    def insert_alike(self, connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> bool:
        """Insert rows that differ in at most ALIKE columns, each value one JSON carries as it is, in one
        statement: the same values bound once, the others read from one JSON array (transitions whose
        card alone differs: 95 ms for 100,000 against 305 ms in an executemany). False, and nothing
        written, for rows that differ more (the caller inserts them as they are)."""
        if len(rows) < 2:
            return False
        values = list(zip(*rows, strict=True))
        found: list[int] = []
        for at, column in enumerate(values):
            if column.count(column[0]) != len(column):
                found.append(at)
                if len(found) > ALIKE or not set(map(type, column)) <= _JSON_TYPES or _long(column[0]):
                    return False
        varying = tuple(found)
        if len(varying) == 1:
            carried = json.dumps(values[varying[0]])
        else:
            carried = json.dumps(list(zip(*(values[at] for at in varying), strict=True)))
        same = tuple(value for at, value in enumerate(rows[0]) if at not in varying)
        connection.exec_driver_sql(_alike_sql(table, columns, varying), (*same, carried))
        return True

    def copy_rows(self, connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError("SQLite has no COPY; see `copies`")

    def copy_tuples(self, connection: Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        raise NotImplementedError("SQLite has no COPY; see `copies`")

    def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """Tell whoever listens on `channel` once this transaction commits (on SQLite nobody listens)."""

    @contextmanager
    def listening(self, engine: Engine, channel: str) -> Iterator[Callable[[float], None]]:
        """A wait of at most so many seconds, ended early by a notice on `channel` (SQLite: a pause)."""
        yield time.sleep

    @contextmanager
    def apart(self, connection: Connection) -> Iterator[Connection]:
        """Where a unit of work writes rows that others side by side write too: its own transaction
        (SQLite's writers take turns)."""
        yield connection


class PostgreSQL(Dialect):
    """PostgreSQL: writers run side by side, so claims and actions lock their rows."""

    name = "postgresql"
    copies = True

    def card_ids(self, connection: Connection, count: int, *, planned: bool = False) -> list[int]:
        if planned:  # a plan must not take values from the sequence: its ids are only shown
            return super().card_ids(connection, count)
        if count == 0:
            return []
        # One nextval per id cost as much as writing the card; so the block is taken in one step,
        # under a lock held for that step alone (every taker of card ids comes through here).
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": CARD_IDS_LOCK})
        try:
            taken = text(
                "SELECT setval(pg_get_serial_sequence('cards', 'id'), nextval(pg_get_serial_sequence('cards', 'id')) + :more)"
            )
            last = int(connection.execute(taken, {"more": count - 1}).scalar_one())
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CARD_IDS_LOCK})
        return list(range(last - count + 1, last + 1))

    def claim(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update(skip_locked=True)

    def lock(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update()

    def lock_migrations(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})

    @staticmethod
    @lru_cache(maxsize=8)
    def _set_states_sql(count: int, columns: tuple[str, ...]) -> str:
        typed = "(" + ", ".join(f"%s::{_TYPES[name]}" for name in ("id", "state", *columns)) + ")"
        values = ", ".join([typed] + ["(" + ", ".join(["%s"] * (len(columns) + 2)) + ")"] * (count - 1))
        sets = ", ".join(f"{name} = v.new_{name}" for name in columns)
        names = ", ".join(f"new_{name}" for name in columns)
        return (
            f"UPDATE cards SET {sets}{_cleared(columns)} FROM (VALUES {values}) AS v (card, was, {names}) "
            "WHERE cards.id = v.card AND cards.state = v.was RETURNING cards.id"
        )

    def copy_rows(self, connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (dicts with the same keys) with one COPY, in the caller's transaction."""
        columns = tuple(rows[0])
        values = itemgetter(*columns)
        single = len(columns) == 1
        self.copy_tuples(connection, table.name, columns, ((values(row),) if single else values(row) for row in rows))

    def insert_alike(self, connection: Connection, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> bool:
        """Nothing: PostgreSQL's many rows go in with COPY (`copies`)."""
        return False

    def insert_for_ids(self, connection: Connection, table: str, column: str, ids: Sequence[int], same: dict[str, Any]) -> None:
        """Insert a row for each of `ids` (in `column`) whose other columns are `same`, with one COPY."""
        values = tuple(same.values())
        self.copy_tuples(connection, table, (column, *same), ((key, *values) for key in ids))

    def copy_tuples(self, connection: Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert rows given as tuples of `columns` with one COPY, in the caller's transaction."""
        import psycopg  # here, not at the top: an SQLite store needs no PostgreSQL driver

        quote = connection.dialect.identifier_preparer.quote
        statement = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        try:
            with closing(connection.connection.cursor()) as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.IntegrityError as error:  # as SQLAlchemy's own statements raise it, for the callers that retry
            raise IntegrityError(statement, None, error) from error

    def notify(self, connection: Connection, channel: str, payload: str) -> None:
        connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})

    @contextmanager
    def apart(self, connection: Connection) -> Iterator[Connection]:
        """A transaction of its own, committed when the block ends: a row written in the caller's would
        keep another writer of the same key waiting until the caller's whole transaction ends."""
        with connection.engine.begin() as own:
            yield own

    @contextmanager
    def listening(self, engine: Engine, channel: str) -> Iterator[Callable[[float], None]]:
        raw = engine.raw_connection()
        driver: Any = raw.driver_connection
        driver.autocommit = True
        try:
            driver.execute(f'LISTEN "{channel}"')  # a channel of cardflow's own, never a user's text

            def wait(seconds: float) -> None:
                for _ in driver.notifies(timeout=seconds, stop_after=1):
                    pass

            yield wait
        finally:
            raw.invalidate()  # a session that listened is not given back to the pool


_TAKE_CARD_IDS = text(
    "SELECT setval(pg_get_serial_sequence('cards', 'id'), nextval(pg_get_serial_sequence('cards', 'id')) + :more)"
)


@lru_cache(maxsize=64)
def _alike_sql(table: str, columns: tuple[str, ...], varying: tuple[int, ...]) -> str:
    """An insert of `columns` whose `varying` ones are read from a JSON array (of values, or of lists of
    them), the others bound once, in column order, before the array."""
    picked = {at: "value" if len(varying) == 1 else f"json_extract(value, '$[{n}]')" for n, at in enumerate(varying)}
    selected = ", ".join(picked.get(at, "?") for at in range(len(columns)))
    names = ", ".join(f'"{name}"' for name in columns)
    return f'INSERT INTO "{table}" ({names}) SELECT {selected} FROM json_each(?)'


def _cleared(columns: tuple[str, ...]) -> str:
    """The `timerless` mark cleared where the cards move (their new state's timers are armed after)."""
    return ", timerless = FALSE" if "state" in columns else ""


_DIALECTS: dict[str, Dialect] = {"sqlite": Dialect(), "postgresql": PostgreSQL()}


def of(connection: Connection | Engine) -> Dialect:
    """The dialect of the store `connection` (or an engine) is open on."""
    try:
        return _DIALECTS[connection.dialect.name]
    except KeyError:
        raise NotImplementedError(f"cardflow does not support {connection.dialect.name} stores") from None


def _long(value: Any) -> bool:
    """Whether a varying value is a text too long to carry in one JSON array (LONG_TEXT)."""
    return isinstance(value, str) and len(value) > LONG_TEXT
