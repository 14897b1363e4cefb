"""A process that acts on existing cards, run by its symbolic name over the cards selected.

Per card, not all or nothing: each selected card is `done` (its trigger fired through the action's
rules, as `actions` fires it) or `refused` with the reason (its state, a prerequisite's message,
four-eyes, a card of a process the action does not act on). The cards are worked a chunk per
transaction: what the firings read of the store is read once for the chunk (engine.batch.chunk_reads)
and what they write is written at its end. A card whose trigger makes a call is fired again once the
call is answered, as the action that made it (its rules were weighed then). The batch row names the
run, each move's audit row names the batch, so running the batch id again fires nothing twice. A dry
run writes nothing and simulates the bureau.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import takewhile

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.actions import _apply
from engine.batch.attributes import refuse_unknown_attributes
from engine.batch.authorizing import Authorized, authorize
from engine.batch.calls import WAITS, Outbox, outbox_of, send_written
from engine.batch.card_request import (
    CardRunRequest,
    CardSelection,
    card_where,
    check_card_selection,
    check_query,
    choose_trigger,
)
from engine.batch.card_results import CardResult, CardRun
from engine.batch.chunk_reads import ChunkReads
from engine.batch.collector import collector_spared
from engine.batch.effects import BUREAU_DOWN_AFTER, FireContext, Work
from engine.batch.exclusivity import refused_move
from engine.batch.request import batch_record, check_batch_id, check_resumable, require_actor, run_bureau
from engine.batch.results import PENDING
from engine.batch.selected_cards import Reader, chunk_readers, why_none
from engine.batch.settled_cards import SettledCards
from engine.clock import now
from engine.definitions.compared import closed_fields
from engine.definitions.compile import compile_process
from engine.definitions.expressions import Compiled
from engine.definitions.fields import card_fields
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Connector
from engine.outbound.calls import Call
from engine.store import batches, card_runs, db, lock, queries
from engine.store.queries import Row
from engine.store.views import card_view

__all__ = [  # the request's types are declared in `card_request`, and used from here
    "CARD_CHUNK",
    "CardResult",
    "CardRun",
    "CardRunRequest",
    "CardSelection",
    "choose_trigger",
    "creates_cards",
    "run_over_cards",
]

#: Cards per chunk, one transaction each: as many as a batch's users (engine.batch.run.BATCH_CHUNK), and as the
#: floor of bench/batch.py's case (d) commits.
CARD_CHUNK = 2000
Progress = Callable[[int], None]


def creates_cards(process: Process) -> bool:
    """Whether `process` creates cards (run for users) rather than acting on existing ones (run over cards)."""
    return process.kind == "batch" or process.creating_trigger is not None


@dataclass
class _Run:
    """A run over cards made ready: the action, its trigger, who acts, and the batch row."""

    workspace: Workspace
    request: CardRunRequest
    process: Process
    trigger: str
    actor: Row
    options: EffectiveOptions
    templates: Templates
    connector: Connector
    where: Compiled | None
    record: Row
    resumed: bool = False
    unanswered: int = 0  # orders in a row the bureau did not answer
    stopped: str | None = None  # why the run stopped (the bureau is down)
    #: the cards whose call waits to be sent, with the action that made it: once the call is answered
    #: the card is fired again as that action (its rules were weighed when the call was made)
    calling: dict[int, Authorized] = field(default_factory=dict)
    #: the calls settled first firings recorded (engine.batch.settled_cards), by card, until fired again
    made: dict[int, Call] = field(default_factory=dict)

    def forget_calls(self) -> None:
        """The chunk's calls are done with (answered, or rolled back with it): its cards wait on none."""
        self.calling.clear()
        self.made.clear()


