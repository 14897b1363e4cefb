"""The order-status sync (the vendor's "Update card order"): ask the card bureau for the status of
every ordered card's order and fire the trigger that status names (`bureau_status:` of a system
process's trigger): `ordered` → `in_production` → `produced`, or `failed` with the bureau's reason.

Each move is an audit row like any other, with the bureau's report as its reason, so `explain`
tells it. A card whose status is unchanged, or that the status cannot move, is left as it is; a
bureau that cannot be asked leaves the card for the next sync. Cards are claimed a chunk at a time
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two syncs at once never move a card twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from engine.batch.actions import ActionResult, system_actor
from engine.batch.authorizing import action_problem
from engine.batch.collector import collector_spared
from engine.batch.effects import FireContext, Work, fire
from engine.batch.queue import _bureau_down
from engine.batch.results import none_held
from engine.clock import now
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import templates_for
from engine.outbound.bureau import Connector, StatusRequest
from engine.store import queries, syncs
from engine.store.queries import Row
from engine.store.views import batch_of


@dataclass(frozen=True)
class _StatusSync:
    """The triggers of one system process, by the bureau status that fires them, on one batch process."""

    action: Process
    compiled: CompiledProcess
    triggers: Mapping[str, str]
    connector: Connector
    options: EffectiveOptions


def sync_order_status(
    workspace: Workspace,
    engine: Engine,
    connector: Connector,
    *,
    overrides: Mapping[str, Any] | None = None,
    chunk: int = queries.CHUNK,
    only: str | None = None,
) -> list[ActionResult]:
    """Ask the bureau for the status of every ordered card and move each card on (by every process
    the system runs, or `only` the one so named: a scheduled job); see the module docstring."""
    options = effective_options(workspace.scripts, overrides)
    results: list[ActionResult] = []
    with collector_spared(), render_session():
        for action in workspace.processes.values():
            triggers = {spec.bureau_status: name for name, spec in action.triggers.items() if spec.bureau_status}
            if action.kind != "action" or action.actor != "system" or not triggers or only not in (None, action.symbolic_name):
                continue
            for owner_name in action.acts_on:
                compiled = compile_process(workspace.process(owner_name), options, workspace.fingerprint)
                sync = _StatusSync(action, compiled, triggers, connector, options)
                results += _sync_cards(workspace, engine, sync, chunk)
    return results


def _sync_cards(workspace: Workspace, engine: Engine, sync: _StatusSync, chunk: int) -> list[ActionResult]:
    owner = sync.compiled.process
    states = [s for s in owner.states if any(sync.compiled.can_fire(t, s) for t in sync.triggers.values())]
    results: list[ActionResult] = []
    last = 0
    while states:
        with engine.begin() as connection:
            cards = syncs.claim_cards(connection, owner.symbolic_name, states, last, chunk)
            if not cards:
                break
            last = cards[-1]["id"]
            results += _sync_chunk(workspace, connection, sync, cards)
        if _bureau_down(results):
            break
    return results


def _sync_chunk(workspace: Workspace, connection: Connection, sync: _StatusSync, cards: list[Row]) -> list[ActionResult]:
    context = FireContext(
        sync.compiled,
        sync.connector,
        templates_for(workspace.root / TEMPLATES),
        system_actor(workspace),
        sync.compiled.fingerprint,
        now(),
        connection=connection,
        workspace=workspace,
        options=sync.options,
    )
    holders = queries.users_by_id(connection, [card["user_id"] for card in cards])
    context.people.update(holders)
    order_ids = syncs.latest_order_ids(connection, [card["id"] for card in cards])
    work, results = Work(), list[ActionResult]()
    for card in cards:
        if _bureau_down(results):
            break
        outcome = _move(context, work, sync, card, holders.get(card["user_id"]) or {"id": card["user_id"]}, order_ids)
        if outcome is not None:
            results.append(outcome)
    work.flush(connection, context)
    return results


def _move(
    context: FireContext, work: Work, sync: _StatusSync, card: Row, holder: Row, order_ids: Mapping[int, str]
) -> ActionResult | None:
    """Ask for one card's order status and fire what it names; None when there is nothing to do."""
    name, source = sync.action.symbolic_name, card["state"]
    order_id = order_ids.get(card["id"])
    if order_id is None:
        return ActionResult(card["id"], name, "(status)", source, None, "skipped", "no accepted order at the bureau")
    answer = sync.connector.status(StatusRequest(order_id, card["id"], card["user_id"]))
    if answer.transient:
        return ActionResult(card["id"], name, "(status)", source, None, "deferred", answer.reason)
    trigger = sync.triggers.get(answer.status or "")
    if trigger is None or not sync.compiled.can_fire(trigger, source):
        return None  # nothing new, or nothing this status can move
    problem = action_problem(sync.action, trigger, card, holder, context.actor, None, sync.options, context.at)
    if problem:
        return ActionResult(card["id"], name, trigger, source, None, "skipped", problem)
    # the order's id is in the card's story (`explain`: its orders); the reason is the bureau's own, so
    # that cards failed for one reason are counted together (`incidents`)
    said = f"the card bureau reports the order {answer.status}" + (f": {answer.reason}" if answer.reason else "")
    decision = fire(context, work, card, holder, trigger, process=name, batch=batch_of(card), reason=said)
    if decision.dest is None:
        return ActionResult(card["id"], name, trigger, source, None, "skipped", f"{said}; {none_held(decision)}")
    return ActionResult(card["id"], name, trigger, source, decision.dest, "done", said)
