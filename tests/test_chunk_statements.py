"""The reads and writes of a chunk that run as statements compiled once (engine.store.driver): the cards
and users read by id are the rows SQLAlchemy reads, and a card that stays in its state sets its time
alone, still a compare-and-set."""

from __future__ import annotations

import re
from typing import Any

from conftest import StoreUnderTest, statements_run
from sqlalchemy import select

from engine.store import db, queries
from engine.store.user_rows import user_record

CARDS = 1500  # more than one statement's worth of ids (engine.store.driver.IDS)


def _card(card_id: int) -> dict[str, Any]:
    return {"id": card_id, "user_id": f"u{card_id:05d}", "process": "P", "state": "s", "open": card_id % 2 == 0,
            "requester": "op", "production_type": None, "batch_id": "B1", "created_at": "t", "updated_at": "t",
            "open_key": f"g:u{card_id:05d}" if card_id % 2 == 0 else None, "requested_by": "op",
            "timerless": card_id % 3 == 0}  # fmt: skip


def _moved_columns(stored: StoreUnderTest) -> list[tuple[Any, ...]]:
    """Each stored card's id and the columns a move may set, its flags as booleans, by id."""
    rows = stored.rows("SELECT id, state, open, open_key, requested_by, updated_at, timerless FROM cards ORDER BY id")
    return [(row[0], row[1], bool(row[2]), row[3], row[4], row[5], bool(row[6])) for row in rows]


def _user(number: int) -> dict[str, Any]:
    roles = '["approver"]' if number % 2 else "[]"
    return {"id": f"u{number:05d}", "name": f"User {number}", "email": f"u{number}@example.org", "state": "active",
            "roles": roles, "attributes": '{"department": "Sales"}' if number % 5 else "{}", "updated_at": "t"}  # fmt: skip


def test_cards_and_users_read_by_id_are_the_rows_sqlalchemy_reads(stored: StoreUnderTest) -> None:
    """Read by a list of ids (repeated, unknown and missing ones among them, more than one statement
    holds), the cards are every column SQLAlchemy reads, their flags booleans, in id order, also when
    held for the transaction; the users are the records of their rows, None and unknown ids left out."""
    engine = db.connect(stored.location)
    wanted = [7, 7, 3, 99_999, *range(1, CARDS + 1, 2), CARDS]
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, [_card(number) for number in range(1, CARDS + 1)])
        queries.upsert_users(connection, [_user(number) for number in range(1, CARDS + 1)])
        expected = {row.id: dict(row._mapping) for row in connection.execute(select(db.cards).order_by(db.cards.c.id))}
        for lock in (False, True):
            found = queries.get_cards(connection, wanted, lock=lock)
            assert list(found) == sorted({number for number in wanted if number <= CARDS})
            assert found == {number: expected[number] for number in found}
            assert {type(card[flag]) for card in found.values() for flag in ("open", "timerless")} == {bool}
        users = queries.users_by_id(connection, ["u00002", None, "nobody", *(f"u{n:05d}" for n in range(1, CARDS + 1, 3))])  # type: ignore[list-item]
        rows = connection.execute(queries.select_users().order_by(db.users.c.id)).all()
    engine.dispose()
    records = {row[0]: user_record(row) for row in rows}
    assert set(users) == {"u00002", *(f"u{n:05d}" for n in range(1, CARDS + 1, 3))}
    assert users == {user: records[user] for user in users}
    assert users["u00001"]["roles"] == ["approver"] and users["u00001"]["department"] == "Sales"


