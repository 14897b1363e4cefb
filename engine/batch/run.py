"""Stage 5, run: a batch process for many users, chunk by chunk, every outcome persisted.

Per user: the prerequisites (a failing one skips the user with its message), then a card in the
initial state and the process's creating trigger (`creates`) fired through the shared compiled machine. Each
chunk is one transaction (cards, audit rows, decisions, orders, emails), so a crash loses at most
the chunk in flight and rerunning the batch id finishes it without a second card for anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import takewhile

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch import arming
from engine.batch.calls import WAITS, Origin, Outbox, outbox_of, pending_calls, send_written
from engine.batch.collector import collector_spared
from engine.batch.effects import (
    BUREAU_DOWN_AFTER,
    FireContext,
    Work,
    fire,
    planned_approval_emails,
)
from engine.batch.exclusivity import refused_new_card
from engine.batch.invoking import ORDER_COLUMNS
from engine.batch.orders import bureau_accepted, bureau_refusal, unanswered
from engine.batch.prepared import Batch, blank_card, prepare, prerequisite_scope, refuse_if_any_skipped, selected_users
from engine.batch.request import RunRequest, check_resumable, run_bureau
from engine.batch.results import PENDING, BatchResult, UserResult
from engine.batch.settled import SettledStart, settled_start
from engine.batch.settled_calls import SettledAnswers, SettledOrders, settled_answers, settled_orders
from engine.batch.stopping import bureau_down, stopped_by_an_email
from engine.clock import now
from engine.definitions.closures import Reads
from engine.definitions.model import Workspace
from engine.definitions.sandbox import render_session
from engine.definitions.templates import RenderError
from engine.effects.email import OUTBOX_COLUMNS
from engine.errors import Refused
from engine.outbound.bureau import BureauUnavailable, Connector
from engine.store import batch_cards, batches, db, lock, open_cards, queries
from engine.store.open_cards import OpenCards
from engine.store.queries import Row

#: Users per chunk, one transaction each: bigger chunks commit less often (each commit rewrites
#: the last page of every index), smaller ones lose less work to a crash and hold the write lock
#: for less time. 2,000 users are about 40 ms of work with the default options.
BATCH_CHUNK = 2000


Progress = Callable[[int], None]


def run_batch(
    workspace: Workspace,
    engine: Engine,
    request: RunRequest,
    connector: Connector,
    *,
    keep_results: bool | int = True,
    progress: Progress | None = None,
    started: Callable[[str], None] | None = None,
    chunk: int = BATCH_CHUNK,
) -> BatchResult:
    """Run a batch process for the selected users; see the module docstring.

    With `request.dry_run` (a plan) nothing is written: each chunk is worked out on a read-only
    connection and its rows are dropped, and each result tells the emails and orders it would make.
    """
    plan = request.dry_run
    connector = run_bureau(plan, connector)
    with db.reading(engine) if plan else engine.begin() as connection:
        batch = prepare(workspace, connection, request)
        existing = queries.get_batch(connection, batch.record["id"])
        if existing is not None:
            check_resumable(existing, batch.process.symbolic_name, batch.compiled.fingerprint, request.selection)
            batch.record.update(production_type=existing["production_type"], created_at=existing["created_at"])
            batch.resumed = True
        if request.strict:
            refuse_if_any_skipped(connection, batch, chunk)
        if not plan and existing is None:
            batches.add_batch(connection, batch.record)
    result = BatchResult(batch.record["id"], batch.process.symbolic_name, plan, existing is not None)
    lock.hold_as(batch=batch.record["id"])  # named to the commands that wait for the store meanwhile
    if started:
        started(batch.record["id"])
    try:
        with collector_spared(), render_session():
            for users in selected_users(engine, batch, chunk):
                _chunk_with_retry(engine, batch, connector, users, result, keep_results, plan)
                if progress:
                    progress(len(users))
                if batch.stopped:
                    result.stopped = batch.stopped
                    break
    except RenderError as error:
        made = sum(n for key, n in result.counts.items() if key != "skipped")
        raise stopped_by_an_email(engine, batch.record["id"], made, batch.resumed, plan, error.message) from None
    result.nothing_selected = _nothing_selected(engine, request, result)
    if not plan:
        with engine.begin() as connection:
            created = queries.batch_card_count(connection, batch.record["id"])
            status = "incomplete" if result.counts["deferred"] or result.stopped else "complete"
            batches.finish_batch(connection, batch.record["id"], status, now(), created=created, skipped=result.counts["skipped"])
        db.checkpoint(engine)
    return result


def _nothing_selected(engine: Engine, request: RunRequest, result: BatchResult) -> str | None:
    """Why a run did nothing, when its --where matched no user (named users and --all always find some)."""
    if result.total or not request.selection.where or result.stopped:
        return None
    with db.reading(engine) as connection:
        users = queries.user_count(connection)
    return f"--where matched none of the {users} user(s) in the store"


def _chunk_with_retry(
    engine: Engine, batch: Batch, connector: Connector, users: list[Row], result: BatchResult, keep: bool | int, plan: bool
) -> None:
    """One chunk in one transaction, then the calls it made (`_finish_calls`). If the store refuses a
    second open card (another batch got there first, on a database that does not serialize writers),
    the chunk is worked out again: the prerequisites then see the other card and skip the user; no
    call of the chunk was made, as none is made before its row commits."""
    for attempt in range(3):
        partial = BatchResult(result.batch, result.process, plan)
        still = keep if isinstance(keep, bool) else max(0, keep - len(result.results))  # results still to keep
        outbox = connector if plan else outbox_of(connector)
        try:
            with db.reading(engine) if plan else engine.begin() as connection:
                made = _run_chunk(
                    connection, batch, outbox, users, partial, still, plan=plan, resumed=batch.resumed or attempt > 0
                )
        except IntegrityError:
            if attempt == 2:
                raise
            if isinstance(outbox, Outbox):
                outbox.take()
            continue
        if isinstance(outbox, Outbox) and partial.waiting:
            try:
                _finish_calls(engine, batch, outbox, users, partial, still, made)
            except RenderError:
                result.merge(partial, keep)
                raise
        result.merge(partial, keep)
        return


def _finish_calls(
    engine: Engine,
    batch: Batch,
    outbox: Outbox,
    users: list[Row],
    partial: BatchResult,
    keep: bool | int,
    made: SettledOrders | None,
) -> None:
    """Send the calls the chunk committed, then fire again, in a second transaction, for the users
    whose calls were answered (`made`: the cards the first firing wrote, settled); the others wait in
    the initial state for the call's next attempt."""
    sent = send_written(engine, outbox)
    waiting, partial.waiting = partial.waiting, []
    unanswered = sent.cards
    again = {result.user for result in waiting if result.card not in unanswered}
    if again:
        try:
            with engine.begin() as connection:
                answered = [user for user in users if user["id"] in again]
                _run_chunk(connection, batch, outbox, answered, partial, keep, resumed=True, made=made)
        except RenderError:  # the cards stay in their initial state with their calls: counted, kept
            for result in waiting:
                partial.add(UserResult(result.user, result.card, result.state, "deferred", WAITS), keep)
            raise
    outbox.leave_the_rest()
    for result in waiting:
        if result.card in unanswered:
            reason = _deferred(batch, unanswered[result.card])
            partial.add(UserResult(result.user, result.card, result.state, "deferred", reason), keep)
    for result in partial.waiting:
        partial.add(UserResult(result.user, result.card, result.state, "deferred", WAITS), keep)
    partial.waiting = []
    if sent.stopped:
        batch.stopped = bureau_down(batch.process.symbolic_name, batch.record["id"], sent.stopped)
    order = {user["id"]: n for n, user in enumerate(users)}
    partial.results.sort(key=lambda kept: order.get(kept.user, 0))


