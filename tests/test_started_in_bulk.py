"""A chunk's users whose start is settled are made and counted in bulk: the same counts, results
(kept as many as asked, in order) and rows as one user at a time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.batch.results import BatchResult
from engine.batch.settled import SettledStart

FAILED = 'The user must be in state "active".'


def _start() -> SettledStart:
    card = ("P", "approved", True, "op1", None, "B1", "t", "t")
    audit = ("P", "start", "registered", "approved", "op1", "t", "B1", "f", "d", None, None)
    return SettledStart("approved", True, "card_order", card, audit, "{}", [], [])


@given(
    skipped=st.lists(st.booleans(), max_size=30),
    keep=st.one_of(st.booleans(), st.integers(min_value=0, max_value=40)),
    kept_before=st.integers(min_value=0, max_value=5),
)
def test_users_started_in_bulk_are_those_started_one_at_a_time(skipped: list[bool], keep: bool | int, kept_before: int) -> None:
    users = [f"u{number:03d}" for number in range(len(skipped))]
    failures = {user: FAILED if skip else None for user, skip in zip(users, skipped, strict=True)}
    cards = list(range(100, 100 + skipped.count(False)))
    one, bulk = BatchResult("B1", "P"), BatchResult("B1", "P")
    for result in (one, bulk):  # a chunk before this one kept some already
        for number in range(kept_before):
            result.note(keep, f"t{number}", None, None, "skipped", FAILED)
    one_start, bulk_start, made = _start(), _start(), iter(cards)
    for user in users:
        if failures[user] is not None:
            one.note(keep, user, None, None, "skipped", failures[user])
        else:
            card = next(made)
            one_start.add(user, card)
            one.note(keep, user, card, "approved", "created")
    bulk_start.add_many([user for user in users if failures[user] is None], cards)
    bulk.note_started(keep, users, failures, cards, "approved")
    assert bulk.counts == one.counts
    assert bulk.results == one.results
    assert (bulk_start.cards, bulk_start.transitions) == (one_start.cards, one_start.transitions)
