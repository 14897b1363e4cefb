"""Arming a unit of work's timers (engine.batch.arming): a card moved twice in one unit of work (a
`fire` effect moved it, then its own firing did) has the timers of the state it ends in, and none of
a state it passed through."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import StoreUnderTest

from engine.batch.arming import arm_work
from engine.definitions.workspace import load_workspace
from engine.store.db import connect

REQUEST = "CardsBoProcRequestMulitple"
AT = "2026-12-01T09:00:00Z"


@dataclass
class Moves:
    """A unit of work that only moves cards (engine.batch.arming.Gathered)."""

    changes: list[dict[str, Any]]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    tuples: dict[Any, list[tuple[Any, ...]]] = field(default_factory=dict)


def move(was: str, state: str) -> dict[str, Any]:
    return {"id": 7, "process": REQUEST, "was": was, "state": state, "fields": None}


@pytest.mark.parametrize(
    ("moves", "armed"),
    [
        ([move("registered", "requested")], 2),  # `requested` has a reminder and an escalation
        ([move("registered", "requested"), move("requested", "rejected")], 0),  # passed through: none
        ([move("registered", "rejected"), move("rejected", "requested")], 2),  # ends there: its own
    ],
)
def test_a_card_moved_twice_has_the_timers_of_the_state_it_ends_in(
    stored: StoreUnderTest, workspace: Path, moves: list[dict[str, Any]], armed: int
) -> None:
    found = load_workspace(workspace)
    assert "requested" in found.timed[REQUEST] and "rejected" not in found.timed[REQUEST]
    engine = connect(stored.location)
    options = {"CardsApprovalReminderDays": 3, "CardsApprovalEscalationDays": 5}
    with engine.begin() as connection:
        arm_work(connection, found.timed, found, Moves(moves), set(), AT, options)
    engine.dispose()
    armed_in = "SELECT card_id, state FROM timers JOIN timer_kinds ON timer_kinds.id = timers.kind WHERE status = 'armed'"
    assert stored.rows(armed_in) == [(7, "requested")] * armed
