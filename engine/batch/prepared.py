"""A run prepared before any card: the process compiled under the options, the actor checked, the
production type settled, the batch record drawn up, and the selected users read a chunk at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import Connection, Engine

from engine.batch.attributes import refuse_unknown_attributes
from engine.batch.exclusivity import refused_new_card
from engine.batch.prerequisites import Prerequisites
from engine.batch.request import (
    RunRequest,
    batch_record,
    check_batch_id,
    check_users_exist,
    check_where_attributes,
    require_actor,
    selection_expression,
    settle_production_type,
)
from engine.clock import now
from engine.definitions.closures import Reads
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.expressions import Compiled, parse, specialize
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.templates import Templates, templates_for
from engine.errors import Refused, UsageError, clause
from engine.records import Batch as BatchView
from engine.store import db, open_cards, queries
from engine.store.queries import Row
from engine.store.views import batch_view


class OpenCardsRead(NamedTuple):
    """Whether a prerequisite (`before` a user has a card), and whether a guard or an effect's `when`
    (`firing`), reads `user.open_cards`."""

    before: bool
    firing: bool


@dataclass
class Batch:
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
    #: the processes a user's open cards are counted over (its exclusivity group), by symbolic name with their names
    group: dict[str, str]
    workspace: Workspace | None = None  # what a fire on other cards and the approvers are found in
    every_option: EffectiveOptions | None = None  # of every script (a fire reaches cards of other processes)
    resumed: bool = False
    unanswered: int = 0  # orders in a row the bureau did not answer
    stopped: str | None = None  # why the run stopped ordering (the bureau is down)

    def again(self) -> Batch:
        """This batch for another of its chunks: what was worked out once (the machine, the checks)
        is kept, the run's own state (resumed, the bureau's misses, a stop) starts afresh."""
        fresh = copy.copy(self)
        fresh.record, fresh.resumed, fresh.unanswered, fresh.stopped = dict(self.record), False, 0, None
        return fresh

    @cached_property
    def counts_open(self) -> OpenCardsRead:
        """Who reads `user.open_cards` (else a chunk need not count them: for the prerequisites, once
        every user has a card of the batch)."""
        transitions = self.process.transitions
        firing = [parse(t.guard.text) for t in transitions if t.guard]
        firing += [parse(e.when.text) for t in transitions for e in t.effects if e.when]
        reads = ("user", "open_cards")
        before = any(reads in rule.attributes for rule, _ in self.prerequisites)
        return OpenCardsRead(before, any(reads in expression.attributes for expression in firing))

    @cached_property
    def checks(self) -> Prerequisites:
        """The prerequisites, remembered per values read."""
        return Prerequisites(self.prerequisites)

    @cached_property
    def creates(self) -> str:
        """The trigger that creates a card (a valid workspace names one for every batch process)."""
        trigger = self.process.creating_trigger
        if trigger is None:
            raise UsageError(f"{self.process.symbolic_name} names no trigger that creates a card (run `cardflow validate`)")
        return trigger

    @cached_property
    def view(self) -> BatchView:
        """The batch as expressions see it (once the record is settled)."""
        return batch_view(self.record)


def prepare(workspace: Workspace, connection: Connection, request: RunRequest) -> Batch:
    check_batch_id(request.batch_id)
    process = workspace.process(request.process)
    if process.kind != "batch":
        name = process.symbolic_name
        raise UsageError(f"{name} acts on existing cards, not users: `cardflow run {name}` takes --card ID..., --all or --where")
    actor = require_actor(connection, request.actor, process.actor, process.symbolic_name, planning=request.dry_run)
    every_option = effective_options(workspace.scripts, request.overrides, request.sources)
    options = every_option.for_scripts(process.options)
    compiled = compile_process(process, options, workspace.fingerprint)
    production_type = settle_production_type(process, options, request.production_type)
    record = batch_record(process, actor, options, compiled.fingerprint, request, production_type)
    known = {"options": compiled.option_values, "actor": actor}
    prerequisites = [(specialize(p.rule.text, known), p.message) for p in process.prerequisites]
    where = selection_expression(request.selection.where)
    check_where_attributes(connection, where)
    refuse_unknown_attributes(workspace, connection, [process.symbolic_name])
    check_users_exist(connection, request.selection)
    templates = templates_for(workspace.root / TEMPLATES)
    group = workspace.exclusive_group(process)
    return Batch(
        request, process, compiled, options, actor, record, prerequisites, where, templates, group, workspace, every_option
    )


def selected_users(engine: Engine, batch: Batch, chunk: int) -> Iterator[list[Row]]:
    selection = batch.request.selection
    if selection.users:
        ids = list(dict.fromkeys(selection.users))
        for start in range(0, len(ids), chunk):
            with db.reading(engine) as connection:
                found = queries.users_by_id(connection, ids[start : start + chunk])
            yield [found[user] for user in ids[start : start + chunk]]
        return
    counted = batch.where is not None and ("user", "open_cards") in batch.where.attributes
    for users in queries.user_chunks(engine, chunk):
        if counted:
            _count_open_cards(engine, batch, users)
        chosen = [user for user in users if batch.where is None or batch.where.truth({"user": user})[0] is True]
        if chosen:
            yield chosen


def _count_open_cards(engine: Engine, batch: Batch, users: list[Row]) -> None:
    """Give each user of a page of the users table its `open_cards`, for a --where that reads it."""
    with db.reading(engine) as connection:
        counts = open_cards.counts(connection, batch.group, [u["id"] for u in users], contiguous=True)
    for user in users:
        user["open_cards"] = counts.get(user["id"], 0)


def refuse_if_any_skipped(connection: Connection, batch: Batch, chunk: int) -> None:
    skipped = []
    for users in selected_users(connection.engine, batch, chunk):
        opened = open_cards.by_user(connection, batch.group, [u["id"] for u in users])
        for user in users:
            held = opened.get(user["id"])
            failed = failed_prerequisite(batch, {**user, "open_cards": held.total if held else 0}) or refused_new_card(
                batch.compiled, batch.group, user["id"], held
            )
            if failed:
                skipped.append(f"{user['id']} ({clause(failed)})")
    if skipped:
        shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        raise Refused(f"--strict: {len(skipped)} user(s) would be skipped, nothing written: {shown}")


def failed_prerequisite(batch: Batch, user: Row, scope: Row | None = None, reads: Reads | None = None) -> str | None:
    """The message of the first prerequisite `user` fails (None when all hold); `scope` and `reads`
    may be reused from user to user."""
    return batch.checks.first_failed(user, prerequisite_scope(batch) if scope is None else scope, [] if reads is None else reads)


def prerequisite_scope(batch: Batch) -> Row:
    return {"options": batch.compiled.option_values, "batch": batch.view, "actor": batch.actor, "now": now()}


def blank_card(batch: Batch, at: str) -> Row:
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
        "requested_by": batch.actor["id"],
        "fields": "{}",  # the card fields' values, set by `set` effects
    }
