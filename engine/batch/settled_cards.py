"""The cards of a run over cards whose trigger waits on a call that decides it, settled: a first firing
that only records the call, and a second one whose decision the answer settles.

Where the answer of the call the step declares decides every guard of the step
(`invoking.deciding_call`, a call of a connector other than the bureau's order) and none of its
effects can refuse, firing the trigger through an outbox does one thing only: it records the call
(engine.batch.calls), and the card keeps its state. `SettledCards.first` records the call and writes
its pending row without firing. Once the calls are answered, the machine's decision for the first
card whose answer reads a value is kept (`CompiledProcess.kept_for`), and `SettledCards.again` gives
it to every further card whose answer reads the same: the rows are the ones
`engine.batch.effects.fire` gathers (the decision and audit rows, the move, the call marked answered,
and the effects, each fired by its kind). Anything else (a `fire` effect that moved cards in the unit
of work, an answer not in yet, a decision not kept yet) is fired as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from engine.batch import invoking
from engine.batch.authorizing import Authorized
from engine.batch.calls import CALL_COLUMNS, Origin, Outbox, pending_call_rows
from engine.batch.chunk_reads import ChunkReads
from engine.batch.effects import FireContext, Work, firing_of, may_refuse, scope_of, take
from engine.batch.orders import bureau_accepted, bureau_refusal
from engine.definitions.calls import is_order
from engine.definitions.compile import CompiledProcess
from engine.definitions.model import Process
from engine.definitions.templates import Templates
from engine.outbound.bureau import Connector, answer_fields
from engine.outbound.calls import Call
from engine.records import Batch
from engine.store.queries import Row
from engine.store.views import batch_view


class Settled(NamedTuple):
    """What a settled firing did: the card moved to `dest` (None: its call waits to be sent), and why
    (the bureau's refusal, else the reason given)."""

    dest: str | None
    reason: str | None = None
    order: bool | None = None


class Run(Protocol):
    """A run over cards (engine.batch.over_cards), as far as its settled firings read it."""

    request: Any
    connector: Connector
    templates: Templates
    actor: Row
    trigger: str
    process: Process
    record: Row
    made: dict[int, Call]


@dataclass
class SettledCards:
    """The settled firings of one chunk's cards by one run: `trigger` fired as `process` by `actor`."""

    connection: Connection
    reads: ChunkReads
    outbox: Outbox
    templates: Templates
    actor: Row
    trigger: str
    process: str
    batch_id: str
    reason: str | None
    made: dict[int, Call]  # the calls the first firings recorded, by card, until their second (the run's `made`)
    contexts: dict[int, FireContext] = field(default_factory=dict)  # by the compiled machine's id
    batches: dict[str, Batch] = field(default_factory=dict)  # the cards' batches, as their rules read them
    calls: dict[tuple[int, str], str | None] = field(default_factory=dict)  # `_deciding_call`, by machine and state

    @classmethod
    def of(cls, run: Run, connection: Connection, reads: ChunkReads) -> SettledCards | None:
        """The settled firings of a chunk's cards by `run`, where its calls go through an outbox (not a plan's)."""
        if run.request.dry_run or not isinstance(run.connector, Outbox):
            return None
        name, batch, reason = run.process.symbolic_name, run.record["id"], run.request.reason
        return cls(connection, reads, run.connector, run.templates, run.actor, run.trigger, name, batch, reason, run.made)

    def first(self, authorized: Authorized, card: Row, work: Work) -> bool:
        """Record the call of `card` and its pending row; False when its firing is not settled (the card is fired as usual)."""
        found = self._made(authorized, card, work)
        if found is None:
            return False
        _, context, made = found
        declared = authorized.workspace.connectors.get(made.connector)
        if made.key in self.outbox.answers or declared is None:
            return False
        self.outbox.record_call(made, declared)
        self.made[card["id"]] = made
        origin = Origin(card["id"], self.process, self.trigger, card["state"], self.actor["id"], self.batch_id, self.reason)
        calls = work.gathered("calls", CALL_COLUMNS, skip_existing="idempotency_key")  # its pending row may be stored
        calls += pending_call_rows(self.outbox, origin, context.at)
        return True

    def again(self, authorized: Authorized, card: Row, work: Work) -> Settled | None:
        """Fire the trigger on `card` with its call answered, by the decision kept for an answer that
        reads the same; None when it is not settled (the card is fired as usual)."""
        found = self._made(authorized, card, work, self.made.pop(card["id"], None))
        if found is None:
            return None
        call, context, made = found
        got = self.outbox.answers.get(made.key)
        if got is None or got.transient:
            return None
        batch, answer = self._batch(card["batch_id"]), answer_fields(got)
        scope = partial(scope_of, context, card, authorized.holder, batch, call, answer)  # where its effects' `when` read it
        decision = authorized.compiled.kept_for(self.trigger, card["state"], answer, scope, card.get("fields"))
        if decision is None or decision.transition is None or decision.dest is None or may_refuse(decision.effects):
            return None
        firing = firing_of(context, work, card, authorized.holder, self.reason, batch, self.trigger) if decision.effects else None
        answered = invoking.answered(work, card, got, made, context, 0)  # the call made: its connector, operation and key
        take(
            context, work, card, decision, firing, answered,
            process=self.process, batch=batch, reason=self.reason, stored=True,
        )  # fmt: skip
        return Settled(decision.dest, bureau_refusal(work) or self.reason, bureau_accepted(work))

    def _made(
        self, authorized: Authorized, card: Row, work: Work, recorded: Call | None = None
    ) -> tuple[str, FireContext, Call] | None:
        """The step's deciding call, the context it is made in and the call as `card` makes it now (the
        one its first firing `recorded`: the same key, not drawn up again); None when the card's firing
        is not settled."""
        call = self._deciding_call(authorized.compiled, card)
        if call is None or work.fired:
            return None
        context = self._context(authorized)
        return call, context, recorded or invoking.call_made(context, card, authorized.holder, call, self.trigger)

    def _deciding_call(self, compiled: CompiledProcess, card: Row) -> str | None:
        """The call of the step when its answer decides every guard and no effect of the step can refuse
        (worked out once a machine and state)."""
        key = (id(compiled), card["state"])
        if key not in self.calls:
            self.calls[key] = self._deciding(compiled, card["state"])
        return self.calls[key]

    def _deciding(self, compiled: CompiledProcess, state: str) -> str | None:
        call = invoking.deciding_call(compiled, self.trigger, state)
        if call is None or is_order(call):
            return None
        group = compiled.candidates.get((self.trigger, state), ())
        return None if may_refuse(effect for candidate in group for effect, _ in candidate.effects) else call

    def _context(self, authorized: Authorized) -> FireContext:
        compiled = authorized.compiled
        if id(compiled) not in self.contexts:
            self.contexts[id(compiled)] = FireContext(
                compiled, self.outbox, self.templates, self.actor, compiled.fingerprint, self.reads.at,
                connection=self.connection, workspace=authorized.workspace, options=authorized.options, reads=self.reads,
            )  # fmt: skip
        return self.contexts[id(compiled)]

    def _batch(self, card_batch: str) -> Batch:
        """The card's batch as its rules read it, named as this run (as `actions._apply` gives it)."""
        if card_batch not in self.batches:
            view = batch_view(self.reads.batch(card_batch) or {"id": card_batch})
            view["id"] = self.batch_id
            self.batches[card_batch] = view
        return self.batches[card_batch]
