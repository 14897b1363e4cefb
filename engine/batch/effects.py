"""A fired trigger becomes rows: the card's new state, its audit row and decision, the bureau order
and the rows its effects add (each effect by its kind, engine.effects). Everything for one unit of
work is gathered in a `Work` and written in the caller's transaction, so a state change and its
effects commit together or not at all.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import cast

from sqlalchemy import Connection

from engine import effects
from engine.batch import arming, invoking
from engine.batch.chunk_reads import ChunkReads
from engine.batch.exclusivity import refused_move
from engine.batch.work import Work as Work
from engine.definitions.calls import BUREAU, connector_of
from engine.definitions.compile import CompiledProcess, Decision, compile_process
from engine.definitions.model import Effect, Workspace
from engine.definitions.options import EffectiveOptions
from engine.definitions.recipients import deciding_roles
from engine.definitions.templates import Templates
from engine.effects.base import Firing
from engine.effects.email import planned_approval_emails as planned_approval_emails
from engine.effects.fire import MAX_DEPTH
from engine.errors import Refused
from engine.outbound.bureau import BureauUnavailable, Connector, LazyAnswer, OrderAnswer
from engine.records import Batch
from engine.store import open_cards, queries
from engine.store.queries import Row, dumps
from engine.store.views import card_view


@dataclass
class FireContext:
    """What firing needs besides the card: the machine, the bureau, who acts, and the people to tell."""

    compiled: CompiledProcess
    connector: Connector
    templates: Templates
    actor: Row
    fingerprint: str
    at: str
    people: dict[str, Row] = field(default_factory=dict)
    connection: Connection | None = None
    email_keys: Iterator[str] = field(default_factory=lambda: _email_keys())  # drawn at the first email
    views: dict[str, Row] = field(default_factory=dict)  # people other than a card's holder as emails show them
    #: the workspace: the processes of the holder's other cards (`fire`) and who decides a state (`approvers`)
    workspace: Workspace | None = None
    #: every option in force (a card of another process reads its own scripts' options)
    options: EffectiveOptions | None = None
    #: the users of each role, read once a unit of work (shared by the contexts of the cards it fires on)
    roles: dict[str, list[Row]] = field(default_factory=dict)
    deciders: dict[tuple[str, str], list[Row]] = field(default_factory=dict)
    #: the cards, each with the trigger fired on it, whose `fire` effects led to this context's transitions
    chain: tuple[tuple[int, str], ...] = ()
    reads: ChunkReads | None = None  # the store's answers read once for a chunk of cards (engine.batch.chunk_reads)

    @property
    def timed(self) -> arming.Timed:
        """The states with timers of the workspace's processes (of this process without a workspace)."""
        if self.workspace is not None:
            return self.workspace.timed
        process = self.compiled.process
        return {process.symbolic_name: process.timed} if process.timed else {}

    def user(self, user_id: str) -> Row | None:
        if user_id not in self.people and self.connection is not None:
            self.people.update(queries.users_by_id(self.connection, [user_id]))
        return self.people.get(user_id)

    def users_with_role(self, role: str) -> list[Row]:
        """The active users holding `role`, in id order."""
        if role not in self.roles:
            self.roles[role] = queries.users_with_role(self.connection, role) if self.connection is not None else []
            self.people.update((user["id"], user) for user in self.roles[role])
        return self.roles[role]

    def approvers_of(self, card: Row) -> list[Row]:
        """The users who may decide `card` in its state: holding a role of an action process that a
        person fires from it (`engine.definitions.recipients`), each once, in id order."""
        key = (card["process"], card["state"])
        if key not in self.deciders:
            processes = self.workspace.processes if self.workspace is not None else {}
            found = {u["id"]: u for role in deciding_roles(processes, *key) for u in self.users_with_role(role)}
            self.deciders[key] = [found[user_id] for user_id in sorted(found)]
        return self.deciders[key]

    def compiled_for(self, process: str) -> CompiledProcess | None:
        """The machine of `process` under the options in force; None when the workspace has no such batch process."""
        if process == self.compiled.process.symbolic_name:
            return self.compiled
        found = self.workspace.processes.get(process) if self.workspace is not None else None
        if self.workspace is None or found is None or found.kind != "batch":
            return None
        return compile_process(found, self.options or self.compiled.options, self.workspace.fingerprint)

    def holder_cards(self, firing: Firing) -> list[Row]:
        """The holder's other cards, in the states this unit of work leaves them in (not written yet)."""
        if self.connection is None:
            return []
        cards = {card["id"]: card for card in queries.find_cards(self.connection, user=firing.holder["id"])}
        for change in firing.work.changes:
            if change["id"] in cards:
                cards[change["id"]].update({key: value for key, value in change.items() if key not in ("id", "was")})
        return [card for card_id, card in cards.items() if card_id != firing.card["id"]]

    def cascade(self, firing: Firing, card: Row, trigger: str) -> None:
        """Fire `trigger` on `card`, another card of the holder, as `firing` caused it: with the same
        actor and batch, the cause as its reason; refused when the chain would reach a card again or
        grow longer than `engine.effects.fire.MAX_DEPTH`."""
        chain = (*self.chain, (firing.card["id"], firing.trigger))
        _refuse_loop(chain, card, trigger)
        compiled = self.compiled_for(card["process"])
        if compiled is None:
            return
        context = replace(self, compiled=compiled, fingerprint=compiled.fingerprint, chain=chain)
        earlier = queries.order_counts(self.connection, [card["id"]]).get(card["id"], 0) if self.connection is not None else 0
        reason = f"fired by card {firing.card['id']}'s {firing.trigger}"
        work, batch = cast(Work, firing.work), cast(Batch, firing.batch)  # this module's, which made the firing
        last_trace = work.last_trace  # what the caller reads of its own transition (the bureau's answer)
        fire(
            context,
            work,
            card,
            firing.holder,
            trigger,
            process=card["process"],
            batch=batch,
            reason=reason,
            earlier_orders=earlier,
        )
        work.last_trace = last_trace
        work.fired[card["id"]] = card


