"""Statements compiled once for a dialect and run on the driver's cursor: the hot reads and writes of a
chunk (its users, cards and due timers), whose rows come back as the driver gives them (tuples)
without SQLAlchemy's work on each row and value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Table, bindparam, select

from engine.store import dialect
from engine.store.user_rows import Row

#: A statement compiled for one dialect: its SQL, the order of its positional parameters (None
#: when named), and the values of the parameters the dialect adds itself.
Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]

#: The most ids one statement of `by_ids` reads; fewer are padded to the next power of two, so a
#: dialect has a dozen such statements a table, each compiled once.
IDS = 1024


def compiled(query: Any, for_dialect: Any) -> Compiled:
    """`query` compiled once for a dialect, to be run on the driver's cursor (`driver_rows`, `execute_many`)."""
    found = query.compile(dialect=for_dialect)
    order = tuple(found.positiontup) if found.positional and found.positiontup is not None else None
    return found.string, order, dict(found.construct_params())


def driver_rows(connection: Connection, statement: Compiled, values: Row) -> list[tuple[Any, ...]]:
    """The rows of a `compiled` query with `values` for its parameters, as the driver gives them
    (tuples, without SQLAlchemy's work on each row or value)."""
    sql, order, defaults = statement
    with closing(connection.connection.cursor()) as cursor:
        cursor.execute(sql, _parameters(order, {**defaults, **values}))
        return list(cursor.fetchall())


def seen_rows(connection: Connection, statement: Compiled, values: Row) -> Sequence[Any]:
    """As `driver_rows`, through the connection (whose events see the statement), each row a tuple."""
    sql, order, defaults = statement
    return connection.exec_driver_sql(sql, _parameters(order, {**defaults, **values})).all()


def execute_many(connection: Connection, statement: Compiled, rows: Sequence[Row]) -> None:
    """Run a `compiled` statement once for each row (dicts of its parameters) in one DBAPI executemany,
    without SQLAlchemy's work on each row (for columns whose values need no conversion)."""
    sql, order, defaults = statement
    connection.exec_driver_sql(sql, [_parameters(order, {**defaults, **row}) for row in rows])


def execute_tuples(connection: Connection, statement: Compiled, fields: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    """As `execute_many`, for rows given as tuples of the parameters `fields` (the statement's other
    parameters keep the values it was compiled with): no dict is made a row where the driver's
    parameters are positional."""
    sql, order, defaults = statement
    if order is None:
        connection.exec_driver_sql(sql, [{**defaults, **dict(zip(fields, row, strict=True))} for row in rows])
        return
    rest = tuple(name for name in order if name not in fields)
    if rest:
        extra = tuple(defaults[name] for name in rest)
        rows = [row + extra for row in rows]
    named = (*fields, *rest)
    values = itemgetter(*(named.index(name) for name in order))
    connection.exec_driver_sql(sql, [values(row) for row in rows] if len(order) > 1 else [(values(row),) for row in rows])


def _parameters(order: tuple[str, ...] | None, values: Row) -> Row | tuple[Any, ...]:
    """A statement's parameters as its driver takes them: in `order` where they are positional, else by name."""
    return values if order is None else tuple(values[name] for name in order)


def by_ids(connection: Connection, columns: tuple[Column[Any], ...], ids: Sequence[Any], *, lock: bool = False) -> list[Any]:
    """The rows of `columns` (of one table, the first its key) whose key is among `ids`, in key order,
    as tuples; with `lock`, held as read until the transaction ends (PostgreSQL)."""
    locking = dialect.of(connection) if lock else None
    return among_ids(connection, lambda size: _by_ids_statement(connection.dialect, locking, columns, size), ids)


def among_ids(connection: Connection, statement_of: Callable[[int], Compiled], ids: Sequence[Any]) -> list[Any]:
    """The rows of a query whose one expanding parameter `ids` is given each slice of `ids` (IDS at
    most, in order, each key once), as tuples; `statement_of(size)`: the query `expanded` to `size`
    keys (a slice is padded to a power of two with its last key, which an IN list reads once)."""
    wanted = sorted({key for key in ids if key is not None})
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(wanted), IDS):
        part = wanted[start : start + IDS]
        size = 1 << (len(part) - 1).bit_length()
        padded = part + [part[-1]] * (size - len(part))
        found += seen_rows(connection, statement_of(size), {f"ids_{number}": key for number, key in enumerate(padded, start=1)})
    return found


def expanded(query: Any, for_dialect: Any, size: int) -> Compiled:
    """`query`, whose expanding parameter is `ids`, compiled once and expanded to `size` keys
    (parameters ids_1 to ids_SIZE): a fraction of the time compiling `size` parameters takes."""
    found = query.compile(dialect=for_dialect)
    state = found.construct_expanded_state({"ids": [None] * size})
    order = tuple(state.positiontup) if found.positional and state.positiontup is not None else None
    defaults = {name: value for name, value in state.parameters.items() if not name.startswith("ids_")}
    return state.statement, order, defaults


@lru_cache(maxsize=64)
def _by_ids_statement(for_dialect: Any, locking: dialect.Dialect | None, columns: tuple[Column[Any], ...], size: int) -> Compiled:
    """The statement reading `size` keys of `columns`, in key order (`expanded`)."""
    key = columns[0]
    query = select(*columns).where(key.in_(bindparam("ids", expanding=True))).order_by(key)
    return expanded(locking.lock(query) if locking is not None else query, for_dialect, size)


def records(table: Table, rows: Sequence[Any]) -> list[Row]:
    """Rows of every column of `table`, in its order, as dicts, its flags made booleans as SQLAlchemy would."""
    names, flags = _shape(table)
    found = [dict(zip(names, row, strict=True)) for row in rows]
    if flags:
        for record in found:
            for flag in flags:
                record[flag] = bool(record[flag])
    return found


@lru_cache(maxsize=16)
def _shape(table: Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = tuple(column.name for column in table.c)
    return names, tuple(column.name for column in table.c if isinstance(column.type, Boolean))
