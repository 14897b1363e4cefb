"""Triggers fired on existing cards: approve, reject, postpone, abort, retry, and the batch sync.

An action is done by an action process (processes/*.yaml with `kind: action`) that fires the
trigger on cards of the processes it `acts_on`, if the actor has its role and its prerequisites
hold. Several processes may offer one trigger (abort: an operator's abort of a queued order, a
requester's withdrawal of a request); the first whose rules hold is used. Every card is checked
before any is changed: one refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from engine.batch.attributes import firing, refuse_unknown_attributes
from engine.batch.authorizing import SYSTEM, Authorized, authorize
from engine.batch.calls import WAITS, Origin, Outbox, outbox_of, pending_calls, send_written
from engine.batch.chunk_reads import ChunkReads
from engine.batch.effects import (
    FireContext,
    Work,
    fire,
)
from engine.batch.exclusivity import refused_move
from engine.batch.orders import bureau_accepted, bureau_refusal, unanswered
from engine.batch.request import refuse_inactive
from engine.batch.results import PENDING, none_held
from engine.clock import now
from engine.definitions.declared import system_role
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Workspace
from engine.definitions.options import effective_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.errors import Refused, UsageError, clause
from engine.outbound.bureau import BureauUnavailable, Connector
from engine.store import db, queries
from engine.store.queries import Row
from engine.store.views import batch_view


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
            outcome = authorize(workspace, connection, trigger, cards[card_id], actor, reason, options, by=by)
            if isinstance(outcome, str):
                refusals.append({"card": card_id, "state": cards[card_id]["state"], "reason": outcome})
            else:
                authorized[card_id] = outcome
        if refusals:
            told = "; ".join(f"card {r['card']} ({r['state']}): {clause(r['reason'])}" for r in refusals)
            raise Refused(f"{trigger} refused, nothing changed: {told}", details=refusals)
        outbox = outbox_of(connector)
        try:
            with render_session():
                results = [
                    _apply(connection, authorized[card_id], cards[card_id], trigger, actor, outbox, reason, templates)
                    for card_id in authorized
                ]
        except IntegrityError:
            raise Refused(f"{trigger} refused, nothing changed: {_refused_move(workspace, engine, authorized, cards)}") from None
    if any(result.status == PENDING for result in results):
        results = _answered(engine, outbox, authorized, results, actor, reason, templates)
    return results


def _answered(
    engine: Engine,
    outbox: Outbox,
    authorized: dict[int, Authorized],
    results: list[ActionResult],
    actor: Row,
    reason: str | None,
    templates: Templates,
) -> list[ActionResult]:
    """Send the calls the committed firings made, then fire again, in a second transaction, on the cards
    whose calls were answered (the guards read the answers); the others wait for the calls' next attempt."""
    unanswered = send_written(engine, outbox).cards
    again = [result for result in results if result.status == PENDING and result.card not in unanswered]
    redone: dict[int, ActionResult] = {}
    if again:
        with engine.begin() as connection, render_session():
            cards = queries.get_cards(connection, [result.card for result in again], lock=True)
            for result in again:
                card = cards[result.card]
                if card["state"] != result.source:
                    moved = f"{result.trigger} refused, nothing changed: card {result.card} was moved from '{result.source}'"
                    raise Refused(f"{moved} by another command")
                redone[result.card] = _apply(
                    connection, authorized[result.card], card, result.trigger, actor, outbox, reason, templates
                )
    outbox.leave_the_rest()
    final = []
    for result in results:
        if result.status != PENDING:
            final.append(result)
        elif result.card in unanswered:
            final.append(replace(result, status="deferred", message=f"the call waits for an answer: {unanswered[result.card]}"))
        else:
            done = redone[result.card]
            final.append(replace(done, status="deferred", message=WAITS) if done.status == PENDING else done)
    return final


