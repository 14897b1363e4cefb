"""Many rows inserted at once: on SQLite, rows that differ in a few columns only (a batch's audit rows,
whose card alone differs) go in with one statement reading those columns from one JSON array, the
others bound once; the rows read back are the rows given, value for value, on both stores."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ON_POSTGRES, StoreUnderTest, statements_run

from engine.batch.work import TRANSITION_COLUMNS
from engine.store import queries
from engine.store.db import connect

AUDIT = ("CardsBoProcRequestMulitple", "start", "registered", "requested", "op1", "2026-12-01T09:00:00Z", "B1", "f" * 16)


def audit_rows(count: int, **varying: Any) -> list[tuple[Any, ...]]:
    """`count` audit rows of cards 1, 2, ...: the same but for the card, and the columns in `varying`
    (each a function of the row's number)."""
    rows = []
    for number in range(1, count + 1):
        row = dict(zip(TRANSITION_COLUMNS, (number, *AUDIT, "d" * 24, None, None), strict=True))
        row.update({name: make(number) for name, make in varying.items()})
        rows.append(tuple(row[name] for name in TRANSITION_COLUMNS))
    return rows


@pytest.mark.parametrize(
    ("varying", "in_one_statement"),
    [
        ({}, True),  # the card alone
        ({"reason": lambda n: None if n % 2 else f'nöt "quoted" {n}', "fields": lambda n: f'{{"n": {n}}}'}, True),
        ({"reason": str, "fields": str, "batch_id": str, "actor": str}, False),  # four more: bound a row each
        ({"reason": lambda n: f"{n} " + "long " * 30}, False),  # a long text (a payload): bound a row each
    ],
)
def test_rows_alike_are_stored_as_given(stored: StoreUnderTest, varying: dict[str, Any], in_one_statement: bool) -> None:
    rows = audit_rows(300, **varying)
    engine = connect(stored.location)
    with statements_run(engine) as run, engine.begin() as connection:
        queries.insert_tuples(connection, "transitions", TRANSITION_COLUMNS, rows)
    engine.dispose()
    read = stored.rows(f"SELECT {', '.join(TRANSITION_COLUMNS)} FROM transitions ORDER BY id")
    assert read == rows
    if not ON_POSTGRES:  # PostgreSQL copies every row
        assert [statement for statement in run if "json_each" in statement] == (
            [next(s for s in run if "INSERT" in s)] if in_one_statement else []
        )


def test_a_flag_and_an_empty_text_read_back_as_given(stored: StoreUnderTest) -> None:
    """A card's `open` flag, an audit row's reason: true and false, '' and None are not confused on the way."""
    engine = connect(stored.location)
    cards = [
        {"id": n, "user_id": f"u{n}", "process": "P", "state": "s", "open": n % 2 == 0, "requester": "op1",
         "batch_id": "B", "created_at": "t", "updated_at": "t", "fields": "{}"}
        for n in range(1, 31)
    ]  # fmt: skip
    rows = audit_rows(30, reason=lambda n: "" if n % 3 else None)
    with statements_run(engine) as run, engine.begin() as connection:
        queries.insert_many(connection, queries.db.cards, cards)
        queries.insert_tuples(connection, "transitions", TRANSITION_COLUMNS, rows)
    engine.dispose()
    assert stored.rows("SELECT id, open FROM cards ORDER BY id") == [(card["id"], card["open"]) for card in cards]
    assert stored.rows("SELECT card_id, reason FROM transitions ORDER BY id") == [(row[0], row[10]) for row in rows]
    assert ON_POSTGRES or len([statement for statement in run if "json_each" in statement]) == 2


def test_rows_whose_key_is_stored_already_are_left_as_stored(stored: StoreUnderTest) -> None:
    """Tuples inserted with `skip_existing` (a chunk's pending calls, one of which an earlier attempt
    wrote): the stored row stays as it was, the others go in, on both stores (no COPY, no JSON array)."""
    from engine.batch.calls import CALL_COLUMNS

    def call(card: int, payload: str) -> tuple[Any, ...]:
        return (f"printer%print%card{card}.1", card, "printer", "print", payload, "P", "issue", "approved", "op1", "B1",
                None, "pending", 0, "t", "t")  # fmt: skip

    engine = connect(stored.location)
    with engine.begin() as connection:
        queries.insert_tuples(connection, "calls", CALL_COLUMNS, [call(2, '{"earlier": true}')])
    with engine.begin() as connection:
        queries.insert_tuples(
            connection, "calls", CALL_COLUMNS, [call(n, "{}") for n in (1, 2, 3)], skip_existing="idempotency_key"
        )
    engine.dispose()
    assert stored.rows("SELECT card_id, payload FROM calls ORDER BY card_id") == [(1, "{}"), (2, '{"earlier": true}'), (3, "{}")]
