"""The call a transition declares (`invoke: CONNECTOR.OPERATION`), as the firing sees it: the answer
its guards read under the connector's name, made once when a guard reads it or the transition is
taken, and the rows its answer leaves. The card's order at the bureau (`bureau.order`) goes through
the bureau's connector and leaves an order row; any other call goes to its declared connector
(engine.outbound.callers) and leaves its row of the `calls` table answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Connection

from engine.batch.chunk_reads import ChunkReads
from engine.batch.orders import UNSENT, answer_view, holder_sent, order_key, order_request
from engine.definitions.calls import connector_of, is_order
from engine.definitions.compile import CompiledProcess
from engine.definitions.model import Workspace
from engine.outbound.bureau import Connector, LazyAnswer, OrderAnswer, Simulated
from engine.outbound.calls import Call, CallAnswer
from engine.store import calls
from engine.store.queries import Row
from engine.store.views import card_view


class Calling(Protocol):
    """What making a call needs of a firing's context (engine.batch.effects.FireContext)."""

    compiled: CompiledProcess
    connector: Connector
    workspace: Workspace | None
    connection: Connection | None
    reads: ChunkReads | None
    at: str


#: The columns of an order's row as a unit of work gathers it (`Work.gathered`).
ORDER_COLUMNS = ("card_id", "idempotency_key", "connector", "accepted", "order_id", "message", "at")


class Answered(Protocol):
    """Where a unit of work gathers its rows (engine.batch.effects.Work)."""

    rows: Any
    answered_calls: list[calls.Answer]

    def gathered(self, table: str, columns: tuple[str, ...]) -> list[tuple[object, ...]]: ...


def answer_of(
    context: Calling,
    card: Row,
    holder: Row,
    call: str | None,
    trigger: str,
    earlier_orders: int,
    supposed: OrderAnswer | None = None,
) -> LazyAnswer:
    """The answer of `call` made for `card` (a `supposed` answer: none is made), as its guards read it."""
    if call is None or is_order(call):
        return LazyAnswer(lambda: supposed or _order(context, card, holder, call, earlier_orders))
    made = call_made(context, card, holder, call, trigger)
    answer = LazyAnswer(lambda: supposed or _make(context, made))
    answer.made = made
    return answer


def deciding_call(compiled: CompiledProcess, trigger: str, state: str) -> str | None:
    """The call `trigger` from `state` declares when its answer decides every guard of the step (the
    answer is then asked before the machine runs), else None."""
    call = compiled.call_of(trigger, state)
    return call if call is not None and compiled.decided_by(trigger, state) == connector_of(call) else None


def asked_first(context: Calling, card: Row, holder: Row, trigger: str, earlier_orders: int) -> LazyAnswer | None:
    """Where the answer of the step's call decides every guard, the answer, asked before the machine
    runs (its first guard would ask it): a call not answered yet is recorded without building a scope."""
    call = deciding_call(context.compiled, trigger, card["state"])
    if call is None:
        return None
    answer = answer_of(context, card, holder, call, trigger, earlier_orders)
    answer.place()  # BureauUnavailable while it waits
    return answer


def _order(context: Calling, card: Row, holder: Row, call: str | None, earlier_orders: int) -> OrderAnswer:
    """The answer of the card's order: the outbox's, once it was sent (its request is not drawn up
    again: it copies the holder), else the connector's."""
    answered: OrderAnswer | None = getattr(context.connector, "answers", {}).get(order_key(card, earlier_orders))
    if answered is not None:
        return answered
    return context.connector.order(order_request(card, holder, earlier_orders, holder_sent(context.workspace, call)))


def call_made(context: Calling, card: Row, holder: Row, call: str, trigger: str) -> Call:
    """The call of `card` with what its operation sends: its key is new for each call made and kept
    for every attempt at one (the calls of the card to the operation answered or cancelled before count)."""
    name, _, operation = call.partition(".")
    if context.reads is not None:
        earlier = context.reads.earlier_calls(card["id"], name, operation)
    else:
        earlier = calls.made_before(context.connection, card["id"], name, operation) if context.connection is not None else 0
    key = f"{name}%{operation}%card{card['id']}.{earlier + 1}"  # `%` then a letter: never an order's key
    if key in getattr(context.connector, "answers", ()):  # sent and answered (an outbox's): its data is in its row
        return Call(name, operation, key, {}, card["id"])
    declared = context.workspace.connectors.get(name) if context.workspace is not None else None
    sends = declared.operations[operation].sends if declared is not None and operation in declared.operations else None
    view = context.reads.view(card) if context.reads is not None else card_view(card)
    people = {k: v for k, v in holder.items() if k not in UNSENT}
    payload = {
        "process": card["process"],
        "trigger": trigger,
        "card": view if sends is None or "card" not in sends else {k: view.get(k) for k in sends["card"]},
        "holder": people if sends is None or "holder" not in sends else {k: people.get(k) for k in sends["holder"]},
    }
    return Call(name, operation, key, payload, card["id"])


def _make(context: Calling, made: Call) -> OrderAnswer:
    """Record `made` on the outbox (sent once the firing commits); without one (a plan), ask the
    simulated bureau, else suppose it accepted: a firing that writes nothing calls nobody."""
    record: Callable[..., OrderAnswer] | None = getattr(context.connector, "record_call", None)
    declared = context.workspace.connectors.get(made.connector) if context.workspace is not None else None
    if record is not None and declared is not None:
        return record(made, declared)
    if isinstance(context.connector, Simulated):
        return as_order_answer(context.connector.call(made))
    return OrderAnswer(True, message="supposed accepted: nothing is sent")


def answered(
    work: Answered, card: Row, got: OrderAnswer, made: Call | None, context: Calling, earlier_orders: int
) -> tuple[str, Row]:
    """Gather the rows the answer `got` of the call leaves (`made`: a call of another connector than the
    bureau's order; marked answered, and an order's row), and return where the decision trace keeps it
    with what it keeps (`bureau`: an order's answer; `call`: another's)."""
    outcome = "accepted" if got.accepted else "refused"
    key = made.key if made is not None else order_key(card, earlier_orders)
    work.answered_calls.append(calls.Answer(key, card["id"], outcome, got.order_id, got.message, context.at))
    if made is not None:
        view = {"connector": made.connector, "operation": made.operation, "accepted": got.accepted, "message": got.message}
        return "call", view
    work.gathered("orders", ORDER_COLUMNS).append(
        (card["id"], key, context.connector.name, got.accepted, got.order_id, got.message, context.at)
    )
    return "bureau", answer_view(got, context.connector.name)


def as_order_answer(answer: CallAnswer) -> OrderAnswer:
    """A call's answer as the guards read it (the same as an order's: `reference` is its `order_id`)."""
    unavailable = answer.outcome == "unavailable"
    return OrderAnswer(answer.accepted, order_id=answer.reference, message=answer.message, transient=unavailable)