def _run_chunk(
    connection: Connection,
    batch: Batch,
    connector: Connector,
    users: list[Row],
    result: BatchResult,
    keep: bool | int,
    *,
    plan: bool = False,
    resumed: bool = True,
    rendered: bool = False,
    made: SettledOrders | None = None,
) -> SettledOrders | None:
    """Work out one chunk of users on `connection`; `resumed` says cards of this batch may exist already
    (`made`: those the chunk's first firing wrote); `rendered`: a plan keeps each user's emails rendered.
    The new cards written waiting on their orders, settled, if any."""
    ids = [user["id"] for user in users]
    done, counts = _looked_up(connection, batch, ids, resumed, made)
    context = FireContext(
        batch.compiled,
        connector,
        batch.templates,
        batch.actor,
        batch.compiled.fingerprint,
        now(),
        connection=connection,
        workspace=batch.workspace,
        options=batch.every_option,
    )
    context.people.update(zip(ids, users, strict=True))
    context.people[batch.actor["id"]] = batch.actor
    work = Work()
    failures = _failures(batch, users, done, counts)
    card_ids = queries.new_card_ids(connection, sum(failed is None for failed in failures.values()), planned=plan)
    used = 0
    blank = blank_card(batch, context.at)
    quick: SettledStart | None = None
    ordering = settled_orders(context, work, batch, blank) if not plan else None
    answers = settled_answers(context, work, batch) if done and not plan else None
    for position, user in enumerate(takewhile(lambda _: batch.stopped is None, users)):  # until the bureau is found down
        if user["id"] in done:
            _again(context, work, batch, user, done[user["id"]], result, keep, answers)
            continue
        failed = failures[user["id"]]
        if failed:
            result.note(keep, user["id"], None, None, "skipped", failed)
            continue
        if quick is None and not plan:
            quick = settled_start(context, work, batch.creates, blank)
        if quick is not None and not done:  # settled, and no user after this one has a card yet: the rest in bulk
            rest = [later["id"] for later in users[position:]]
            passing = [later for later in rest if failures[later] is None]
            quick.add_many(passing, card_ids[used : used + len(passing)])
            result.note_started(keep, rest, failures, card_ids[used:], quick.dest)
            break
        if quick is not None:  # the decision is settled: the rows straight away
            quick.add(user["id"], card_ids[used])
            result.note(keep, user["id"], card_ids[used], quick.dest, "created")
            used += 1
            continue
        waiting = ordering.add(user, card_ids[used]) if ordering is not None else None
        outcome = _counted(batch, waiting or _create_card(context, work, batch, user, card_ids[used], blank))
        if outcome.card == card_ids[used]:
            used += 1
        if plan:
            _planned(outcome, work, context, rendered)
            work = Work()
        result.add(outcome, keep)
    if not plan:
        work.flush(connection, context)
    return ordering