def _email_keys() -> Iterator[str]:
    """Dedupe keys for the emails of one unit of work: a random prefix, then a count."""
    prefix = uuid.uuid4().hex
    yield from (f"card:{prefix}.{n}" for n in itertools.count())


#: What a guard reads of the bureau where its transitions declare no call: nothing (no order is placed).
NO_CALL: Mapping[str, object] = MappingProxyType({})

#: After this many orders in a row without an answer, a run or a sync stops ordering (the bureau is down).
BUREAU_DOWN_AFTER = 3


def fire(
    context: FireContext,
    work: Work,
    card: Row,
    holder: Row,
    trigger: str,
    *,
    process: str,
    batch: Batch,
    reason: str | None = None,
    earlier_orders: int = 0,
    stored: bool = True,
) -> Decision:
    """Fire `trigger` on `card` and gather the rows it causes; the card dict gets its new state.

    `stored` says the card is already in the store (its state change is an update); a new card's
    row is written by the caller with the state reached. `earlier_orders` is how many orders of the
    card the bureau answered before: an order placed now is the next one, under its own key.
    """
    if work.fired:  # a `fire` moved cards in this unit of work: this one may be among them
        _as_fired(work, card)
    decision, answer = context.compiled.settled(trigger, card["state"]), None
    if decision is None:  # the card's values matter: fire with the card in scope
        try:
            asked = invoking.asked_first(context, card, holder, trigger, earlier_orders)
            decision, answer = _fire_in_scope(context, card, holder, trigger, batch, earlier_orders, answer=asked)
        except BureauUnavailable as unavailable:
            if unavailable.pending:
                _refuse_before_the_call(context, work, card, holder, trigger, batch, reason, earlier_orders)
            raise
        if decision.transition is None:
            return decision
    firing = firing_of(context, work, card, holder, reason, batch, trigger) if decision.effects else None
    if firing is not None:
        _refuse(trigger, decision, firing)
    answered = None
    if answer is not None and answer.answer is not None:
        answered = invoking.answered(work, card, answer.answer, answer.made, context, earlier_orders)
    take(context, work, card, decision, firing, answered, process=process, batch=batch, reason=reason, stored=stored)
    return decision


