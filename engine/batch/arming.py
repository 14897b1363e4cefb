"""Timers armed and dropped with the state changes of a unit of work (engine.batch.effects.Work):
a card that enters a state with timers gets them armed, in the same transaction; a card that leaves
its state loses its armed ones. A transition back into the state a card is in keeps them, except the
timers at a date field that its `set` moved: those are armed anew, due at the new date."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from engine.clock import moment, stamp
from engine.definitions.declared import Calendar, Timer
from engine.definitions.model import Workspace
from engine.definitions.timers import at_date, days_before, due_after, duration_of
from engine.store import timers
from engine.store.queries import Row

#: The rows of a unit of work that carry the card fields a `set` gave (engine.effects.set_fields.ROWS).
SET = "card_fields"
#: Per process, per state, its timers (only the states that have any).
Timed = dict[str, dict[str, tuple[Timer, ...]]]
#: The cards that enter a state with timers, by process and state.
Entering = dict[tuple[str, str], list[int]]


class Gathered(Protocol):
    """A unit of work (engine.batch.effects.Work), as far as arming reads it."""

    changes: list[Row]
    rows: Any
    tuples: Any


def arm_work(
    connection: Connection,
    timed: Timed,
    workspace: Workspace | None,
    work: Gathered,
    lost: set[int],
    at: str,
    options: Mapping[str, Any],
) -> None:
    """Drop the armed timers of the cards that left their state and arm those of the state each card
    (changed or new) is now in; nothing for the cards another command moved (`lost`)."""
    left, now_in, fields = _entering(timed, work, lost)
    moved = _dates_moved(timed, work, lost)
    if not left and not now_in and not moved:
        return
    calendar = workspace.calendar if workspace is not None else Calendar()
    timers.drop(connection, left)
    kind_id = timers.kinds(connection)
    armed, unarmed = _armed(timed, now_in, fields, at, calendar, options, kind_id)
    timers.arm(connection, armed.rows)
    for cards, tail in armed.shared:
        timers.arm_cards(connection, cards, tail)
    timers.settle(connection, unarmed)  # entered a state with timers, none armed
    if moved:  # the timers at a date that a `set` moved while the card stayed in its state: armed anew
        timers.drop_some(connection, [(card, index) for card, (_, _, indexes) in moved.items() for index in indexes])
        by_state: Entering = {}
        for card, (process, state, _) in moved.items():
            by_state.setdefault((process, state), []).append(card)
        again, _ = _armed(timed, by_state, fields, at, calendar, options, _as_kind)
        kept = [(card, kind_id(kind), *rest) for card, kind, *rest in again.every_row() if kind[2] in moved[card][2]]
        timers.arm(connection, kept)
        timers.settle(connection, moved)


def planned(timed: Timed, workspace: Workspace | None, work: Gathered, at: str, options: Mapping[str, Any]) -> list[Row]:
    """The timers the unit of work would arm, written nowhere (a plan's): each with its card, where it
    is declared, the trigger it fires and when it would be due, first due first."""
    _, now_in, fields = _entering(timed, work, set())
    calendar = workspace.calendar if workspace is not None else Calendar()
    found, _ = _armed(timed, now_in, fields, at, calendar, options, _as_kind)
    every = sorted(found.every_row(), key=itemgetter(2))
    return [{"card": card, "timer": kind[3], "fire": kind[4], "due": due} for card, kind, due, *_ in every]


def _entering(timed: Timed, work: Gathered, lost: set[int]) -> tuple[set[int], Entering, dict[int, Any]]:
    """The cards of the unit of work that leave a state with timers, those that enter one (by process
    and state), and the card fields of each entering card whose timers read them (as a `set` in this
    unit of work left them)."""
    left: set[int] = set()
    now_in: Entering = {}
    fields: dict[int, Any] = {}
    last: dict[int, Row] = {}  # a card moved twice in the unit of work is in the state of its last move
    for change in work.changes:
        if change["id"] not in lost and change["state"] != change["was"]:
            if change["was"] in timed.get(change["process"], {}):  # only a state with timers has some to drop
                left.add(change["id"])
            last[change["id"]] = change
    for card, change in last.items():
        if change["state"] in timed.get(change["process"], {}):
            now_in.setdefault((change["process"], change["state"]), []).append(card)
            fields[card] = change.get("fields")
    for entered, cards, given in new_cards(work.rows, work.tuples, timed):
        now_in.setdefault(entered, []).extend(cards)
        fields.update(given)
    fields.update((row["card_id"], row["fields"]) for row in work.rows.get(SET, ()))  # set in this unit of work
    return left, now_in, fields


def _dates_moved(timed: Timed, work: Gathered, lost: set[int]) -> dict[int, tuple[str, str, set[int]]]:
    """The cards of the unit of work that stay in their state while a `set` changes a date field one of
    its timers is due at: each with its process, state and those timers (by index)."""
    given = {row["card_id"]: row["fields"] for row in work.rows.get(SET, ())}
    if not given:
        return {}
    found: dict[int, tuple[str, str, set[int]]] = {}
    for change in work.changes:
        card = change["id"]
        if card in lost or card not in given or change["state"] != change["was"]:
            continue
        before, after = _fields(change.get("fields")), _fields(given[card])
        timers_of = timed.get(change["process"], {}).get(change["state"], ())
        indexes = {t.index for t in timers_of if t.at is not None and before.get(t.at) != after.get(t.at)}
        if indexes:
            found[card] = (change["process"], change["state"], indexes)
    return found


class Armed(NamedTuple):
    """The timers armed: rows as tuples of `timers.COLUMNS`, and the timers due at one moment for many
    cards, each as those cards and the columns after `card_id` (written in one statement a timer)."""

    rows: list[tuple[Any, ...]]
    shared: list[tuple[list[int], tuple[Any, ...]]]

    def every_row(self) -> list[tuple[Any, ...]]:
        """Every timer armed as a row of `timers.COLUMNS`."""
        return [*self.rows, *((card, *tail) for cards, tail in self.shared for card in cards)]


def _as_kind(kind: timers.Kind) -> timers.Kind:
    """The kind itself, for the rows of timers that are planned or sorted before they are written."""
    return kind


def _fields(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def _armed(
    timed: Timed,
    now_in: Entering,
    fields: dict[int, Any],
    at: str,
    calendar: Calendar,
    options: Mapping[str, Any],
    kind_of: Callable[[timers.Kind], Any],
) -> tuple[Armed, list[int]]:
    """The timers armed (`kind_of` gives each kind's id, or what stands for it), and the entering cards
    none was armed for: a timer due after a duration is due at one moment for every card entering its
    state now, worked out once, and written in one statement."""
    found: list[tuple[Any, ...]] = []
    shared: list[tuple[list[int], tuple[Any, ...]]] = []
    unarmed: list[int] = []
    for (process, state), cards in now_in.items():
        everyone = False  # a timer after a duration was armed for every card of the state
        first = len(found)
        for timer in timed[process][state]:
            kind = (process, state, timer.index, timer.where, timer.fire)  # written as `kind_of` gives it, once armed
            if timer.at is None:
                due = _due(timer, None, at, calendar, options)
                if due is not None:  # None: turned off by its options
                    shared.append((cards, (kind_of(kind), due, 0, "armed", at)))
                    everyone = True
                continue
            if timer.before is not None:
                dated = _reminders(timer, cards, fields, at, options)
            else:  # None: the card has no date in that field
                dues = ((card, _due(timer, fields.get(card), at, calendar, options)) for card in cards)
                dated = [(card, (due, 0, "armed", at)) for card, due in dues if due is not None]
            if dated:  # the kind looked up once for its cards
                kind_id = kind_of(kind)
                found += [(card, kind_id, *rest) for card, rest in dated]
        if not everyone:
            armed = set(map(itemgetter(0), found[first:]))
            unarmed += [card for card in cards if card not in armed]
    return Armed(found, shared), unarmed


def _reminders(
    timer: Timer, cards: list[int], fields: dict[int, str | None], at: str, options: Mapping[str, Any]
) -> list[tuple[int, tuple[Any, ...]]]:
    """The rows of a timer due whole days `before` a date, each a card and the row's columns after its
    kind: one a day still to come (a reminder whose day has passed when the card enters the state is
    not sent late). The days are worked out once, the card's date read once."""
    days = days_before(str(timer.before), options) or []
    found = []
    for card in cards:
        date = at_date(_field(fields.get(card), str(timer.at)), None)
        if date is None:  # the card has no date in that field
            continue
        for day in days:
            due = stamp(moment(date) - timedelta(days=day))
            if due > at:
                found.append((card, (due, 0, "armed", at)))
    return found


def _field(fields: str | None, name: str) -> Any:
    """The value of the card field `name` in a card's JSON `fields` (None without it)."""
    return _fields(fields).get(name)


def _due(timer: Timer, fields: str | None, at: str, calendar: Calendar, options: Mapping[str, Any]) -> str | None:
    if timer.at is not None:
        return at_date(_field(fields, timer.at), timer.offset)
    after = duration_of(str(timer.after), options)
    return None if after is None else due_after(at, after, calendar if timer.working_days else None)


def new_cards(
    rows: Mapping[str, list[Row]], tuples: Mapping[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]], timed: Timed
) -> Iterator[tuple[tuple[str, str], list[int], dict[int, str | None]]]:
    """The cards a unit of work inserts (as dicts or as tuples) in a state with timers, by process and
    state: their ids, and the fields of those whose state has a timer that reads them. A batch's cards
    are most often all of one state: they cost a look each, and a dict only where a timer reads fields."""
    made: list[tuple[Sequence[Any], Any, tuple[Any, Any], Any]] = []
    if rows.get("cards"):
        made.append((rows["cards"], "id", ("process", "state"), "fields"))
    for (table, columns), inserted in tuples.items():
        if table == "cards" and inserted:
            fields_at = columns.index("fields") if "fields" in columns else None
            made.append((inserted, columns.index("id"), (columns.index("process"), columns.index("state")), fields_at))
    for values, id_at, key_at, fields_at in made:
        keys = list(map(itemgetter(*key_at), values))
        groups = [(keys[0], values)] if keys.count(keys[0]) == len(keys) else _grouped(keys, values)
        for (process, state), group in groups:
            declared = timed.get(process, {}).get(state)
            if not declared:
                continue
            ids = list(map(itemgetter(id_at), group))
            reads = fields_at is not None and any(timer.at is not None for timer in declared)
            yield (process, state), ids, dict(zip(ids, map(itemgetter(fields_at), group), strict=True)) if reads else {}


def _grouped(keys: list[tuple[str, str]], values: Sequence[Any]) -> list[tuple[tuple[str, str], Sequence[Any]]]:
    """`values` (dicts or tuples) by their key (process, state), in the order each key first comes."""
    found: dict[tuple[str, str], list[Any]] = {}
    for entered, value in zip(keys, values, strict=True):
        found.setdefault(entered, []).append(value)
    return list(found.items())