def _failures(batch: Batch, users: list[Row], done: dict[str, Row], opened: dict[str, OpenCards] | None) -> dict[str, str | None]:
    """Why each user without a card of this batch gets none (None: they get one): the first failed
    prerequisite, else an open card of the process's exclusivity group while its rule holds; so
    that the chunk knows how many card ids it needs before it makes any card."""
    scope = prerequisite_scope(batch)
    reads: Reads = []
    failures: dict[str, str | None] = {}
    exclusive = batch.compiled.exclusive
    first_failed = batch.checks.first_failed  # as failed_prerequisite, without a call more a user
    for user in users:
        held = opened.get(user["id"]) if opened is not None else None
        if opened is not None:
            user["open_cards"] = held.total if held else 0
        if user["id"] not in done:
            failed = first_failed(user, scope, reads)
            if failed is None and held is not None and exclusive:
                failed = refused_new_card(batch.compiled, batch.group, user["id"], held)
            failures[user["id"]] = failed
    return failures


def _looked_up(
    connection: Connection, batch: Batch, ids: list[str], resumed: bool, made: SettledOrders | None
) -> tuple[dict[str, Row], dict[str, OpenCards] | None]:
    """The cards this batch made already for these users (when resumed; `made` as they were written,
    when nothing changed them since), and their open cards of the group where a firing reads them, or a
    prerequisite or the exclusivity rule for a user who has no card of the batch yet (not for the
    second firing of cards whose calls were answered)."""
    contiguous = not batch.request.selection.users  # a page of the users table, in id order
    done = made.as_stored(connection, ids) if made is not None and contiguous else None
    if done is None:
        done = batch_cards.existing_cards(connection, batch.record["id"], ids, contiguous=contiguous) if resumed else {}
    opened = None
    read = batch.counts_open
    if read.firing or ((read.before or batch.compiled.exclusive) and len(done) < len(ids)):
        opened = open_cards.by_user(connection, batch.group, ids, contiguous=contiguous)
    return done, opened


