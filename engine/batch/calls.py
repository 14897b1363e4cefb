"""External calls are made only for state changes that have committed: the transactional outbox.

Firing a trigger whose transition declares `invoke` calls nobody. Through an `Outbox`, the call is
recorded and answered "pending": the card keeps its state, and the caller writes the call as a row
of the `calls` table (`pending_calls`) in the transaction of the unit of work. Once that commits,
`send` makes each call under its idempotency key and keeps each answer on the `Outbox`; the caller
then fires the trigger again in a new transaction, where the guards read the answer, the card moves
and the call is marked answered with the move. A call the other side does not answer stays pending,
tried again with back-off (`cardflow calls send`, or the workers' `calls` job: engine.batch.calls_due).
A crash between the commit and the send loses nothing: the row is there, and it is sent then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Engine

from engine import json_text
from engine.batch.effects import BUREAU_DOWN_AFTER
from engine.batch.invoking import as_order_answer
from engine.clock import now
from engine.definitions import declared
from engine.definitions.calls import BUREAU, ORDER
from engine.outbound.bureau import Connector, OrderAnswer, OrderRequest, Simulated, StatusAnswer, StatusRequest
from engine.outbound.callers import Caller, caller_of
from engine.outbound.calls import Call, CallAnswer
from engine.store import calls, queries
from engine.store.queries import Row

#: Why a card still waits after its second firing: a call made then is sent by `cardflow calls send`.
WAITS = "the card waits for the answer of a call; `cardflow calls send` (or the workers) sends it"

#: What a call not sent yet answers to the guards that read it (they are read again once it is sent).
PENDING = "sent once this change commits"
#: What a call recorded on the outbox answers until it is sent (one for all: an answer never changes).
_WAITING = OrderAnswer(False, message=PENDING, transient=True, pending=True)


#: A call the outbox keeps: the card's order at the bureau, or a call of another connector.
Made = OrderRequest | Call


class Outbox:
    """A connector that records each order, and each call of another connector, instead of making it,
    until `send` has its answer. `connectors`: the workspace's declared connectors (those calls go to)."""

    def __init__(self, connector: Connector, connectors: Mapping[str, declared.Connector] | None = None) -> None:
        self.connector = connector
        self.name = connector.name
        self.connectors = dict(connectors or {})
        self.callers: dict[str, Caller] = {}
        self.answers: dict[str, OrderAnswer] = {}
        self.recorded: list[Made] = []  # since the last `unwritten`
        self.written: list[Made] = []  # those with their rows made (`pending_calls`), until `take`

    def order(self, request: OrderRequest) -> OrderAnswer:
        return self._record(request)

    def record_call(self, call: Call, connector: declared.Connector) -> OrderAnswer:
        """Record a call of `connector` (answered from `answers` once sent)."""
        self.connectors.setdefault(connector.name, connector)
        return self._record(call)

    def _record(self, made: Made) -> OrderAnswer:
        answer = self.answers.get(made.key)
        if answer is not None:
            return answer
        self.recorded.append(made)
        return _WAITING

    def caller(self, name: str) -> Caller | None:
        """The connector `name` calls go to (made once, with its settings from the environment); None
        when the workspace no longer declares it."""
        if name not in self.callers and name in self.connectors:
            self.callers[name] = caller_of(self.connectors[name])
        return self.callers.get(name)

    def status(self, request: StatusRequest) -> StatusAnswer:
        return self.connector.status(request)

    def unwritten(self) -> list[Made]:
        """The orders recorded since the last call, whose rows are to be written."""
        found, self.recorded = self.recorded, []
        self.written += found
        return found

    def forget(self) -> None:
        """Drop the orders recorded for a firing that was refused: no row, no call."""
        self.recorded = []

    def leave_the_rest(self) -> None:
        """Send nothing more now: a call written by a second firing (a `fire` effect's) waits for
        `cardflow calls send` (or the workers). The answers sent for the second firing are let go (an
        outbox lives as long as a run: over a million cards it kept a million answers)."""
        self.take()
        self.answers.clear()

    def take(self) -> list[Made]:
        """The orders written since the last `take`, to be sent (each once: a guard read twice records it twice)."""
        taken = list({request.key: request for request in self.written}.values())
        self.recorded, self.written = [], []
        return taken


def outbox_of(connector: Connector) -> Outbox:
    """`connector` behind an outbox (itself when it is one)."""
    return connector if isinstance(connector, Outbox) else Outbox(connector)


class Origin(NamedTuple):
    """What a call finishes once answered: `trigger` fired on `card` from `source` by `actor`, as `process`."""

    card: int
    process: str
    trigger: str
    source: str
    actor: str
    batch_id: str | None
    reason: str | None = None