def run_over_cards(
    workspace: Workspace,
    engine: Engine,
    request: CardRunRequest,
    connector: Connector,
    *,
    progress: Progress | None = None,
    chunk: int = CARD_CHUNK,
    started: Callable[[str], None] | None = None,
    read_at_most: int | None = None,
    keep_results: bool | int = True,
) -> CardRun:
    """Fire the action's trigger on every selected card, a chunk per transaction; see the module docstring.
    `progress` is told how many cards each chunk read; `started` the batch id once it is recorded. A dry
    run may stop once it has read `read_at_most` cards (a preview of a large selection: `partial`).
    Every card is counted; `keep_results` keeps every result (True), none, or the first that many."""
    if read_at_most is not None and not request.dry_run:
        raise UsageError("only a dry run stops before the end of its selection")
    connector = run_bureau(request.dry_run, connector)
    if not request.dry_run:
        connector = outbox_of(connector)
    with _transaction(engine, request.dry_run) as connection:
        run = _prepare(workspace, connection, request, connector)
    result = CardRun(run.record["id"], run.process.symbolic_name, run.trigger, request.dry_run, run.resumed, keep=keep_results)
    if not request.dry_run:
        lock.hold_as(batch=result.batch)  # named to the commands that wait for the store meanwhile
    if started:
        started(result.batch)
    with collector_spared(), render_session():
        _work_chunks(workspace, engine, run, result, min(chunk, read_at_most or chunk), progress, read_at_most)
    result.stopped = run.stopped
    if not result.total and not request.selection.cards and not run.stopped:
        result.nothing_selected = why_none(workspace, engine, request, run.process, run.trigger, run.options)
    if not request.dry_run:
        _finish(engine, run, result)
    return result


@contextmanager
def _transaction(engine: Engine, plan: bool) -> Iterator[Connection]:
    """A read-only connection for a dry run, else a transaction that commits when the block ends."""
    with db.reading(engine) if plan else engine.begin() as connection:
        yield connection


def _work_chunks(
    workspace: Workspace,
    engine: Engine,
    run: _Run,
    result: CardRun,
    chunk: int,
    progress: Progress | None,
    read_at_most: int | None,
) -> None:
    """Work the selection a chunk at a time into `result`, until its end, the bureau found down, a
    pause, or (a dry run) `read_at_most` cards read."""
    read = 0
    for reader in chunk_readers(workspace, run.request, run.process, run.trigger, run.options, chunk):
        visited, done = _chunk(engine, run, reader)
        result.add(done)
        read += visited
        if progress:
            progress(visited)
        if run.stopped:
            return
        if read_at_most is not None and read >= read_at_most:
            result.partial = True
            return
        if not run.request.dry_run and (paused_by := _paused(engine, result.batch)):
            result.paused_by, run.stopped = paused_by, f"paused by {paused_by}"
            return


def _paused(engine: Engine, batch_id: str) -> str | None:
    """Who paused the batch since it started, if anyone did (read between chunks)."""
    with db.reading(engine) as connection:
        return batches.paused_by(connection, batch_id)


def _prepare(workspace: Workspace, connection: Connection, request: CardRunRequest, connector: Connector) -> _Run:
    """Check what is asked before any card: the process, its trigger, the actor, the selection; record the batch."""
    check_batch_id(request.batch_id)
    process = workspace.process(request.process)
    if creates_cards(process):
        raise UsageError(f"{process.symbolic_name} creates cards: choose users with --user, --all or --where, not cards")
    if process.actor == "system":
        raise UsageError(f"{process.symbolic_name} is run by the system (the scheduled syncs), not by a person")
    trigger = choose_trigger(process, request.trigger)
    if process.triggers[trigger].reason == "required" and not (request.reason and request.reason.strip()):
        raise UsageError(f"'{trigger}' needs a reason: give --reason TEXT")
    actor = require_actor(connection, request.actor, process.actor, process.symbolic_name, planning=request.dry_run)
    declared = frozenset(card_fields(process, workspace.processes))
    where = card_where(connection, request.selection.where, declared, closed_fields(process, workspace.processes))
    check_card_selection(connection, request.selection)
    check_query(workspace, process, request.selection.query)
    refuse_unknown_attributes(workspace, connection, {process.symbolic_name, *process.acts_on})
    options = effective_options(workspace.scripts, request.overrides, request.sources)
    record = {
        **batch_record(process, actor, options, workspace.fingerprint, request),
        "trigger": trigger,
        "reason": request.reason,
    }
    templates = templates_for(workspace.root / TEMPLATES)
    run = _Run(workspace, request, process, trigger, actor, options, templates, connector, where, record)
    existing = queries.get_batch(connection, record["id"])
    if existing is not None:
        check_resumable(existing, process.symbolic_name, record["fingerprint"], request.selection)
        run.resumed = True
        if not request.dry_run and existing["status"] == batches.PAUSED:
            batches.reopen_batch(connection, existing["id"])  # resumed: running again, no longer paused
    elif not request.dry_run:
        batches.add_batch(connection, record)
    return run