def _refused_move(workspace: Workspace, engine: Engine, authorized: dict[int, Authorized], cards: dict[int, Row]) -> str:
    """Why the store refused the moves: the open card of its group that a reopened card's holder has."""
    with db.reading(engine) as connection:
        found = [refused_move(connection, workspace, authorized[card].compiled, cards[card]) for card in authorized]
    return "; ".join(dict.fromkeys(found))


def _apply(
    connection: Connection,
    authorized: Authorized,
    card: Row,
    trigger: str,
    actor: Row,
    connector: Connector,
    reason: str | None,
    templates: Templates,
    *,
    batch_id: str | None = None,
    plan: bool = False,
    reads: ChunkReads | None = None,
    work: Work | None = None,
) -> ActionResult:
    """Fire the trigger on the card and write what it causes; `batch_id` names the run it is part of
    (the audit row's batch; else the card's batch); a `plan` writes nothing. With the `work` of a
    chunk of cards (and its `reads`), the rows are gathered there for the caller to write once for the
    chunk (`Work.flush`: a card another command moved meanwhile is among the ids it returns)."""
    compiled = authorized.compiled
    context = FireContext(
        compiled,
        connector,
        templates,
        actor,
        compiled.fingerprint,
        reads.at if reads is not None else now(),
        connection=connection,
        workspace=authorized.workspace,
        options=authorized.options,
        reads=reads,
    )
    shared, work = work is not None, work or Work()
    source = card["state"]
    earlier, stored_batch = _card_reads(connection, card, reads)
    batch = batch_view(stored_batch or {"id": card["batch_id"]})
    if batch_id is not None:
        batch["id"] = batch_id
    name = authorized.action.symbolic_name
    mark = work.mark() if shared else None  # what a refused or waiting firing takes back out of the chunk's work
    try:
        decision = fire(
            context, work, card, authorized.holder, trigger, process=name, batch=batch, reason=reason, earlier_orders=earlier
        )
    except Refused:
        if mark is not None:
            work.undo(mark)
        raise
    except BureauUnavailable as unavailable:
        if mark is not None:
            work.undo(mark)
        waiting = Work()
        if unavailable.pending:  # the call is sent once this commits, and the trigger fired again (`_answered`)
            origin = Origin(card["id"], name, trigger, source, actor["id"], batch.get("id"), reason)
            waiting.rows["calls"] += pending_calls(connector, origin, context.at)
            result = ActionResult(card["id"], name, trigger, source, None, PENDING)
        else:
            unanswered(waiting, card, context.connector.name, str(unavailable), context.at, earlier)
            why = f"the call waits for an answer: {unavailable}"
            result = ActionResult(card["id"], name, trigger, source, None, "deferred", why)
        if not plan:
            _keep(connection, waiting, work if shared else None)
        return result
    if decision.dest is None:
        raise Refused(f"{trigger} refused, nothing changed: card {card['id']} ({source}): {none_held(decision)}")
    refused, order = bureau_refusal(work), bureau_accepted(work)
    if not plan and not shared and work.flush(connection, context):
        raise Refused(f"{trigger} refused, nothing changed: card {card['id']} was moved from '{source}' by another command")
    return ActionResult(card["id"], name, trigger, source, decision.dest, "done", refused or reason, order)


def _card_reads(connection: Connection, card: Row, reads: ChunkReads | None) -> tuple[int, Row | None]:
    """How many orders of the card the bureau answered before, and the row of the batch that made it."""
    if reads is not None:
        return reads.earlier_orders(card["id"]), reads.batch(card["batch_id"])
    return queries.order_counts(connection, [card["id"]]).get(card["id"], 0), queries.get_batch(connection, card["batch_id"])


def _keep(connection: Connection, waiting: Work, shared: Work | None) -> None:
    """Write the rows of a firing that waits for a call (its pending call, an unanswered attempt), or
    add them to the chunk's `shared` work."""
    if shared is None:
        queries.write_rows(connection, waiting.rows)
        return
    for table, rows in waiting.rows.items():
        shared.rows[table] += rows


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
