"""Stage 5, run: a batch process for many users, chunk by chunk, every outcome persisted.

Per user: the prerequisites (a failing one skips the user with its message), then a card in the
initial state and the process's start trigger fired through the shared compiled machine. Each
chunk is one transaction (cards, audit rows, decisions, orders, emails), so a crash loses at most
the chunk in flight and rerunning the batch id finishes it without a second card for anyone.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.effects import FireContext, Work, fire
from engine.batch.request import (
    RunRequest,
    check_users_exist,
    new_batch_id,
    require_actor,
    selection_expression,
    settle_production_type,
)
from engine.batch.results import BatchResult, UserResult
from engine.clock import now
from engine.definitions.closures import Reads
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.expressions import Compiled, parse, specialize
from engine.definitions.model import Process
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.templates import Templates, templates_for
from engine.definitions.workspace import TEMPLATES, Workspace
from engine.errors import Refused, UsageError
from engine.outbound.bureau import BureauUnavailable, Connector
from engine.store import db, queries
from engine.store.queries import Row, dumps

START = "start"
#: Users per chunk, one transaction each: bigger chunks commit less often (each commit rewrites
#: the last page of every index), smaller ones lose less work to a crash and hold the write lock
#: for less time. 2,000 users are about 40 ms of work with the default options.
BATCH_CHUNK = 2000


@dataclass
class _Batch:
    """A run prepared: the process compiled, the actor checked, the production type settled."""

    request: RunRequest
    process: Process
    compiled: CompiledProcess
    options: EffectiveOptions
    actor: Row
    record: Row
    prerequisites: list[tuple[Compiled, str]]
    where: Compiled | None
    templates: Templates
    resumed: bool = False

    @cached_property
    def counts_open(self) -> bool:
        """Whether a prerequisite, a guard or an effect's `when` reads `user.open_cards` (else a chunk need not count them)."""
        transitions = self.process.transitions
        expressions = [parse(t.guard.text) for t in transitions if t.guard]
        expressions += [parse(e.when.text) for t in transitions for e in t.effects if e.when]
        expressions += [rule for rule, _ in self.prerequisites]
        return any(("user", "open_cards") in expression.attributes for expression in expressions)

    @cached_property
    def view(self) -> Row:
        """The batch as expressions see it (once the record is settled)."""
        record = self.record
        return {key: record[key] for key in ("id", "process", "actor", "production_type")}


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
    with db.reading(engine) if plan else engine.begin() as connection:
        batch = _prepare(workspace, connection, request)
        existing = queries.get_batch(connection, batch.record["id"])
        if existing is not None:
            _check_resumable(existing, batch)
            batch.resumed = True
        if request.strict:
            _refuse_if_any_skipped(connection, batch, chunk)
        if not plan and existing is None:
            connection.execute(db.batches.insert().values(**batch.record))
    result = BatchResult(batch.record["id"], batch.process.symbolic_name, plan, existing is not None)
    if started:
        started(batch.record["id"])
    with _collector_spared():
        for users in _selected(engine, batch, chunk):
            _chunk_with_retry(engine, batch, connector, users, result, keep_results, plan)
            if progress:
                progress(len(users))
    if not plan:
        with engine.begin() as connection:
            created = sum(n for key, n in result.counts.items() if key != "skipped")
            status = "incomplete" if result.counts["deferred"] else "complete"
            connection.execute(
                db.batches.update()
                .where(db.batches.c.id == batch.record["id"])
                .values(status=status, finished_at=now(), created=created, skipped=result.counts["skipped"])
            )
        db.checkpoint(engine)
    return result