def _chunk(engine: Engine, run: _Run, read: Reader) -> tuple[int, list[CardResult]]:
    """One chunk in one transaction: how many cards it read, and the results. If a move would give a
    holder a second open card of an exclusive process (the store refuses it), the chunk is worked
    again a card per transaction."""
    seen: list[int] = []
    try:
        with _transaction(engine, run.request.dry_run) as connection:
            cards = read(connection)
            seen += [card["id"] for card in cards]
            results = _work(connection, run, cards)
    except IntegrityError:
        run.forget_calls()  # the chunk's calls were rolled back with it
        return len(seen), [result for card in seen for result in _alone(engine, run, card)]
    return len(seen), _answered(engine, run, results)


def _answered(engine: Engine, run: _Run, results: list[CardResult]) -> list[CardResult]:
    """Send the calls the committed chunk made, then fire again, in a second transaction, on the cards
    whose calls were answered; the others wait for the calls' next attempt (running the batch again)."""
    if not isinstance(run.connector, Outbox) or all(result.status != PENDING for result in results):
        return results
    sent = send_written(engine, run.connector)
    unanswered = sent.cards
    again = [result.card for result in results if result.status == PENDING and result.card not in unanswered]
    redone: dict[int, CardResult] = {}
    if again:
        with engine.begin() as connection:
            cards = queries.get_cards(connection, again, lock=True)
            redone = {result.card: result for result in _work(connection, run, [cards[card] for card in again if card in cards])}
    run.connector.leave_the_rest()
    run.forget_calls()
    if sent.stopped:
        run.stopped = f"{sent.stopped}; the run stopped"
    final = []
    for result in results:
        done = redone.get(result.card)
        if result.status != PENDING:
            final.append(result)
        elif result.card in unanswered:
            reason = f"the call waits for an answer: {unanswered[result.card]}; run batch {run.record['id']} again to finish"
            final.append(replace(result, status="refused", reason=reason, waiting=True))
        elif done is None or done.status == PENDING:
            final.append(replace(result, status="refused", reason=WAITS, waiting=True))
        else:
            final.append(done)
    return final


def _alone(engine: Engine, run: _Run, card_id: int) -> list[CardResult]:
    """One card in its own transaction; refused when its holder would get a second open card."""
    try:
        with engine.begin() as connection:
            results = _work(connection, run, list(queries.get_cards(connection, [card_id], lock=True).values()))
        return _answered(engine, run, results)
    except IntegrityError:
        with db.reading(engine) as connection:
            card = queries.get_cards(connection, [card_id])[card_id]
            owner = compile_process(run.workspace.process(card["process"]), run.options, run.workspace.fingerprint)
            reason = refused_move(connection, run.workspace, owner, card)
        return [CardResult(card_id, card["user_id"], card["state"], None, "refused", reason)]


def _work(connection: Connection, run: _Run, cards: list[Row]) -> list[CardResult]:
    """Fire the trigger on each card of a chunk (those `where` selects), or say why not; what the
    firings read of the store is read once for the chunk, and what they write is written at its end."""
    moved = card_runs.moved_in_batch(connection, run.record["id"], [c["id"] for c in cards]) if run.resumed else {}
    reads, works = ChunkReads(connection, cards), defaultdict[str, Work](Work)
    settled, results = SettledCards.of(run, connection, reads), []
    for card in takewhile(lambda _: run.stopped is None, cards):  # until the bureau is found down
        if run.where is not None and run.where.truth({"card": card_view(card), "user": reads.holder(card)})[0] is not True:
            continue
        if card["id"] in moved:
            step = moved[card["id"]]
            earlier = "done by an earlier run of this batch"
            results.append(CardResult(card["id"], card["user_id"], step["source"], step["dest"], "done", earlier))
            continue
        results.append(_counted(run, _fire(connection, run, card, reads, works[card["process"]], settled)))
    if run.request.dry_run:
        return results
    lost = {
        card for process, work in works.items() for card in work.flush(connection, _flushing(run, connection, process, reads.at))
    }
    return [_lost(run, result) if result.card in lost and result.status == "done" else result for result in results]