def test_a_card_that_stays_in_its_state_sets_its_time_alone(stored: StoreUnderTest) -> None:
    """A change that leaves a card's state, openness, group key and requester as they were (a
    transition back into its state) writes its time and nothing else: the statement sets no column an
    index by state or group key holds, and the card keeps its `timerless` mark (its timers stay as
    they were), where a move clears it. It is still a compare-and-set (a card no longer in the state
    read is left and reported), beside the moves of the same call."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, [_card(number) for number in (1, 2, 3, 6)])
        unchanged = {"open": True, "open_key": "g:u00006", "requested_by": "op", "updated_at": "t2", "stayed": True}
        moved = {"state": "t", "open": False, "open_key": None, "requested_by": "op2", "updated_at": "t2"}
        changes = [
            {**unchanged, "id": 6, "was": "s", "state": "s"},
            {**unchanged, "id": 1, "was": "other", "state": "other"},  # moved by another command meanwhile
            {**moved, "id": 3, "was": "s"},  # marked timerless: the move clears it
        ]
        with statements_run(engine) as statements:
            lost = queries.set_card_states(connection, changes)
    engine.dispose()
    assert lost == {1}
    assert _moved_columns(stored) == [
        (1, "s", False, None, "op", "t", False),
        (2, "s", True, "g:u00002", "op", "t", False),
        (3, "t", False, None, "op2", "t2", False),
        (6, "s", True, "g:u00006", "op", "t2", True),
    ]
    sets = [statement.split(" FROM ")[0].split(" SET ")[1] for statement in statements if statement.startswith("UPDATE cards")]
    assert len(sets) == 2  # one statement for the moves, one for the cards that stayed
    assert [re.sub(r"v\.\w+", "v", found) for found in sets if "state =" not in found] == ["updated_at = v"]


def test_a_card_changed_twice_in_one_unit_of_work_keeps_its_mark_where_it_stayed(stored: StoreUnderTest) -> None:
    """A unit of work that changes a card twice (a `fire` effect and its own firing) is written a change
    at a time: a change that stays writes the card's time alone and keeps its `timerless` mark, as a
    slice's statement does; a move clears it; each is still a compare-and-set."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, [_card(number) for number in (3, 6)])  # both marked timerless
        stays = {"open": True, "open_key": "g:u00006", "requested_by": "op", "stayed": True}
        changes = [
            {**stays, "id": 6, "was": "s", "state": "s", "updated_at": "t2"},
            {**stays, "id": 6, "was": "s", "state": "s", "updated_at": "t3"},
            {"id": 3, "was": "s", "state": "t", "open": True, "open_key": None, "requested_by": "op2", "updated_at": "t2"},
            {"id": 3, "was": "t", "state": "t", "open": True, "open_key": None, "requested_by": "op2", "updated_at": "t3",
             "stayed": True},
            {**stays, "id": 6, "was": "other", "state": "other", "updated_at": "t4"},  # not in that state: lost
        ]  # fmt: skip
        lost = queries.set_card_states(connection, changes)
    engine.dispose()
    assert lost == {6}
    rows = stored.rows("SELECT id, state, requested_by, updated_at, timerless FROM cards ORDER BY id")
    found = [(row[0], row[1], row[2], row[3], bool(row[4])) for row in rows]
    assert found == [(3, "t", "op2", "t3", False), (6, "s", "op", "t3", True)]


def test_a_move_that_leaves_the_rest_as_it_was_sets_the_state_and_time_alone(stored: StoreUnderTest) -> None:
    """A move that leaves the card open under the same group key, from the same requester (an order
    answered: registered to ordered), writes its state and time only, the `timerless` mark cleared
    (its new state's timers are armed after), not the group key's index; still a compare-and-set,
    beside the full moves of the same call."""
    engine = db.connect(stored.location)
    with engine.begin() as connection:
        queries.insert_many(connection, db.cards, [_card(number) for number in (2, 3, 6)])
        narrow = {"open": True, "requested_by": "op", "updated_at": "t2", "narrow": True}
        changes = [
            {**narrow, "id": 6, "was": "s", "state": "ordered", "open_key": "g:u00006"},
            {**narrow, "id": 2, "was": "other", "state": "ordered", "open_key": "g:u00002"},  # moved meanwhile
            {"id": 3, "was": "s", "state": "t", "open": False, "open_key": None, "requested_by": "op2", "updated_at": "t2"},
        ]
        with statements_run(engine) as statements:
            lost = queries.set_card_states(connection, changes)
    engine.dispose()
    assert lost == {2}
    assert _moved_columns(stored) == [
        (2, "s", True, "g:u00002", "op", "t", False),
        (3, "t", False, None, "op2", "t2", False),
        (6, "ordered", True, "g:u00006", "op", "t2", False),
    ]
    sets = [statement.split(" FROM ")[0].split(" SET ")[1] for statement in statements if statement.startswith("UPDATE cards")]
    assert sorted(re.sub(r"v\.\w+", "v", found) for found in sets if "open_key" not in found) == [
        "state = v, updated_at = v, timerless = FALSE"
    ]
