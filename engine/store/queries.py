"""The store: reads and writes of users, batches, cards, transitions, orders and the outbox.

Every function takes an open connection, so the caller decides what commits together: a state
change, its audit row and its effects are always written in one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from engine import json_text
from engine.records import json_columns
from engine.store import db, dialect, driver, folding
from engine.store.checks import store_location
from engine.store.driver import Compiled, compiled, driver_rows
from engine.store.user_rows import user_record

CHUNK = 500
Row = dict[str, Any]


def open_store(location: str | None = None, *, mode: str = "write") -> Engine:
    """The store at --db, else $CARDFLOW_DB, else cardflow.db in the current folder (see `db.connect` for `mode`)."""
    return db.connect(store_location(location), mode=mode)


#: JSON as the store keeps it: keys sorted, non-ASCII as is, anything else as its str().
dumps = json_text.compact(sort_keys=True)


def _insert(connection: Connection, table: Any) -> Any:
    return _dialect_insert(connection.dialect.name)(table)


def _dialect_insert(name: str) -> Any:
    """The dialect's INSERT (with ON CONFLICT); PostgreSQL's is imported only when used (it pulls in asyncio)."""
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


# users


def upsert_users(connection: Connection, rows: Sequence[Row]) -> None:
    """Insert users, or update the ones whose id exists (re-import); their search columns are
    written from their name and attributes."""
    columns = ("name", "email", "state", "roles", "attributes", "updated_at", "folded_name", "folded_department")
    for start in range(0, len(rows), CHUNK):
        chunk = [{**row, **folding.folded(row["name"], row["attributes"])} for row in rows[start : start + CHUNK]]
        statement = _insert(connection, db.users)
        updates = {name: statement.excluded[name] for name in columns}
        connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=updates), chunk)


_USER_COLUMNS = tuple(db.users.c[name] for name in json_columns("user"))  # in `user_record`'s order


def select_users() -> Any:
    """A query of the users' columns in `user_record`'s order."""
    return select(*_USER_COLUMNS)


def users_by_id(connection: Connection, ids: Iterable[str]) -> dict[str, Row]:
    """The stored users among `ids`, by id."""
    return {row[0]: user_record(row) for row in driver.by_ids(connection, _USER_COLUMNS, list(ids))}


def user_count(connection: Connection) -> int:
    """How many users the store holds."""
    return int(connection.execute(select(func.count()).select_from(db.users)).scalar_one())


def user_page(connection: Connection, after: str | None, chunk: int = CHUNK) -> list[Row]:
    """The next `chunk` users in id order after the id `after` (keyset pagination: memory stays flat).

    The hottest read of a batch, so its rows come straight from the driver as tuples."""
    return raw_users(connection, _user_page_statement(connection.dialect, after is None), {"after": after, "chunk": chunk})


def raw_users(connection: Connection, statement: Compiled, values: Row) -> list[Row]:
    """The users a `compiled` query of `select_users()` reads, rows straight from the driver as tuples."""
    return [user_record(row) for row in driver_rows(connection, statement, values)]


@lru_cache(maxsize=8)
def _user_page_statement(dialect: Any, first: bool) -> Compiled:
    """A page of users, compiled."""
    query = select_users().order_by(db.users.c.id).limit(bindparam("chunk", CHUNK))
    if not first:
        query = query.where(db.users.c.id > bindparam("after", ""))
    return compiled(query, dialect)


def iter_users(connection: Connection, chunk: int = CHUNK) -> Iterator[list[Row]]:
    """Every user, in id order, a chunk at a time, on one connection."""
    rows = user_page(connection, None, chunk)
    while rows:
        yield rows
        rows = user_page(connection, rows[-1]["id"], chunk)


def user_chunks(engine: Engine, chunk: int = CHUNK) -> Iterator[list[Row]]:
    """Every user in id order, each chunk read in its own short read transaction (writers are not held up)."""
    after: str | None = None
    while True:
        with db.reading(engine) as connection:
            rows = user_page(connection, after, chunk)
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def users_with_role(connection: Connection, role: str) -> list[Row]:
    """Active users holding `role`, in id order (roles are a JSON list; the LIKE narrows, the check decides)."""
    query = select_users().where(db.users.c.state == "active", db.users.c.roles.like(f'%"{role}"%')).order_by(db.users.c.id)
    return [user for user in map(user_record, connection.execute(query)) if role in user["roles"]]


# batches


def get_batch(connection: Connection, batch_id: str) -> Row | None:
    row = connection.execute(select(db.batches).where(db.batches.c.id == batch_id)).first()
    return dict(row._mapping) if row else None


def list_batches(connection: Connection) -> list[Row]:
    """Every batch, oldest first; a batch still running (or killed) counts the cards it has made so far."""
    rows = [
        dict(row._mapping) for row in connection.execute(select(db.batches).order_by(db.batches.c.created_at, db.batches.c.id))
    ]
    for row in rows:
        if row["status"] == "running":
            row["created"] = batch_card_count(connection, row["id"])
    return rows


def batch_card_count(connection: Connection, batch_id: str) -> int:
    """How many cards batch `batch_id` has made (whichever run of it made them)."""
    query = select(func.count()).select_from(db.cards).where(db.cards.c.batch_id == batch_id)
    return int(connection.execute(query).scalar_one())


# cards


def among(column: Any, user_ids: Sequence[str], contiguous: bool) -> Any:
    """`column` is one of `user_ids`: a range when they are contiguous, else a list."""
    if contiguous and user_ids:
        return column.between(user_ids[0], user_ids[-1])
    return column.in_(list(user_ids))


def new_card_ids(connection: Connection, count: int, *, planned: bool = False) -> list[int]:
    """Ids for `count` new cards, taken from the database before their rows are written (see `dialect`)."""
    return dialect.of(connection).card_ids(connection, count, planned=planned)


def get_cards(connection: Connection, ids: Iterable[int], *, lock: bool = False) -> dict[int, Row]:
    """The cards among `ids`, by id; with `lock`, held as read until the transaction ends (PostgreSQL)."""
    rows = driver.by_ids(connection, tuple(db.cards.c), list(ids), lock=lock)
    return {card["id"]: card for card in driver.records(db.cards, rows)}


def find_cards(
    connection: Connection,
    *,
    user: str | None = None,
    state: str | None = None,
    process: str | None = None,
    batch: str | None = None,
    states: Sequence[str] | None = None,
    processes: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[Row]:
    """Cards matching every given filter, oldest first."""
    query = select(db.cards).order_by(db.cards.c.id)
    for column, value in (
        (db.cards.c.user_id, user),
        (db.cards.c.state, state),
        (db.cards.c.process, process),
        (db.cards.c.batch_id, batch),
    ):
        if value is not None:
            query = query.where(column == value)
    if states is not None:
        query = query.where(db.cards.c.state.in_(list(states)))
    if processes is not None:
        query = query.where(db.cards.c.process.in_(list(processes)))
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in connection.execute(query)]


def set_card_states(connection: Connection, changes: Sequence[Row]) -> set[int]:
    """Apply state changes, each a compare-and-set: a dict with id, the state it was read in
    (`was`), and the new state, open, open_key, requested_by, updated_at (`stayed`: none of them but
    updated_at changed; `narrow`: the state and updated_at alone). Return the ids of the cards that
    were no longer in the state read (another command moved them): those are left as they are. A
    card that stays keeps its `timerless` mark (no timer of its state is armed or dropped by staying)."""
    ids, cards = [c["id"] for c in changes], dialect.of(connection)
    if len(set(ids)) == len(ids):  # each card once (the common case): one statement a slice of each kind
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for change in changes:
            columns = _set(change)
            by_columns.setdefault(columns, []).append(_VALUES[columns](change))
        done: set[int] = set()
        for columns, rows in by_columns.items():
            done |= cards.set_states(connection, rows, columns)
        return set(ids) - done
    lost: set[int] = set()
    for change in changes:  # a card changed twice in one unit of work: a change at a time
        columns = _set(change)
        if not cards.set_states(connection, [_VALUES[columns](change)], columns):
            lost.add(change["id"])
    return lost


def _set(change: Row) -> tuple[str, ...]:
    """The columns a change sets: the fewer, the fewer indexes to write (a move that leaves the card
    open under the same key, from the same requester, writes neither's)."""
    return dialect.STAYED if change.get("stayed") else dialect.NARROW if change.get("narrow") else dialect.MOVED


_VALUES: dict[tuple[str, ...], Callable[[Row], tuple[Any, ...]]] = {
    columns: itemgetter("id", "was", *columns) for columns in (dialect.MOVED, dialect.NARROW, dialect.STAYED)
}


# audit, orders, outbox


def decision_id_of(text: str) -> str:
    """The content hash of a decision trace's JSON: equal traces are stored once."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def write_rows(connection: Connection, rows: dict[str, list[Row]]) -> None:
    """Insert the rows of one unit of work, table by table (COPY or executemany); their emails'
    dedupe keys are new (an email whose key may exist goes through `insert_many` with `skip_existing`)."""
    if rows.get("decisions"):
        write_decisions(connection, rows["decisions"])
    for name in ("cards", "transitions", "orders", "outbox", "bureau_attempts"):
        if rows.get(name):
            insert_many(connection, getattr(db, name), rows[name])
    if rows.get("calls"):  # a resumed run records its pending calls again: the stored ones stay
        insert_many(connection, db.calls, rows["calls"], skip_existing="idempotency_key")


def write_decisions(connection: Connection, rows: Sequence[Row]) -> None:
    """Store the decision traces not stored yet, each once (equal traces are one row: its id is their hash).

    Units of work side by side (the workers' chunks of a batch) write the same traces, and PostgreSQL
    makes the second writer of a key wait until the first's transaction ends, its whole chunk: so the
    new ones go in a transaction of their own (`Dialect.apart`), committed at once. A trace whose unit
    of work then rolls back stays, named by no transition, and serves the next attempt."""
    unique = {row["id"]: row for row in rows}
    stored = {key for (key,) in driver.by_ids(connection, (db.decisions.c.id,), list(unique))}
    new = [row for key, row in unique.items() if key not in stored]
    if new:
        with dialect.of(connection).apart(connection) as writing:
            insert_many(writing, db.decisions, new, skip_existing="id")


def insert_many(
    connection: Connection, table: Any, rows: Sequence[Row], *, skip_existing: str | tuple[str, ...] | None = None
) -> None:
    """Insert rows (dicts with the same keys) in one DBAPI executemany, or skip the ones whose
    `skip_existing` column (or columns, of a unique constraint) is taken. The statement is compiled
    once per dialect, table and columns; the rows go to the driver as tuples, which is what makes the
    hot path of a batch cheap. Where the store copies (PostgreSQL), rows that need no skipping go in
    with one COPY instead."""
    store = dialect.of(connection)
    if skip_existing is None and store.copies:
        store.copy_rows(connection, table, rows)
        return
    columns = tuple(rows[0])
    sql, order = _insert_statement(connection.dialect, table, columns, skip_existing)
    if order is None:
        connection.exec_driver_sql(sql, list(rows))
        return
    values = itemgetter(*order)
    tuples = [values(row) for row in rows] if len(order) > 1 else [(values(row),) for row in rows]
    if skip_existing is None and store.insert_alike(connection, table.name, order, tuples):
        return
    connection.exec_driver_sql(sql, tuples)


def insert_tuples(
    connection: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    skip_existing: str | None = None,
) -> None:
    """Insert rows given as tuples of `columns` into `table` in one DBAPI executemany (one COPY where
    the store copies, one statement for rows alike on SQLite); with `skip_existing`, a row whose value
    of that unique column is stored already is left as stored (an executemany on both stores)."""
    if not rows:
        return
    store = dialect.of(connection)
    if skip_existing is None and store.copies:
        store.copy_tuples(connection, table, columns, rows)
        return
    if skip_existing is None and store.insert_alike(connection, table, columns, rows):
        return
    sql, order = _insert_statement(connection.dialect, getattr(db, table), columns, skip_existing)
    if order is None:  # named parameters
        connection.exec_driver_sql(sql, [dict(zip(columns, row, strict=True)) for row in rows])
    elif order == columns:
        connection.exec_driver_sql(sql, list(rows))
    else:
        positions = itemgetter(*(columns.index(name) for name in order))
        connection.exec_driver_sql(sql, [positions(row) for row in rows])


@lru_cache(maxsize=64)
def _insert_statement(
    dialect: Any, table: Any, columns: tuple[str, ...], skip_existing: str | tuple[str, ...] | None
) -> tuple[str, Any]:
    """The SQL of an insert of `columns` and the order its positional parameters take (None when named)."""
    statement = _dialect_insert(dialect.name)(table)
    if skip_existing:
        conflict = [skip_existing] if isinstance(skip_existing, str) else list(skip_existing)
        statement = statement.on_conflict_do_nothing(index_elements=conflict)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    return compiled.string, tuple(compiled.positiontup) if compiled.positional else None


def outbox_by_key(connection: Connection, key: str) -> Row | None:
    row = connection.execute(select(db.outbox).where(db.outbox.c.dedupe_key == key)).first()
    return dict(row._mapping) if row else None


def replace_outbox_context(connection: Connection, key: str, context: Row, parts: Row) -> None:
    connection.execute(update(db.outbox).where(db.outbox.c.dedupe_key == key).values(context=dumps(context), **parts))


def list_outbox(connection: Connection, status: str | None = None) -> list[Row]:
    query = select(db.outbox).order_by(db.outbox.c.id)
    if status:
        query = query.where(db.outbox.c.status == status)
    return [dict(row._mapping) for row in connection.execute(query)]


def order_counts(connection: Connection, card_ids: Sequence[int]) -> dict[int, int]:
    """How many orders the bureau answered for each card, refused or accepted: each is spent (refused,
    or accepted and then failed in production), so the card's next order gets a new key."""
    query = select(db.orders.c.card_id, func.count()).where(db.orders.c.card_id.in_(list(card_ids))).group_by(db.orders.c.card_id)
    return {card: count for card, count in connection.execute(query)}
