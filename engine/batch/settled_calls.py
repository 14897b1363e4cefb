"""New cards whose start waits on the answer of their order, settled: a first firing that only records
the order, and a second one whose decision the answer settles.

Where the answer of the creating step's order decides every guard of the step
(`CompiledProcess.decided_by`) and none of its effects can refuse, firing the creating trigger on a
new card through an outbox does one thing only: it records the card's order, and the card stays in
its initial state (engine.batch.calls). `SettledOrders` writes that card and its pending call as
tuples, without firing.

Once the orders are answered, the machine's decision for the first card whose answer reads a value is
kept (`CompiledProcess.kept_for`), and `SettledAnswers` gives it to every further card whose answer
reads the same, without a scope or the machine: the rows are the ones `engine.batch.effects.fire`
gathers (the order's row, the decision and audit rows, the move, and the effects, each fired by its
kind as there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter

from sqlalchemy import Connection

from engine.batch import invoking
from engine.batch.calls import CALL_COLUMNS, Outbox, payload_of
from engine.batch.effects import FireContext, Work, firing_of, may_refuse, take
from engine.batch.orders import bureau_refusal, first_order_keys, holder_data, holder_sent, order_key
from engine.batch.prepared import Batch
from engine.batch.results import PENDING, UserResult
from engine.batch.settled import CARD_COLUMNS
from engine.definitions.calls import BUREAU, ORDER, is_order
from engine.definitions.compile import Decision
from engine.outbound.bureau import OrderAnswer, OrderRequest, answer_fields
from engine.store import batch_cards
from engine.store.queries import Row

_CARD_ROW = itemgetter(*CARD_COLUMNS)
_MADE = itemgetter(*(CARD_COLUMNS.index(name) for name in ("id", "user_id", "open_key")))  # what differs card to card


def _deciding_order(context: FireContext, trigger: str, state: str) -> str | None:
    """The order `trigger` from `state` declares when its answer decides every guard of the step, else None."""
    call = invoking.deciding_call(context.compiled, trigger, state)
    return call if call is not None and is_order(call) else None


@dataclass
class SettledOrders:
    """The first firing of new cards whose order's answer decides their start: each card in its
    initial state with its order recorded on the outbox and its pending call row."""

    outbox: Outbox
    blank: Row
    sent: tuple[str, ...] | None  # the holder's attributes the order sends (None: all)
    call: tuple[object, ...]  # a call row's parts after its payload
    open_key: Callable[[str], str | None]  # a new card's key of its exclusivity group (CompiledProcess.open_key)
    cards: list[tuple[object, ...]]
    calls: list[tuple[object, ...]]

    def add(self, holder: Row, card_id: int) -> UserResult | None:
        """The rows of new card `card_id` for `holder`, waiting on its order; None when an answer of
        its order's key is in already (the card is fired as usual)."""
        user = holder["id"]
        request = OrderRequest(self.key_of(user), card_id, *self.ordered, holder_data(holder, self.sent))
        if request.key in self.outbox.answers:
            return None
        self.outbox.written.append(request)
        self.cards.append((card_id, user, *self.card_middle, self.open_key(user), *self.card_tail))
        self.calls.append((request.key, card_id, BUREAU, ORDER, payload_of(request), *self.call))
        return UserResult(user, card_id, self.blank["state"], PENDING)

    def as_stored(self, connection: Connection, holders: list[str]) -> dict[str, Row] | None:
        """The cards added, by holder, as the store gives them back, when `holders` (a page of the
        users table, in its order) are their holders and the store holds every one as it was written
        (one count: nothing changed them since); else None, and the caller reads them."""
        if len(holders) != len(self.cards) or not holders:
            return None
        count, same = batch_cards.as_made(connection, str(self.blank["batch_id"]), holders[0], holders[-1], self.blank)
        if not count == same == len(holders):
            return None
        stored = {**self.blank, "timerless": False}
        found: dict[str, Row] = {}
        for row in self.cards:
            card = stored.copy()
            card["id"], card["user_id"], card["open_key"] = made = _MADE(row)
            found[str(made[1])] = card
        return found if found.keys() == set(holders) else None

    @cached_property
    def ordered(self) -> tuple[str, str, str | None]:
        """What an order sends of a new card after its id (`order_request`): process, batch and production type."""
        blank = self.blank
        return str(blank["process"]), str(blank["batch_id"]), blank["production_type"]

    @cached_property
    def key_of(self) -> Callable[[str], str]:
        """The key of a new card's order, by its holder (`order_key`)."""
        return first_order_keys(str(self.blank["batch_id"]))

    @cached_property
    def card_middle(self) -> tuple[object, ...]:
        """A new card's row (CARD_COLUMNS) between its holder and its exclusivity key."""
        return tuple(_CARD_ROW(self.blank)[2 : CARD_COLUMNS.index("open_key")])

    @cached_property
    def card_tail(self) -> tuple[object, ...]:
        """A new card's row (CARD_COLUMNS) after its exclusivity key."""
        return tuple(_CARD_ROW(self.blank)[CARD_COLUMNS.index("open_key") + 1 :])


