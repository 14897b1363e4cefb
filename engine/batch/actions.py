"""Triggers fired on existing cards: approve, reject, postpone, abort, retry, and the batch sync.

An action is done by an action process (processes/*.yaml with `kind: action`) that fires the
trigger on cards of the processes it `acts_on`, if the actor has its role and its prerequisites
hold. Several processes may offer one trigger (abort: an operator's abort of a queued order, a
requester's withdrawal of a request); the first whose rules hold is used. Every card is checked
before any is changed: one refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.attributes import firing, refuse_unknown_attributes
from engine.batch.effects import (
    BUREAU_DOWN_AFTER,
    FireContext,
    Work,
    bureau_accepted,
    bureau_refusal,
    fire,
    unanswered,
)
from engine.batch.exclusivity import refused_move
from engine.batch.request import refuse_inactive
from engine.batch.results import none_held
from engine.clock import now
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.expressions import parse
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, effective_options
from engine.definitions.roles import system_role
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.errors import Refused, UsageError, clause
from engine.outbound.bureau import BureauUnavailable, Connector
from engine.store import db, open_cards, queries, syncs
from engine.store.queries import Row
from engine.store.views import batch_of, batch_view, card_view

SYSTEM: Row = {"id": "system", "name": "cardflow batch sync", "email": "", "state": "active", "roles": ["system"]}


def system_actor(workspace: Workspace) -> Row:
    """The built-in actor `system` as the system's processes see it: holding the workspace's system role."""
    role = system_role(workspace.roles)
    return {**SYSTEM, "roles": [role] if role else []}


@dataclass
class ActionResult:
    """What an action did to one card."""

    card: int
    process: str
    trigger: str
    source: str
    dest: str | None
    status: str
    message: str | None = None
    order: bool | None = None  # the bureau's answer to the order the trigger placed: accepted or refused

    def as_json(self) -> Row:
        return {
            "card": self.card,
            "process": self.process,
            "trigger": self.trigger,
            "from": self.source,
            "to": self.dest,
            "status": self.status,
            "message": self.message,
        }


@dataclass
class _Authorized:
    action: Process
    compiled: CompiledProcess
    holder: Row
    workspace: Workspace
    options: EffectiveOptions


def act(
    workspace: Workspace,
    engine: Engine,
    trigger: str,
    card_ids: list[int],
    actor_id: str,
    connector: Connector,
    *,
    reason: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
    process: str | None = None,
) -> list[ActionResult]:
    """Fire `trigger` on every card as `actor_id` (through the action process named `process`, else
    the first that allows it), or refuse them all with the reasons."""
    options = effective_options(workspace.scripts, overrides, sources)
    templates = templates_for(workspace.root / TEMPLATES)
    by = workspace.process(process) if process is not None else None
    with engine.begin() as connection:
        actor = queries.users_by_id(connection, [actor_id]).get(actor_id)
        if actor is None:
            raise UsageError(f"--as {actor_id}: no such user in the store (import users first)")
        refuse_inactive(actor, f"{trigger} cards")
        refuse_unknown_attributes(workspace, connection, firing(workspace, trigger))
        cards = queries.get_cards(connection, card_ids, lock=True)  # a second command waits, then sees the new states
        missing = [str(card) for card in card_ids if card not in cards]
        if missing:
            raise UsageError(f"unknown card(s): {', '.join(missing)}")
        authorized, refusals = {}, []
        for card_id in dict.fromkeys(card_ids):
            outcome = _authorize(workspace, connection, trigger, cards[card_id], actor, reason, options, by=by)
            if isinstance(outcome, str):
                refusals.append({"card": card_id, "state": cards[card_id]["state"], "reason": outcome})
            else:
                authorized[card_id] = outcome
        if refusals:
            told = "; ".join(f"card {r['card']} ({r['state']}): {clause(r['reason'])}" for r in refusals)
            raise Refused(f"{trigger} refused, nothing changed: {told}", details=refusals)
        try:
            with render_session():
                return [
                    _apply(connection, authorized[card_id], cards[card_id], trigger, actor, connector, reason, templates)
                    for card_id in authorized
                ]
        except IntegrityError:
            raise Refused(f"{trigger} refused, nothing changed: {_refused_move(workspace, engine, authorized, cards)}") from None


def _refused_move(workspace: Workspace, engine: Engine, authorized: dict[int, _Authorized], cards: dict[int, Row]) -> str:
    """Why the store refused the moves: the open card of its group that a reopened card's holder has."""
    with db.reading(engine) as connection:
        found = [refused_move(connection, workspace, authorized[card].compiled, cards[card]) for card in authorized]
    return "; ".join(dict.fromkeys(found))


def _authorize(
    workspace: Workspace,
    connection: Connection,
    trigger: str,
    card: Row,
    actor: Row,
    reason: str | None,
    options: EffectiveOptions,
    *,
    by: Process | None = None,
) -> _Authorized | str:
    """The action that may fire `trigger` on the card now (`by`: only that action process), or why none may."""
    owner = workspace.processes.get(card["process"])
    if owner is None:
        return f"its process {card['process']} is not defined in this workspace"
    actions = [
        p
        for p in ([by] if by is not None else workspace.processes.values())
        if p.kind == "action" and trigger in p.triggers and owner.symbolic_name in p.acts_on
    ]
    if not actions:
        acts = f" ({by.symbolic_name} acts on cards of {', '.join(by.acts_on)})" if by else ""
        return f"no process fires '{trigger}' on cards of {owner.symbolic_name}{acts}"
    holder = queries.users_by_id(connection, [card["user_id"]]).get(card["user_id"]) or {"id": card["user_id"]}
    holder = {
        **holder,
        "open_cards": open_cards.counts(connection, workspace.exclusive_group(owner), [holder["id"]]).get(holder["id"], 0),
    }
    reasons: list[str] = []
    for action in actions:
        problem = _action_problem(action, trigger, card, holder, actor, reason, options)
        if problem is None:
            compiled = compile_process(owner, options, workspace.fingerprint)
            if compiled.can_fire(trigger, card["state"]):
                return _Authorized(action, compiled, holder, workspace, options)
            problem = f"no '{trigger}' transition leaves state '{card['state']}' under the options in force"
        if problem not in reasons:
            reasons.append(problem)
    return "; ".join(map(clause, reasons))


