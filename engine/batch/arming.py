"""Timers armed and dropped with the state changes of a unit of work (engine.batch.effects.Work):
a card that enters a state with timers gets them armed, in the same transaction; a card that leaves
its state loses its armed ones. A transition back into the state a card is in keeps them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection

from engine.definitions.calendar import Calendar
from engine.definitions.declared import Timer
from engine.definitions.model import Process
from engine.definitions.timers import due_after
from engine.store import timers
from engine.store.queries import Row

#: Per process, per state, its timers (only the states that have any).
Timed = dict[str, dict[str, tuple[Timer, ...]]]


def timed_states(processes: Mapping[str, Process]) -> Timed:
    """The states with timers, by process (empty when no process declares a timer)."""
    found: Timed = {}
    for name, process in processes.items():
        states = {state.name: state.timers for state in process.states.values() if state.timers}
        if states:
            found[name] = states
    return found


def arm_with(
    connection: Connection,
    timed: Timed,
    changes: Iterable[Row],
    new_cards: Iterable[Row],
    lost: set[int],
    at: str,
    calendar: Calendar,
) -> None:
    """Drop the armed timers of the cards that left their state and arm those of the state each card
    (changed or new) is now in; nothing for the cards another command moved (`lost`)."""
    if not timed:
        return
    left, now_in = set(), {}
    for change in changes:
        if change["id"] in lost:
            continue
        if change["state"] != change["was"]:
            left.add(change["id"])
            now_in[change["id"]] = (change["process"], change["state"])
    for card in new_cards:
        now_in[card["id"]] = (card["process"], card["state"])
    timers.drop(connection, left)
    timers.arm(connection, list(_armed(timed, now_in, at, calendar)))


def _armed(timed: Timed, now_in: dict[int, tuple[str, str]], at: str, calendar: Calendar) -> Iterator[Row]:
    for card, (process, state) in now_in.items():
        for timer in timed.get(process, {}).get(state, ()):
            yield {
                "card_id": card,
                "process": process,
                "state": state,
                "timer": timer.index,
                "location": timer.where,
                "trigger": timer.fire,
                "due_at": due_after(at, timer.after, calendar if timer.working_days else None),
                "fired": 0,
                "armed_at": at,
            }


def new_cards(rows: Mapping[str, list[Row]], tuples: Mapping[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]]) -> list[Row]:
    """The cards a unit of work inserts (as rows or as tuples), each with its id, process and state."""
    found = [{"id": card["id"], "process": card["process"], "state": card["state"]} for card in rows.get("cards", ())]
    for (table, columns), values in tuples.items():
        if table == "cards":
            id_at, process_at, state_at = columns.index("id"), columns.index("process"), columns.index("state")
            found += [{"id": v[id_at], "process": v[process_at], "state": v[state_at]} for v in values]
    return found