def take(
    context: FireContext,
    work: Work,
    card: Row,
    decision: Decision,
    firing: Firing | None,
    answered: tuple[str, Row] | None,
    *,
    process: str,
    batch: Batch,
    reason: str | None,
    stored: bool,
) -> None:
    """Gather the rows of `decision` taken on `card`: its trace, its audit row (a tuple of
    TRANSITION_COLUMNS, `Work.audit`), the card's move and the rows of its effects (fired by `firing`,
    made before the move); `answered`: what the trace keeps of the answer of the call made
    (`invoking.answered`)."""
    identity = record_decision(context.compiled, work, decision, answered)
    work.audit().append(
        (card["id"], process, decision.trigger, card["state"], decision.dest, context.actor["id"], context.at,
         batch.get("id"), context.fingerprint, identity, reason, None)  # `fields`: those a `set` effect gives
    )  # fmt: skip
    move(context, work, card, decision.dest, stored)
    if firing is not None:
        for effect in decision.effects:
            effects.kind(effect).fire(effect, firing)


def _as_fired(work: Work, card: Row) -> None:
    """Bring a card read before this unit of work fired on it to the state the fire left it in."""
    moved = work.fired.get(card["id"])
    if moved is not None and moved is not card:
        card.update(moved)


def move(context: FireContext, work: Work, card: Row, dest: str | None, stored: bool) -> None:
    """The card dict takes its new state (and a stored card's change is gathered for `flush`)."""
    was_open, source, key, requested_by = card["open"], card["state"], card.get("open_key"), card.get("requested_by")
    reopened = not was_open
    card["state"] = dest
    card["open"] = dest not in context.compiled.process.finals
    card["updated_at"] = context.at
    if dest != source:  # who moved the card into its state made the request it now waits on
        card["requested_by"] = context.actor["id"]
    if not card["open"]:
        card["open_key"] = None
    elif reopened:
        card["open_key"] = context.compiled.open_key(card["user_id"])
    if stored:
        as_it_was = card["open"] == was_open and card.get("open_key") == key
        change = {
            "id": card["id"],
            "process": card["process"],
            "fields": card.get("fields"),  # the card fields a timer `at` one reads (as it entered the state)
            "was": source,
            "state": card["state"],
            "open": card["open"],
            "open_key": card.get("open_key"),
            "requested_by": card["requested_by"],
            "updated_at": context.at,
            "stayed": dest == source and as_it_was,
            "narrow": dest != source and as_it_was and card["requested_by"] == requested_by,  # the state alone moves
        }
        work.changes.append(change)


def _refuse_loop(chain: tuple[tuple[int, str], ...], card: Row, trigger: str) -> None:
    """Refused when a chain of fires reaches a card already in it, or grows too long."""
    if card["id"] not in {card_id for card_id, _ in chain} and len(chain) <= MAX_DEPTH:
        return
    steps = " -> ".join(f"{fired} on card {card_id}" for card_id, fired in (*chain, (card["id"], trigger)))
    first, fired = chain[0]
    problem = f"fire would reach card {card['id']} again" if len(chain) <= MAX_DEPTH else f"fires go more than {MAX_DEPTH} deep"
    raise Refused(f"{fired} refused, nothing changed: card {first}: {problem} ({steps})")


def firing_of(context: FireContext, work: Work, card: Row, holder: Row, reason: str | None, batch: Batch, trigger: str) -> Firing:
    """The firing of a transition's effects, made before the card moves: its requester is who made
    the request the transition decides (who moved the card into the state it leaves, else its creator)."""
    return Firing(context, work, card, holder, reason, batch, trigger, card.get("requested_by") or card["requester"])


