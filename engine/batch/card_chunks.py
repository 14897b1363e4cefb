"""A run over cards worked by several workers: the selected cards split into chunks (ranges of card
ids) when it starts, each chunk worked by one job in one transaction, the batch finished by
whichever chunk is done last.

A chunk is done once: its row is locked while it is worked and marked done in the transaction of
its cards, and every chunk is worked as a resumed run (the cards the batch moved already are
reported done, not fired again), so a job run twice (a killed worker's job is retried) fires no
card twice. The waiting and the progress are those of a batch over users (`engine.batch.chunks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.calls import outbox_of
from engine.batch.card_request import CardRunRequest, CardSelection
from engine.batch.chunks import Started
from engine.batch.collector import collector_spared
from engine.batch.over_cards import CARD_CHUNK, CardResult, _alone, _answered, _prepare, _Run, _work
from engine.batch.results import PENDING
from engine.batch.selected_cards import movable, query_filters
from engine.definitions.model import Workspace
from engine.definitions.sandbox import render_session
from engine.errors import UsageError
from engine.outbound.bureau import Connector, Simulated
from engine.store import card_runs, chunks, db, queries
from engine.store.queries import Row

#: What a job's request says when it is a run over cards.
OVER_CARDS = "cards"


def card_request_as_json(request: CardRunRequest) -> Row:
    """A run over cards as a job carries it (JSON)."""
    return {
        "over": OVER_CARDS,
        "process": request.process,
        "actor": request.actor,
        "selection": request.selection.describe(),
        "trigger": request.trigger,
        "reason": request.reason,
        "batch_id": request.batch_id,
        "overrides": dict(request.overrides),
        "sources": dict(request.sources),
    }


def card_request_from_json(data: Row) -> CardRunRequest:
    """The run over cards a job carries."""
    selection = data["selection"]
    return CardRunRequest(
        data["process"],
        data["actor"],
        CardSelection.described(selection),
        data["trigger"],
        data["reason"],
        batch_id=data["batch_id"],
        overrides=data["overrides"],
        sources=data["sources"],
    )


def start_card_chunks(workspace: Workspace, engine: Engine, request: CardRunRequest, *, chunk: int | None = None) -> Started:
    """Record the batch and its chunks (once; an existing batch id is resumed): no card is fired here."""
    if request.dry_run:
        raise UsageError("--dry-run and --workers do not go together: a plan is worked out here, not by workers")
    with engine.begin() as connection:
        run = _prepare(workspace, connection, request, Simulated())  # checks everything; records a new batch
        batch_id = run.record["id"]
        known = chunks.chunks_of(connection, batch_id)
        if not known:
            chunks.add_chunks(connection, batch_id, list(_ranges(workspace, connection, run, chunk or CARD_CHUNK)))
        elif _status(connection, batch_id) != "running":
            chunks.reopen_deferred(connection, batch_id)
            chunks.reopen_batch(connection, batch_id)
        every = chunks.chunks_of(connection, batch_id)
    with engine.begin() as connection:
        chunks.finish_batch_if_done(connection, batch_id, over_cards=True)  # nothing to work: complete at once
    pending = [c["number"] for c in every if c["status"] == chunks.PENDING]
    named = card_request_as_json(replace(request, batch_id=batch_id))
    return Started(batch_id, pending, named, sum(c["users"] for c in every))


def _status(connection: Connection, batch_id: str) -> str:
    record = queries.get_batch(connection, batch_id)
    assert record is not None
    return str(record["status"])


def _ranges(workspace: Workspace, connection: Connection, run: _Run, chunk: int) -> Iterator[tuple[str, str, int]]:
    """The chunks of the selection: (first card id, last card id, cards), in id order, no overlap:
    of the cards named, else of every card the trigger may move now (`--where` is read as each chunk is worked)."""
    named = sorted(set(run.request.selection.cards))
    if named:
        for start in range(0, len(named), chunk):
            part = named[start : start + chunk]
            yield str(part[0]), str(part[-1]), len(part)
        return
    moving, filters = list(movable(workspace, run.process, run.trigger, run.options)), query_filters(run.request)
    after = 0
    while ids := card_runs.movable_ids_after(connection, moving, after, chunk, filters):
        yield str(ids[0]), str(ids[-1]), len(ids)
        after = ids[-1]


def run_card_chunk(workspace: Workspace, engine: Engine, connector: Connector, request: CardRunRequest, number: int) -> str:
    """Work chunk `number` of a started run over cards, once; returns what happened ("done", "already done")."""
    with db.reading(engine) as connection:
        existing = queries.get_batch(connection, request.batch_id or "")
        known = chunks.chunk_of(connection, request.batch_id or "", number)  # this chunk's row alone
        run = _prepare(workspace, connection, request, outbox_of(connector)) if existing is not None else None
    if run is None or known is None:
        raise UsageError(f"batch {request.batch_id} has no chunk {number}")
    if known["status"] == chunks.DONE:
        return "already done"
    with collector_spared(), render_session():
        outcome = _work_chunk(engine, run, known)
    with engine.begin() as connection:
        chunks.finish_batch_if_done(connection, run.record["id"], over_cards=True)
    return outcome


def _work_chunk(engine: Engine, run: _Run, chunk: Row) -> str:
    """The chunk's cards and its done mark in one transaction; if a move would give a holder a second
    open card of an exclusive process (the store refuses it), each card in a transaction of its own
    (a card the batch moved already is not fired again), then the mark."""
    batch_id, number = run.record["id"], chunk["number"]
    try:
        with engine.begin() as connection:
            claimed = chunks.claim_chunk(connection, batch_id, number)
            if claimed is None or claimed["status"] == chunks.DONE:
                return "already done"
            results = _work(connection, run, _cards_of(connection, run, chunk, hold=True))
            if all(result.status != PENDING for result in results):
                chunks.finish_chunk(connection, batch_id, number, _counts(results))
                return "done"
        results = _answered(engine, run, results)  # the calls made, sent once committed; then the mark
        with engine.begin() as connection:
            claimed = chunks.claim_chunk(connection, batch_id, number)
            if claimed is None or claimed["status"] == chunks.DONE:
                return "already done"
            chunks.finish_chunk(connection, batch_id, number, _counts(results))
        return "done"
    except IntegrityError:
        run.unanswered, run.stopped = 0, None
    with db.reading(engine) as reading:
        ids = [card["id"] for card in _cards_of(reading, run, chunk, hold=False)]
    results = [result for card in ids if run.stopped is None for result in _alone(engine, run, card)]
    with engine.begin() as connection:
        claimed = chunks.claim_chunk(connection, batch_id, number)
        if claimed is None or claimed["status"] == chunks.DONE:
            return "already done"
        chunks.finish_chunk(connection, batch_id, number, _counts(results))
    return "done"


def _cards_of(connection: Connection, run: _Run, chunk: Row, *, hold: bool) -> list[Row]:
    """The chunk's cards, in id order: those named in its id range, else those the trigger may move now."""
    first, last = int(chunk["first_user"]), int(chunk["last_user"])
    if run.request.selection.cards:
        named = [card for card in dict.fromkeys(run.request.selection.cards) if first <= card <= last]
        found = queries.get_cards(connection, named, lock=hold)
        return [found[card] for card in sorted(found)]
    moving = list(movable(run.workspace, run.process, run.trigger, run.options))
    return card_runs.movable_between(connection, moving, first, last, hold=hold, filters=query_filters(run.request))


def _counts(results: list[CardResult]) -> dict[str, Any]:
    """A chunk's outcome: cards done, refused (waiting for the bureau too), and waiting for the bureau."""
    done = sum(1 for result in results if result.status == "done")
    waiting = sum(1 for result in results if result.waiting)
    return {"created": done, "skipped": len(results) - done, "deferred": waiting}
