"""The batch sync (`cardflow queue run`, the workers' scheduled jobs): each process the system runs
fires its trigger on the cards waiting for it, oldest first, a chunk per transaction; the calls a
chunk makes are sent once it commits (engine.batch.calls)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Connection, Engine

from engine.batch.actions import ActionResult, system_actor
from engine.batch.authorizing import action_problem
from engine.batch.calls import WAITS, Origin, Outbox, outbox_of, pending_calls, send_written
from engine.batch.collector import collector_spared
from engine.batch.effects import BUREAU_DOWN_AFTER, FireContext, Work, fire
from engine.batch.orders import bureau_accepted, bureau_refusal, unanswered
from engine.batch.results import PENDING, none_held
from engine.clock import now
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.outbound.bureau import BureauUnavailable, Connector
from engine.store import queries, syncs
from engine.store.queries import Row
from engine.store.views import batch_of


@dataclass(frozen=True)
class _Sync:
    """One trigger of a system process, fired on the cards of one batch process."""

    action: Process
    compiled: CompiledProcess
    trigger: str
    connector: Connector
    options: EffectiveOptions
    templates: Templates
    actor: Row
    workspace: Workspace


def sync_queue(
    workspace: Workspace,
    engine: Engine,
    connector: Connector,
    *,
    limit: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
    chunk: int = queries.CHUNK,
    committed: Callable[[list[ActionResult]], None] | None = None,
    only: str | None = None,
) -> list[ActionResult]:
    """The batch sync: every process run by the system (or `only` the one so named: a scheduled job)
    fires its trigger on the cards waiting for it (except the triggers the bureau's order status
    fires: those are the order-status sync's). `committed` is told the results of each chunk once it
    is written (what an interrupt keeps)."""
    options = effective_options(workspace.scripts, overrides, sources)
    templates = templates_for(workspace.root / TEMPLATES)
    results: list[ActionResult] = []
    outbox = outbox_of(connector)
    with collector_spared(), render_session():
        for action in workspace.processes.values():
            if action.kind != "action" or action.actor != "system" or only not in (None, action.symbolic_name):
                continue
            for owner_name in action.acts_on:
                compiled = compile_process(workspace.process(owner_name), options, workspace.fingerprint)
                for trigger in (name for name, spec in action.triggers.items() if spec.bureau_status is None):
                    sync = _Sync(action, compiled, trigger, outbox, options, templates, system_actor(workspace), workspace)
                    left = None if limit is None else limit - len(results)
                    results += _sync_cards(engine, sync, left, chunk, committed or (lambda done: None))
    return results


def _sync_cards(
    engine: Engine, sync: _Sync, limit: int | None, chunk: int, committed: Callable[[list[ActionResult]], None]
) -> list[ActionResult]:
    """Fire the trigger on every card it can leave, oldest first, a chunk per transaction."""
    owner = sync.compiled.process
    states = [state for state in owner.states if sync.compiled.can_fire(sync.trigger, state)]
    results: list[ActionResult] = []
    last = 0
    while states and (limit is None or len(results) < limit):
        size = chunk if limit is None else min(chunk, limit - len(results))
        with engine.begin() as connection:
            cards = syncs.claim_cards(connection, owner.symbolic_name, states, last, size)  # another sync's are left to it
            if not cards:
                break
            last = cards[-1]["id"]
            done = _sync_chunk(connection, sync, cards)
        if any(result.status == PENDING for result in done):
            done = _answered(engine, sync, done)
        committed(done)
        results += done
        if _bureau_down(results):
            break
    return results


def _answered(engine: Engine, sync: _Sync, results: list[ActionResult]) -> list[ActionResult]:
    """Send the calls the committed chunk made, then fire again, in a second transaction, on the cards
    whose calls were answered; the others wait for the calls' next attempt."""
    outbox = cast(Outbox, sync.connector)
    unanswered = send_written(engine, outbox).cards
    again = [result.card for result in results if result.status == PENDING and result.card not in unanswered]
    redone: dict[int, ActionResult] = {}
    if again:
        with engine.begin() as connection:
            cards = queries.get_cards(connection, again, lock=True)
            fresh = [cards[card] for card in again if cards[card]["state"] in {r.source for r in results if r.card == card}]
            redone = {result.card: result for result in _sync_chunk(connection, sync, fresh)}
    outbox.leave_the_rest()
    final = []
    for result in results:
        if result.status != PENDING:
            final.append(result)
        elif result.card in unanswered:
            final.append(replace(result, status="deferred", message=unanswered[result.card]))
        else:
            done = redone.get(result.card) or _moved_meanwhile(result)
            final.append(replace(done, status="deferred", message=WAITS) if done.status == PENDING else done)
    return final


def _bureau_down(results: list[ActionResult]) -> bool:
    """The bureau did not answer the last few orders in a row: stop this sync, try again later."""
    tail = results[-BUREAU_DOWN_AFTER:]
    return len(tail) == BUREAU_DOWN_AFTER and all(result.status == "deferred" for result in tail)


def _sync_chunk(connection: Connection, sync: _Sync, cards: list[Row]) -> list[ActionResult]:
    compiled = sync.compiled
    context = FireContext(
        compiled,
        sync.connector,
        sync.templates,
        sync.actor,
        compiled.fingerprint,
        now(),
        connection=connection,
        workspace=sync.workspace,
        options=sync.options,
    )
    holders = queries.users_by_id(connection, [card["user_id"] for card in cards])
    context.people.update(holders)
    earlier = queries.order_counts(connection, [card["id"] for card in cards])
    name = sync.action.symbolic_name
    work, results = Work(), list[ActionResult]()
    for card in cards:
        if _bureau_down(results):
            break
        holder = holders.get(card["user_id"]) or {"id": card["user_id"]}
        source = card["state"]
        problem = action_problem(sync.action, sync.trigger, card, holder, sync.actor, None, sync.options, now())
        if problem:
            results.append(ActionResult(card["id"], name, sync.trigger, source, None, "skipped", problem))
            continue
        batch, earlier_orders = batch_of(card), earlier.get(card["id"], 0)
        try:
            decision = fire(context, work, card, holder, sync.trigger, process=name, batch=batch, earlier_orders=earlier_orders)
        except BureauUnavailable as unavailable:
            if unavailable.pending:  # sent once the chunk commits (`_answered`)
                origin = Origin(card["id"], name, sync.trigger, source, sync.actor["id"], batch.get("id"))
                work.rows["calls"] += pending_calls(context.connector, origin, context.at)
                results.append(ActionResult(card["id"], name, sync.trigger, source, None, PENDING))
                continue
            unanswered(work, card, sync.connector.name, str(unavailable), context.at, earlier_orders)
            results.append(ActionResult(card["id"], name, sync.trigger, source, None, "deferred", str(unavailable)))
            continue
        if decision.dest is None:
            results.append(ActionResult(card["id"], name, sync.trigger, source, None, "skipped", none_held(decision)))
            continue
        refused, order = bureau_refusal(work), bureau_accepted(work)
        results.append(ActionResult(card["id"], name, sync.trigger, source, decision.dest, "done", refused, order))
    lost = work.flush(connection, context)
    return [_moved_meanwhile(result) if result.card in lost else result for result in results]


def _moved_meanwhile(result: ActionResult) -> ActionResult:
    """A card another command moved after this sync read it: skipped, nothing of it written."""
    message = f"moved from '{result.source}' by another command meanwhile"
    return ActionResult(result.card, result.process, result.trigger, result.source, None, "skipped", message)