@contextmanager
def _collector_spared() -> Iterator[None]:
    """Keep the objects alive before the batch (workspace, compiled machine, libraries) out of the
    cyclic garbage collector's full passes while it runs: a chunk's rows die by reference count,
    and re-scanning the long-lived heap every few chunks cost about a tenth of a batch's time."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _chunk_with_retry(
    engine: Engine, batch: _Batch, connector: Connector, users: list[Row], result: BatchResult, keep: bool | int, plan: bool
) -> None:
    """One chunk in one transaction. If the store refuses a second open card (another batch got there
    first, on a database that does not serialize writers), the chunk is worked out again: the
    prerequisites then see the other card and skip the user."""
    for attempt in range(3):
        partial = BatchResult(result.batch, result.process, plan)
        still = keep if isinstance(keep, bool) else max(0, keep - len(result.results))  # results still to keep
        try:
            with db.reading(engine) if plan else engine.begin() as connection:
                _run_chunk(connection, batch, connector, users, partial, still, plan=plan, resumed=batch.resumed or attempt > 0)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        result.merge(partial, keep)
        return


def _prepare(workspace: Workspace, connection: Connection, request: RunRequest) -> _Batch:
    process = workspace.process(request.process)
    if process.kind != "batch":
        raise UsageError(f"{process.symbolic_name} is an action process; it is fired on cards, not run for users")
    actor = require_actor(connection, request.actor, process.actor, process.symbolic_name)
    options = effective_options(workspace.scripts, request.overrides, request.sources).for_scripts(process.options)
    compiled = compile_process(process, options, workspace.fingerprint)
    production_type = settle_production_type(process, options, request.production_type)
    record = {
        "id": request.batch_id or new_batch_id(),
        "process": process.symbolic_name,
        "actor": actor["id"],
        "production_type": production_type,
        "options": dumps({name: {"value": o.value, "source": o.source} for name, o in options.values.items()}),
        "fingerprint": compiled.fingerprint,
        "selection": dumps(request.selection.describe()),
        "status": "running",
        "created": 0,
        "skipped": 0,
        "created_at": now(),
        "finished_at": None,
    }
    known = {"options": compiled.option_values, "actor": actor}
    prerequisites = [(specialize(p.rule.text, known), p.message) for p in process.prerequisites]
    where = selection_expression(request.selection.where)
    check_users_exist(connection, request.selection)
    templates = templates_for(workspace.root / TEMPLATES)
    return _Batch(request, process, compiled, options, actor, record, prerequisites, where, templates)


def _check_resumable(existing: Row, batch: _Batch) -> None:
    if existing["process"] != batch.process.symbolic_name or existing["fingerprint"] != batch.compiled.fingerprint:
        raise UsageError(
            f"batch {existing['id']} was started for {existing['process']} with other definitions or options; "
            "resume it with the same ones, or choose another --batch-id"
        )
    batch.record.update(production_type=existing["production_type"], created_at=existing["created_at"])


def _selected(engine: Engine, batch: _Batch, chunk: int) -> Iterator[list[Row]]:
    selection = batch.request.selection
    if selection.users:
        ids = list(dict.fromkeys(selection.users))
        for start in range(0, len(ids), chunk):
            with db.reading(engine) as connection:
                found = queries.users_by_id(connection, ids[start : start + chunk])
            yield [found[user] for user in ids[start : start + chunk]]
        return
    for users in queries.user_chunks(engine, chunk):
        chosen = [user for user in users if batch.where is None or batch.where.truth({"user": user})[0] is True]
        if chosen:
            yield chosen


def _refuse_if_any_skipped(connection: Connection, batch: _Batch, chunk: int) -> None:
    skipped = []
    for users in _selected(connection.engine, batch, chunk):
        counts = queries.open_card_counts(connection, batch.process.symbolic_name, [u["id"] for u in users])
        for user in users:
            failed = _failed_prerequisite(batch, {**user, "open_cards": counts.get(user["id"], 0)})
            if failed:
                skipped.append(f"{user['id']} ({failed})")
    if skipped:
        shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        raise Refused(f"--strict: {len(skipped)} user(s) would be skipped, nothing written: {shown}")


def _failed_prerequisite(batch: _Batch, user: Row, scope: Row | None = None, reads: Reads | None = None) -> str | None:
    """The message of the first prerequisite `user` fails (None when all hold); `scope` and `reads`
    may be reused from user to user."""
    if scope is None:
        scope = _prerequisite_scope(batch)
    scope["user"] = user
    reads = [] if reads is None else reads
    for rule, message in batch.prerequisites:
        if rule.closure(scope, reads) is not True:  # specialized: the closure gives the truth itself
            return message
    return None


def _prerequisite_scope(batch: _Batch) -> Row:
    return {"options": batch.compiled.option_values, "batch": batch.view, "actor": batch.actor}


def _run_chunk(
    connection: Connection,
    batch: _Batch,
    connector: Connector,
    users: list[Row],
    result: BatchResult,
    keep: bool | int,
    *,
    plan: bool = False,
    resumed: bool = True,
    first_id: int | None = None,
) -> None:
    """Work out one chunk of users on `connection`; `resumed` says cards of this batch may exist already;
    `first_id` is the first of the card ids reserved for it (default: the next id of the store)."""
    ids = [user["id"] for user in users]
    contiguous = not batch.request.selection.users  # a page of the users table, in id order
    done = queries.existing_cards(connection, batch.record["id"], ids, contiguous=contiguous) if resumed else {}
    counts = None
    if batch.counts_open:
        counts = queries.open_card_counts(connection, batch.process.symbolic_name, ids, contiguous=contiguous)
    context = FireContext(
        batch.compiled, connector, batch.templates, batch.actor, batch.compiled.fingerprint, now(), connection=connection
    )
    context.people.update(zip(ids, users, strict=True))
    context.people[batch.actor["id"]] = batch.actor
    work = Work()
    next_id = queries.next_card_id(connection) if first_id is None else first_id
    scope = _prerequisite_scope(batch)
    reads: Reads = []
    blank = _blank_card(batch, context.at)
    for user in users:
        if counts is not None:
            user["open_cards"] = counts.get(user["id"], 0)
        if user["id"] in done:
            card = done[user["id"]]
            if card["state"] == batch.process.initial:  # deferred earlier: start it again, under the same order key
                result.add(_start(context, work, batch, user, card, stored=True), keep)
            else:
                result.add(
                    UserResult(user["id"], card["id"], card["state"], "created", "made by an earlier run of this batch"), keep
                )
            continue
        failed = _failed_prerequisite(batch, user, scope, reads)
        if failed:
            result.add(UserResult(user["id"], None, None, "skipped", failed), keep)
            continue
        outcome = _create_card(context, work, batch, user, next_id, blank)
        if outcome.card == next_id:
            next_id += 1
        if plan:
            _planned(outcome, work, context)
            work = Work()
        result.add(outcome, keep)
    if not plan:
        work.flush(connection, context)


def _planned(outcome: UserResult, work: Work, context: FireContext) -> None:
    """Tell a planned result what its rows would have been: the emails, the bureau answer, the decision."""
    outcome.emails = [(row["template"], row["recipient"]) for row in work.rows["outbox"]]
    approvers = {approver["id"]: approver["email"] for approver in context.approver_list()}
    outcome.emails += [
        (entry["template"], approvers[approver]) for approver, entries in work.approvals.items() for entry in entries
    ]
    outcome.orders = [bool(row["accepted"]) for row in work.rows["orders"]]
    outcome.trace = work.last_trace


def _blank_card(batch: _Batch, at: str) -> Row:
    """A new card of this batch, made at `at`, before its id and holder are filled in."""
    return {
        "id": None,
        "user_id": None,
        "process": batch.process.symbolic_name,
        "state": batch.process.initial,
        "open": True,
        "requester": batch.actor["id"],
        "production_type": batch.record["production_type"],
        "batch_id": batch.record["id"],
        "created_at": at,
        "updated_at": at,
        "open_key": None,
    }


def _create_card(context: FireContext, work: Work, batch: _Batch, holder: Row, card_id: int, blank: Row) -> UserResult:
    card = blank.copy()
    card["id"], card["user_id"] = card_id, holder["id"]
    if batch.compiled.exclusive:
        card["open_key"] = holder["id"]
    return _start(context, work, batch, holder, card, stored=False)


def _start(context: FireContext, work: Work, batch: _Batch, holder: Row, card: Row, *, stored: bool) -> UserResult:
    """Fire the start trigger on a card; if the bureau does not answer, the card waits in its initial state."""
    name = batch.process.symbolic_name
    try:
        decision = fire(context, work, card, holder, START, process=name, batch=batch.view, stored=stored)
    except BureauUnavailable as unavailable:
        if not stored:
            work.rows["cards"].append(card)
        reason = f"the card bureau did not answer ({unavailable}); run batch {batch.record['id']} again to finish"
        return UserResult(holder["id"], card["id"], card["state"], "deferred", reason)
    if decision.dest is None:
        return UserResult(holder["id"], None, None, "skipped", f"no transition of '{START}' fits (see `cardflow show`)")
    if not stored:
        work.rows["cards"].append(card)
    return UserResult(holder["id"], card["id"], card["state"], "created")


class Planner:
    """Plans a batch chunk by chunk without writing: for comparing two configurations in lockstep."""

    def __init__(self, workspace: Workspace, engine: Engine, request: RunRequest, connector: Connector) -> None:
        self.engine, self.connector = engine, connector
        with db.reading(engine) as connection:
            self.batch = _prepare(workspace, connection, request)

    @property
    def options(self) -> EffectiveOptions:
        return self.batch.options

    def users(self, chunk: int = queries.CHUNK) -> Iterator[list[Row]]:
        """The selected users, a chunk at a time."""
        return _selected(self.engine, self.batch, chunk)

    def plan(self, users: list[Row]) -> list[UserResult]:
        """What the run would do for these users."""
        result = BatchResult(self.batch.record["id"], self.batch.process.symbolic_name, True)
        with db.reading(self.engine) as connection:
            _run_chunk(connection, self.batch, self.connector, users, result, True, plan=True)
        return result.results