def _refuse_before_the_call(
    context: FireContext, work: Work, card: Row, holder: Row, trigger: str, batch: Batch, reason: str | None, earlier_orders: int
) -> None:
    """Refused, and no call recorded, when the firing would be refused whatever the call's answer: by its
    effects, or by the store (a closed card reopened while its holder has another open card of its group).
    Where neither can happen (an open card, no effect that refuses) the guards are not weighed again."""
    key = None if card["open"] else context.compiled.open_key(card["user_id"])
    group = context.compiled.candidates.get((trigger, card["state"]), ())
    if key is None and not may_refuse(effect for candidate in group for effect, _ in candidate.effects):
        return
    try:
        for accepted in (True, False):
            answered = OrderAnswer(accepted, "sample" if accepted else None, None if accepted else "sample")
            supposed, _ = _fire_in_scope(context, card, holder, trigger, batch, earlier_orders, answered)
            if supposed.effects:
                _refuse(trigger, supposed, firing_of(context, work, card, holder, reason, batch, trigger))
            reopens = supposed.dest is not None and supposed.dest not in context.compiled.process.finals
            if key and reopens and context.connection is not None and open_cards.with_key(context.connection, key):
                why = refused_move(context.connection, cast(Workspace, context.workspace), context.compiled, card)
                raise Refused(f"{trigger} refused, nothing changed: {why}")
    except Refused:
        forget = getattr(context.connector, "forget", None)  # an outbox (engine.batch.calls) drops the call recorded
        if forget is not None:
            forget()
        raise


def _fire_in_scope(
    context: FireContext,
    card: Row,
    holder: Row,
    trigger: str,
    batch: Batch,
    earlier_orders: int,
    supposed: OrderAnswer | None = None,
    answer: LazyAnswer | None = None,
) -> tuple[Decision, LazyAnswer]:
    """Fire with the card, its holder and the answer of the call its transitions declare in scope (the
    `answer` asked already, if it was); the call is made where the transition taken declares it,
    whatever its guard read (a `supposed` answer: none is made)."""
    call = context.compiled.call_of(trigger, card["state"])
    if answer is None:
        answer = invoking.answer_of(context, card, holder, call, trigger, earlier_orders, supposed)
    decision = context.compiled.fire(trigger, card["state"], scope_of(context, card, holder, batch, call, answer))
    if decision.transition is not None and decision.transition.invoke is not None:
        answer.place()
    return decision, answer


def scope_of(context: FireContext, card: Row, holder: Row, batch: Batch, call: str | None, answer: object) -> Row:
    """What the rules of a firing on `card` read: the card, its holder, the options, the batch, who
    acts, the time, and the answer of the step's `call` under its connector's name."""
    scope: Row = {
        "user": holder,
        "card": card_view(card),
        "options": context.compiled.option_values,
        "batch": batch,
        "actor": context.actor,
        "now": context.at,
        BUREAU: NO_CALL,
    }
    if call:
        scope[connector_of(call)] = answer
    return scope


def may_refuse(found: Iterable[Effect]) -> bool:
    """Whether any of these effects can refuse a firing (its kind has a `refusal`)."""
    return any(effects.kind(effect).refusal is not None for effect in found)


def _refuse(trigger: str, decision: Decision, firing: Firing) -> None:
    """Refused when an effect cannot be done (a card field's value of the wrong type); nothing of the
    card is written yet (an order the bureau took is asked again, under the same key)."""
    refusals = []
    for effect in decision.effects:
        refusal = effects.kind(effect).refusal
        found = refusal(effect, firing) if refusal is not None else None
        if found:
            refusals.append(found)
    if refusals:
        card = firing.card
        raise Refused(f"{trigger} refused, nothing changed: card {card['id']} ({card['state']}): {'; '.join(refusals)}")


def record_decision(compiled: CompiledProcess, work: Work, decision: Decision, answered: tuple[str, Row] | None) -> str:
    """The id of the decision's trace, stored once per unit of work (equal traces are one row);
    `answered`: where the trace keeps the answer of the call made (`bureau`, `call`), and what it keeps."""
    key = (decision.key, (answered[0], tuple(answered[1].items())) if answered else None)  # one code path builds each view
    cached = compiled.records.get(key)
    if cached is None:
        trace: Row = {"trigger": decision.trigger, "source": decision.source, "candidates": decision.trace}
        if answered:
            trace[answered[0]] = answered[1]
        text = dumps(trace)
        cached = compiled.records[key] = (queries.decision_id_of(text), text, trace)
    identity, text, work.last_trace = cached
    if identity not in work.decision_ids:
        work.decision_ids.add(identity)
        work.rows["decisions"].append({"id": identity, "trace": text})
    return identity
