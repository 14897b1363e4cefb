"""Which cards a run over cards reads, a chunk at a time, each chunk in its own transaction: the ids
named, in their order; else the cards of the processes acted on in a state the trigger may leave
(all of them, or those a query's filters find), by id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine

from engine.batch.card_request import CardRunRequest, choose_trigger
from engine.definitions.compile import compile_process
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.errors import UsageError
from engine.store import card_runs, db, queries
from engine.store.queries import Row

Reader = Callable[[Connection], list[Row]]


def chunk_readers(
    workspace: Workspace, request: CardRunRequest, process: Process, trigger: str, options: EffectiveOptions, chunk: int
) -> Iterator[Reader]:
    """How to read each chunk of the cards `request` selects (see the module docstring)."""
    hold = not request.dry_run
    if request.selection.cards:
        ids = list(dict.fromkeys(request.selection.cards))
        yield from (_named(ids[start : start + chunk], hold) for start in range(0, len(ids), chunk))
        return
    for owner, states in movable(workspace, process, trigger, options):
        yield from _pages(owner, states, query_filters(request, owner), chunk, hold)


def movable(workspace: Workspace, process: Process, trigger: str, options: EffectiveOptions) -> Iterator[tuple[str, list[str]]]:
    """Each process the action acts on, with the states its trigger may leave under the options in force."""
    for name in process.acts_on:
        compiled = compile_process(workspace.process(name), options, workspace.fingerprint)
        states = [state for state in compiled.process.states if compiled.can_fire(trigger, state)]
        if states:
            yield name, states


def count_selected(workspace: Workspace, engine: Engine, request: CardRunRequest) -> int | None:
    """How many cards a run reads (for a progress bar): the cards named, else every card its trigger
    may move (that the query finds)."""
    if request.selection.cards:
        return len(set(request.selection.cards))
    process = workspace.process(request.process)
    try:
        trigger = choose_trigger(process, request.trigger)
    except UsageError:
        return None  # the run says why
    options = effective_options(workspace.scripts, request.overrides, request.sources)
    with db.reading(engine) as connection:
        return sum(
            card_runs.count_cards(connection, owner, states, query_filters(request, owner))
            for owner, states in movable(workspace, process, trigger, options)
        )


def why_none(
    workspace: Workspace, engine: Engine, request: CardRunRequest, process: Process, trigger: str, options: EffectiveOptions
) -> str:
    """Why a run over cards found no card to act on, in words: the states its trigger may leave, and
    whether any card is there that its `--where` (or query) passed over."""
    found = list(movable(workspace, process, trigger, options))
    if not found:
        return f"no card to act on: under the options in force '{trigger}' leaves no state of {', '.join(process.acts_on)}"
    owners: dict[str, list[str]] = {}
    for owner, names in found:
        for name in names:
            owners.setdefault(name, []).append(owner)
    states = " and ".join(f"{state} (of {', '.join(of)})" for state, of in owners.items())
    with db.reading(engine) as connection:
        there = sum(card_runs.count_cards(connection, owner, names) for owner, names in found)
    if not there:
        return f"no card to act on: '{trigger}' leaves cards in {states}, and none is there now"
    chosen = "--where" if request.selection.where else "the filters"
    return f"no card to act on: {chosen} matched none of the {there} card(s) '{trigger}' may leave, in {states}"


def query_filters(request: CardRunRequest, owner: str | None = None) -> list[Any]:
    """The filters of the query that selects the cards, if one does (with `owner`, on its cards alone)."""
    query = request.selection.query
    if not query:
        return []
    return query.filters(processes=[owner] if owner else None)


def _named(ids: list[int], hold: bool) -> Reader:
    return lambda connection: _in_order(queries.get_cards(connection, ids, lock=hold), ids)


def _pages(owner: str, states: list[str], filters: list[Any], chunk: int, hold: bool) -> Iterator[Reader]:
    """Readers of the pages of `owner`'s cards in `states` (that `filters` find), each read after the one before it."""
    after = 0
    while after >= 0:
        found: list[Row] = []

        def read(connection: Connection, after: int = after, found: list[Row] = found) -> list[Row]:
            found.extend(card_runs.card_page(connection, owner, states, after, chunk, hold=hold, filters=filters))
            return found

        yield read
        after = found[-1]["id"] if len(found) == chunk else -1


def _in_order(cards: dict[int, Row], ids: list[int]) -> list[Row]:
    return [cards[card] for card in ids if card in cards]