#: The columns of a pending call's row as a unit of work gathers it (`pending_call_rows`).
CALL_COLUMNS = (
    "idempotency_key", "card_id", "connector", "operation", "payload", "process", "trigger", "source", "actor",
    "batch_id", "reason", "status", "attempts", "next_attempt_at", "created_at",
)  # fmt: skip


def pending_calls(outbox: Connector, origin: Origin, at: str) -> list[Row]:
    """The rows of the calls the firing at `origin` recorded (written in its transaction), each pending from `at`."""
    return [dict(zip(CALL_COLUMNS, row, strict=True)) for row in pending_call_rows(outbox, origin, at)]


def pending_call_rows(outbox: Connector, origin: Origin, at: str) -> list[tuple[object, ...]]:
    """`pending_calls` as tuples of CALL_COLUMNS."""
    if not isinstance(outbox, Outbox):
        return []
    return [
        (request.key, origin.card, BUREAU if isinstance(request, OrderRequest) else request.connector,
         ORDER if isinstance(request, OrderRequest) else request.operation, payload_of(request), origin.process,
         origin.trigger, origin.source, origin.actor, origin.batch_id, origin.reason, "pending", 0, at, at)
        for request in {r.key: r for r in outbox.unwritten()}.values()
    ]  # fmt: skip


@dataclass
class Sent:
    """What `send` got: the keys answered (their answers are on the outbox); the keys the other side did
    not answer, or that were not sent because it had stopped answering (`unsent`), with what went wrong,
    and the same by card; why sending stopped early, if it did."""

    answered: list[str] = field(default_factory=list)
    unanswered: dict[str, str] = field(default_factory=dict)
    unsent: set[str] = field(default_factory=set)
    cards: dict[int, str] = field(default_factory=dict)
    stopped: str | None = None


def send_written(engine: Engine, outbox: Outbox) -> Sent:
    """Send the calls written since the last `take` (their rows committed), now."""
    return send(engine, outbox, outbox.take(), now())


def send(engine: Engine, outbox: Outbox, requests: Sequence[Made], at: str) -> Sent:
    """Make each call once (its row committed before); after BUREAU_DOWN_AFTER unanswered in a row by
    one connector, the rest of its calls wait for their next attempt, unsent. Each attempt without an
    answer is recorded, with its back-off."""
    sent = Sent()
    misses: dict[str, int] = {}
    for request in requests:
        name = BUREAU if isinstance(request, OrderRequest) else request.connector
        card = request.card or 0
        if misses.get(name, 0) >= BUREAU_DOWN_AFTER:
            why = f"the card bureau did not answer {misses[name]} orders in a row"
            if name != BUREAU:
                why = f"the connector {name} did not answer {misses[name]} calls in a row"
            sent.stopped = sent.stopped or why
            sent.unanswered[request.key] = sent.cards[card] = f"not sent: {why}"
            sent.unsent.add(request.key)
            continue
        answer = _make(outbox, request)
        if answer.transient:
            misses[name] = misses.get(name, 0) + 1
            sent.unanswered[request.key] = sent.cards[card] = answer.message or f"{name} did not answer"
            continue
        misses[name] = 0
        outbox.answers[request.key] = answer
        sent.answered.append(request.key)
    tried = [request for request in requests if request.key in sent.unanswered and request.key not in sent.unsent]
    if tried:
        with engine.begin() as connection:
            calls.retry_later(connection, {request.key: sent.unanswered[request.key] for request in tried}, at)
            attempts = [
                {"card_id": r.card, "idempotency_key": r.key, "connector": outbox.name, "at": at, "error": sent.unanswered[r.key]}
                for r in tried
                if isinstance(r, OrderRequest)
            ]
            queries.write_rows(connection, {"bureau_attempts": attempts})
    return sent


def _make(outbox: Outbox, request: Made) -> OrderAnswer:
    """Make one call: an order through the bureau's connector, any other through its own (all of
    them through a simulated bureau: it simulates every call)."""
    if isinstance(request, OrderRequest):
        return outbox.connector.order(request)
    simulated: Caller | None = outbox.connector if isinstance(outbox.connector, Simulated) else None
    caller = simulated or outbox.caller(request.connector)
    if caller is None:
        return as_order_answer(CallAnswer("unavailable", message=f"connectors.yaml declares no connector {request.connector}"))
    return as_order_answer(caller.call(request))


def payload_of(request: Made) -> str:
    """What a call's row keeps of it: an order whole (not asdict: no deep copy), a call's data."""
    return _PAYLOAD_JSON(vars(request) if isinstance(request, OrderRequest) else request.payload)


_PAYLOAD_JSON = json_text.compact()


def request_of(row: Row) -> Made:
    """The call a stored row makes: exactly what was committed with it."""
    payload = json.loads(row["payload"])
    if (row["connector"], row["operation"]) == (BUREAU, ORDER):
        return OrderRequest(**payload)
    return Call(row["connector"], row["operation"], row["idempotency_key"], payload, row["card_id"])