def _action_problem(
    action: Process, trigger: str, card: Row, holder: Row, actor: Row, reason: str | None, options: EffectiveOptions
) -> str | None:
    if action.actor == "system" and actor["id"] != SYSTEM["id"]:
        return f"'{trigger}' is done by the batch sync ({action.symbolic_name}), not by a user"
    if action.actor not in ("any", "system") and action.actor not in actor["roles"]:
        return f"{actor['id']} does not have the {action.actor} role ({action.symbolic_name})"
    scope = {"user": holder, "card": card_view(card), "options": options.for_scripts(action.options).as_dict(), "actor": actor}
    for prerequisite in action.prerequisites:
        if parse(prerequisite.rule.text).truth(scope)[0] is not True:
            return prerequisite.message
    if action.triggers[trigger].reason == "required" and not (reason and reason.strip()):
        return f"'{trigger}' needs a reason (--reason)"
    return None


def _apply(
    connection: Connection,
    authorized: _Authorized,
    card: Row,
    trigger: str,
    actor: Row,
    connector: Connector,
    reason: str | None,
    templates: Templates,
    *,
    batch_id: str | None = None,
    plan: bool = False,
) -> ActionResult:
    """Fire the trigger on the card and write what it causes; `batch_id` names the run it is part of
    (the audit row's batch; else the card's batch); a `plan` writes nothing."""
    compiled = authorized.compiled
    context = FireContext(
        compiled,
        connector,
        templates,
        actor,
        compiled.fingerprint,
        now(),
        connection=connection,
        workspace=authorized.workspace,
        options=authorized.options,
    )
    work = Work()
    source = card["state"]
    earlier = queries.order_counts(connection, [card["id"]]).get(card["id"], 0)
    batch = batch_view(queries.get_batch(connection, card["batch_id"]) or {"id": card["batch_id"]})
    if batch_id is not None:
        batch["id"] = batch_id
    name = authorized.action.symbolic_name
    try:
        decision = fire(
            context, work, card, authorized.holder, trigger, process=name, batch=batch, reason=reason, earlier_orders=earlier
        )
    except BureauUnavailable as unavailable:
        attempt = Work()
        unanswered(attempt, card, context.connector.name, str(unavailable), context.at, earlier)
        if not plan:
            queries.write_rows(connection, attempt.rows)
        return ActionResult(card["id"], name, trigger, source, None, "deferred", f"the card bureau is unavailable: {unavailable}")
    if decision.dest is None:
        raise Refused(f"{trigger} refused, nothing changed: card {card['id']} ({source}): {none_held(decision)}")
    refused, order = bureau_refusal(work), bureau_accepted(work)
    if not plan and work.flush(connection, context):
        raise Refused(f"{trigger} refused, nothing changed: card {card['id']} was moved from '{source}' by another command")
    return ActionResult(card["id"], name, trigger, source, decision.dest, "done", refused or reason, order)


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
    with render_session():
        for action in workspace.processes.values():
            if action.kind != "action" or action.actor != "system" or only not in (None, action.symbolic_name):
                continue
            for owner_name in action.acts_on:
                compiled = compile_process(workspace.process(owner_name), options, workspace.fingerprint)
                for trigger in (name for name, spec in action.triggers.items() if spec.bureau_status is None):
                    sync = _Sync(action, compiled, trigger, connector, options, templates, system_actor(workspace), workspace)
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
        committed(done)
        results += done
        if _bureau_down(results):
            break
    return results


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
        problem = _action_problem(sync.action, sync.trigger, card, holder, sync.actor, None, sync.options)
        if problem:
            results.append(ActionResult(card["id"], name, sync.trigger, source, None, "skipped", problem))
            continue
        batch, earlier_orders = batch_of(card), earlier.get(card["id"], 0)
        try:
            decision = fire(context, work, card, holder, sync.trigger, process=name, batch=batch, earlier_orders=earlier_orders)
        except BureauUnavailable as unavailable:
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


def decision_states(workspace: Workspace, roles: frozenset[str]) -> dict[str, list[str]]:
    """Per batch process, the states in which a card waits for a decision by one of `roles` (an open request)."""
    found: dict[str, list[str]] = {}
    for action in workspace.processes.values():
        if action.kind != "action" or action.actor not in roles:
            continue
        for name in action.acts_on:
            owner = workspace.process(name)
            sources = [s for t in owner.transitions if t.trigger in action.triggers for s in t.source]
            found.setdefault(name, [])
            found[name] += [state for state in dict.fromkeys(sources) if state not in found[name]]
    return found


def trigger_roles(workspace: Workspace, trigger: str) -> set[str]:
    """The roles of the action processes that offer `trigger` to users ('any' when anyone may try)."""
    return {
        process.actor
        for process in workspace.processes.values()
        if process.kind == "action" and process.actor != "system" and trigger in process.triggers
    }