def _flushing(run: _Run, connection: Connection, process: str, at: str) -> FireContext:
    """The context the rows of a chunk's cards of `process` are written in (timers armed, approvers' emails merged)."""
    compiled = compile_process(run.workspace.process(process), run.options, run.workspace.fingerprint)
    return FireContext(
        compiled, run.connector, run.templates, run.actor, compiled.fingerprint, at,
        connection=connection, workspace=run.workspace, options=run.options,
    )  # fmt: skip


def _lost(run: _Run, result: CardResult) -> CardResult:
    """A card another command moved while the chunk was worked: refused, nothing of it written."""
    moved = f"{run.trigger} refused, nothing changed: card {result.card} was moved from '{result.source}' by another command"
    return replace(result, dest=None, status="refused", reason=moved, order=None)


def _counted(run: _Run, result: CardResult) -> CardResult:
    """Count orders the bureau left unanswered in a row; at BUREAU_DOWN_AFTER the run stops."""
    run.unanswered = run.unanswered + 1 if result.waiting else 0
    if run.unanswered >= BUREAU_DOWN_AFTER:
        run.stopped = f"the card bureau did not answer {run.unanswered} orders in a row; the run stopped"
    return result


def _fire(
    connection: Connection, run: _Run, card: Row, reads: ChunkReads, work: Work, settled: SettledCards | None
) -> CardResult:
    """Fire the run's trigger on one card through the action's rules, gathering its rows in the chunk's `work`."""
    request = run.request
    again = run.calling.pop(card["id"], None)  # its call answered: fired again as the action that made it
    outcome = again or authorize(
        run.workspace, connection, run.trigger, card, run.actor, request.reason, run.options, by=run.process, reads=reads
    )
    if isinstance(outcome, str):
        return CardResult(card["id"], card["user_id"], card["state"], None, "refused", outcome)
    source = card["state"]
    if settled is not None and again is None and settled.first(outcome, card, work):
        run.calling[card["id"]] = outcome
        return CardResult(card["id"], card["user_id"], source, None, PENDING)
    if settled is not None and again is not None and (done := settled.again(outcome, card, work)) is not None:
        return CardResult(card["id"], card["user_id"], source, done.dest, "done", done.reason, done.order)
    try:
        action = _apply(
            connection, outcome, card, run.trigger, run.actor, run.connector, request.reason, run.templates,
            batch_id=run.record["id"], plan=request.dry_run, reads=reads, work=work,
        )  # fmt: skip
    except Refused as refused:  # no transition's guard holds, or another command moved the card meanwhile
        return CardResult(card["id"], card["user_id"], source, None, "refused", refused.message)
    if action.status == PENDING:  # its call is sent once the chunk commits (`_answered`)
        run.calling[card["id"]] = outcome
        return CardResult(card["id"], card["user_id"], source, None, PENDING)
    if action.status == "deferred":
        reason = f"{action.message}; run batch {run.record['id']} again to finish"
        return CardResult(card["id"], card["user_id"], source, None, "refused", reason, waiting=True)
    return CardResult(card["id"], card["user_id"], source, action.dest, "done", action.message, action.order)


def _finish(engine: Engine, run: _Run, result: CardRun) -> None:
    """The batch row's end: complete, or incomplete while a card waits for the bureau."""
    with engine.begin() as connection:
        status = batches.PAUSED if result.paused_by else "incomplete" if result.unanswered else "complete"
        card_runs.finish_batch(connection, result.batch, status, result.counts["refused"], now())