def _again(
    context: FireContext,
    work: Work,
    batch: Batch,
    user: Row,
    card: Row,
    result: BatchResult,
    keep: bool | int,
    answers: SettledAnswers | None,
) -> None:
    """A user this batch already made a card for (its order answered now, or a resumed batch)."""
    if card["state"] == batch.process.initial:  # waiting on its order: start it again, under the same order key
        settled = answers.fire(user, card) if answers is not None else None
        result.add(_counted(batch, settled or _start(context, work, batch, user, card, stored=True)), keep)
    else:
        result.note(keep, user["id"], card["id"], card["state"], "created", "made by an earlier run of this batch")


def _planned(outcome: UserResult, work: Work, context: FireContext, rendered: bool = False) -> None:
    """Tell a planned result what its rows would have been: the emails (with `rendered`, as outbox rows,
    the approvers' emails rendered for this card alone), the bureau answer, the timers armed, the decision."""
    outbox = [dict(zip(OUTBOX_COLUMNS, row, strict=True)) for row in work.gathered("outbox", OUTBOX_COLUMNS)]
    outcome.emails = [(str(row["template"]), str(row["recipient"])) for row in outbox]
    outcome.emails += [
        (entry["template"], context.people[approver]["email"])
        for approver, entries in work.approvals.items()
        for entry in entries
    ]
    outcome.orders = [bool(row[ORDER_COLUMNS.index("accepted")]) for row in work.gathered("orders", ORDER_COLUMNS)]
    options = context.options.as_dict() if context.options is not None else context.compiled.option_values
    outcome.timers = arming.planned(context.timed, context.workspace, work, context.at, options)
    outcome.trace = work.last_trace
    if rendered:
        outcome.rendered = outbox + planned_approval_emails(context, work.approvals)


def _counted(batch: Batch, outcome: UserResult) -> UserResult:
    """Count orders the bureau left unanswered in a row; at BUREAU_DOWN_AFTER the run stops ordering."""
    batch.unanswered = batch.unanswered + 1 if outcome.status == "deferred" else 0
    if batch.unanswered >= BUREAU_DOWN_AFTER:
        batch.stopped = bureau_down(batch.process.symbolic_name, batch.record["id"], outcome.reason)
    return outcome


def _create_card(context: FireContext, work: Work, batch: Batch, holder: Row, card_id: int, blank: Row) -> UserResult:
    card = blank.copy()
    card["id"], card["user_id"] = card_id, holder["id"]
    card["open_key"] = batch.compiled.open_key(holder["id"])
    return _start(context, work, batch, holder, card, stored=False)


def _start(context: FireContext, work: Work, batch: Batch, holder: Row, card: Row, *, stored: bool) -> UserResult:
    """Fire the creating trigger on a card. A card whose transition makes a call is written in its
    initial state with the call, and fired again once the call is answered (`_finish_calls`)."""
    name = batch.process.symbolic_name
    source = card["state"]
    try:
        decision = fire(context, work, card, holder, batch.creates, process=name, batch=batch.view, stored=stored)
    except BureauUnavailable as unavailable:
        if not stored:
            work.rows["cards"].append(card)
        if unavailable.pending:
            made = Origin(card["id"], name, batch.creates, source, context.actor["id"], batch.record["id"])
            work.rows["calls"] += pending_calls(context.connector, made, context.at)
            return UserResult(holder["id"], card["id"], card["state"], PENDING)
        unanswered(work, card, context.connector.name, str(unavailable), context.at)
        return UserResult(holder["id"], card["id"], card["state"], "deferred", _deferred(batch, str(unavailable)))
    except Refused as refused:  # an effect cannot be done (a card field's value of the wrong type): no card
        return UserResult(holder["id"], None, None, "skipped", refused.message)
    if decision.dest is None:
        return UserResult(holder["id"], None, None, "skipped", f"no transition of '{batch.creates}' fits (see `cardflow show`)")
    if not stored:
        work.rows["cards"].append(card)
    return UserResult(holder["id"], card["id"], card["state"], "created", bureau_refusal(work), order=bureau_accepted(work))


def _deferred(batch: Batch, problem: str) -> str:
    return f"the card bureau did not answer ({problem}); run batch {batch.record['id']} again to finish"