def settled_orders(context: FireContext, work: Work, batch: Batch, blank: Row) -> SettledOrders | None:
    """The settled first firing of new cards like `blank` (without id or holder), else None."""
    outbox, trigger, state = context.connector, batch.creates, str(blank["state"])
    order = _deciding_order(context, trigger, state)
    if not isinstance(outbox, Outbox) or order is None:
        return None
    group = context.compiled.candidates.get((trigger, state), ())
    if may_refuse(effect for candidate in group for effect, _ in candidate.effects):
        return None  # a firing that may be refused is weighed before its call is recorded
    at = context.at
    call = (blank["process"], trigger, state, context.actor["id"], blank["batch_id"], None, "pending", 0, at, at)
    return SettledOrders(
        outbox,
        blank,
        holder_sent(context.workspace, order),
        call,
        context.compiled.open_key,
        work.gathered("cards", CARD_COLUMNS),
        work.gathered("calls", CALL_COLUMNS),
    )


@dataclass
class SettledAnswers:
    """The second firing of a batch's new cards whose order is answered: the decision kept for an answer
    that reads the same, given without the machine."""

    context: FireContext
    work: Work
    batch: Batch
    answers: dict[str, OrderAnswer]
    #: whether the effects of a decision given may refuse, by the decision's id (held: the id is not reused)
    refusing: dict[int, tuple[Decision, bool]] = field(default_factory=dict)

    def fire(self, holder: Row, card: Row) -> UserResult | None:
        """Fire the creating trigger on stored `card`, in its initial state with its order answered;
        None when the decision is not settled for its answer (the card is fired as usual)."""
        context, work, batch = self.context, self.work, self.batch
        got = self.answers.get(order_key(card, 0))
        if work.fired or got is None or got.transient:
            return None
        decision = context.compiled.kept_for(batch.creates, card["state"], answer_fields(got))
        if decision is None or decision.transition is None or self._may_refuse(decision):
            return None
        firing = firing_of(context, work, card, holder, None, batch.view, batch.creates) if decision.effects else None
        answered = invoking.answered(work, card, got, None, context, 0)
        name = batch.process.symbolic_name
        take(
            context, work, card, decision, firing, answered,
            process=name, batch=batch.view, reason=None, stored=True,
        )  # fmt: skip
        return UserResult(holder["id"], card["id"], card["state"], "created", bureau_refusal(work), order=got.accepted)

    def _may_refuse(self, decision: Decision) -> bool:
        """`may_refuse` of the decision's effects, weighed once for each decision given (most cards get one of a few)."""
        known = self.refusing.get(id(decision))
        if known is None or known[0] is not decision:
            known = self.refusing[id(decision)] = (decision, may_refuse(decision.effects))
        return known[1]


def settled_answers(context: FireContext, work: Work, batch: Batch) -> SettledAnswers | None:
    """The settled second firing of the batch's new cards, else None."""
    outbox = context.connector
    if not isinstance(outbox, Outbox) or _deciding_order(context, batch.creates, batch.process.initial) is None:
        return None
    return SettledAnswers(context, work, batch, outbox.answers)
