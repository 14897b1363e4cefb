"""The console's lists page by keyset (engine.store.pages): walked forward and back, in either order,
the pages give every matching row once, in order, with the total and each page's place, on the
store under test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from conftest import StoreUnderTest
from sqlalchemy import Engine, insert

from engine.store import db, pages
from engine.store.pages import Page, Window
from engine.store.queries import open_store

PROCESSES = ("Alpha", "Beta")
STATES = ("requested", "ordered", "failed")
WAITING = {(0, "ordered"), (1, "requested"), (1, "failed")}


@pytest.fixture
def store(stored: StoreUnderTest) -> Iterator[Engine]:
    """137 cards over two processes and three states, moved on days 1 to 9 of December; 23 batches
    that started at only four moments (so their key needs its second column)."""
    engine = open_store(stored.location)
    cards = [
        {
            "user_id": f"u{n:03d}",
            "process": PROCESSES[n % 2],
            "state": STATES[n % 3],
            "open": True,
            "requester": "op1",
            "batch_id": f"B{n % 23:02d}",
            "created_at": "2026-12-01T08:00:00Z",
            "updated_at": f"2026-12-0{n % 9 + 1}T12:00:00Z",
        }
        for n in range(137)
    ]
    batches = [
        {
            "id": f"B{n:02d}",
            "process": PROCESSES[n % 2],
            "actor": "op1",
            "options": "{}",
            "fingerprint": "f",
            "selection": "{}",
            "status": "complete" if n % 5 else "incomplete",
            "created": 1,
            "skipped": 0,
            "created_at": f"2026-12-0{n % 4 + 1}T09:00:00Z",
        }
        for n in range(23)
    ]
    with engine.begin() as connection:
        connection.execute(insert(db.cards), cards)
        connection.execute(insert(db.batches), batches)
    yield engine
    engine.dispose()


def _walk(read: Any, window: Window) -> Iterator[Page]:
    """Every page from the first to the last, each read after the last key of the one before."""
    page = read(window)
    yield page
    while page.later is not None:
        page = read(Window(after=page.later, newest_first=window.newest_first, size=window.size))
        yield page


def _walk_back(read: Any, last: Page, window: Window) -> Iterator[Page]:
    page = last
    while page.earlier is not None:
        page = read(Window(before=page.earlier, newest_first=window.newest_first, size=window.size))
        yield page


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, lambda n: True),
        ({"state": "failed"}, lambda n: n % 3 == 2),
        ({"process": "Beta", "batch": "B03"}, lambda n: n % 2 == 1 and n % 23 == 3),
        ({"updated_from": date(2026, 12, 3), "updated_to": date(2026, 12, 4)}, lambda n: n % 9 + 1 in (3, 4)),
        ({"waiting": {"Alpha": ["ordered"], "Beta": ["requested", "failed"]}}, lambda n: (n % 2, STATES[n % 3]) in WAITING),
        ({"user": "nobody"}, lambda n: False),
    ],
)
def test_walking_the_pages_gives_every_card_once_in_order(
    store: Engine, filters: dict[str, Any], expected: Any, newest_first: bool
) -> None:
    ids = [n + 1 for n in range(137) if expected(n)]
    ids = ids[::-1] if newest_first else ids
    window = Window(newest_first=newest_first, size=10)
    with db.reading(store) as connection:
        read = lambda w: pages.cards(connection, pages.card_filters(**filters), w)  # noqa: E731
        forward = list(_walk(read, window))
        backward = list(_walk_back(read, forward[-1], window))
    assert [card["id"] for page in forward for card in page.rows] == ids
    assert {page.total for page in forward} == {len(ids)}
    assert [page.skipped for page in forward] == [10 * n for n in range(len(forward))]
    assert [card["id"] for page in reversed(backward) for card in page.rows] == ids[: 10 * (len(forward) - 1)]
    assert [page.skipped for page in backward] == [10 * n for n in reversed(range(len(forward) - 1))]
    assert (forward[0].earlier, forward[-1].later) == (None, None)
    assert backward[-1].earlier is None if backward else True


@pytest.mark.parametrize("newest_first", [False, True])
def test_batches_that_started_at_one_moment_are_each_shown_once(store: Engine, newest_first: bool) -> None:
    window = Window(newest_first=newest_first, size=4)
    with db.reading(store) as connection:
        read = lambda w: pages.batches(connection, None, None, w)  # noqa: E731
        forward = list(_walk(read, window))
        read_incomplete = lambda w: pages.batches(connection, "incomplete", None, w)  # noqa: E731
        incomplete = [batch["id"] for page in _walk(read_incomplete, window) for batch in page.rows]
    shown = [(batch["created_at"], batch["id"]) for page in forward for batch in page.rows]
    assert shown == sorted(shown, reverse=newest_first) and len(shown) == len(set(shown)) == 23
    assert sorted(incomplete) == ["B00", "B05", "B10", "B15", "B20"]
    assert "options" not in forward[0].rows[0] and "selection" not in forward[0].rows[0]


def test_a_page_past_the_last_row_is_empty_and_offers_the_way_back(store: Engine) -> None:
    with db.reading(store) as connection:
        page = pages.cards(connection, [], Window(after=(10_000,), size=10))
        previous = pages.cards(connection, [], Window(before=(10_000,), size=10))
    assert (page.rows, page.total, page.earlier, page.later) == ([], 137, None, None)
    assert [card["id"] for card in previous.rows] == list(range(128, 138))
    assert (previous.skipped, previous.later) == (127, (137,))


@pytest.mark.parametrize("newest_first", [False, True])
def test_the_last_page_holds_the_last_rows_in_the_order_shown(store: Engine, newest_first: bool) -> None:
    """A full page, whatever the total (keyset pages do not fall on multiples of their size)."""
    with db.reading(store) as connection:
        last = pages.cards(connection, [], Window(last=True, newest_first=newest_first, size=10))
    expected = list(range(10, 0, -1)) if newest_first else list(range(128, 138))
    assert [card["id"] for card in last.rows] == expected
    assert (last.total, last.skipped, last.later, last.earlier is not None) == (137, 127, None, True)
