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
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from engine.batch.effects import BUREAU_DOWN_AFTER
from engine.clock import now
from engine.definitions.calls import BUREAU, ORDER
from engine.outbound.bureau import Connector, OrderAnswer, OrderRequest, StatusAnswer, StatusRequest
from engine.store import calls, queries
from engine.store.queries import Row

#: Why a card still waits after its second firing: a call made then is sent by `cardflow calls send`.
WAITS = "the card waits for the answer of a call; `cardflow calls send` (or the workers) sends it"

#: What a call not sent yet answers to the guards that read it (they are read again once it is sent).
PENDING = "sent once this change commits"


class Outbox:
    """A connector that records each order instead of placing it, until `send` has its answer."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.name = connector.name
        self.answers: dict[str, OrderAnswer] = {}
        self.recorded: list[OrderRequest] = []  # since the last `unwritten`
        self.written: list[OrderRequest] = []  # those with their rows made (`pending_calls`), until `take`

    def order(self, request: OrderRequest) -> OrderAnswer:
        answer = self.answers.get(request.key)
        if answer is not None:
            return answer
        self.recorded.append(request)
        return OrderAnswer(False, message=PENDING, transient=True, pending=True)

    def status(self, request: StatusRequest) -> StatusAnswer:
        return self.connector.status(request)

    def unwritten(self) -> list[OrderRequest]:
        """The orders recorded since the last call, whose rows are to be written."""
        found, self.recorded = self.recorded, []
        self.written += found
        return found

    def forget(self) -> None:
        """Drop the orders recorded for a firing that was refused: no row, no call."""
        self.recorded = []

    def leave_the_rest(self) -> None:
        """Send nothing more now: a call written by a second firing (a `fire` effect's) waits for
        `cardflow calls send` (or the workers)."""
        self.take()

    def take(self) -> list[OrderRequest]:
        """The orders written since the last `take`, to be sent (each once: a guard read twice records it twice)."""
        taken = list({request.key: request for request in self.written}.values())
        self.recorded, self.written = [], []
        return taken


def outbox_of(connector: Connector) -> Outbox:
    """`connector` behind an outbox (itself when it is one)."""
    return connector if isinstance(connector, Outbox) else Outbox(connector)


@dataclass(frozen=True)
class Origin:
    """What a call finishes once answered: `trigger` fired on `card` from `source` by `actor`, as `process`."""

    card: int
    process: str
    trigger: str
    source: str
    actor: str
    batch_id: str | None
    reason: str | None = None


def pending_calls(outbox: Connector, origin: Origin, at: str) -> list[Row]:
    """The rows of the calls the firing at `origin` recorded (written in its transaction), each pending from `at`."""
    if not isinstance(outbox, Outbox):
        return []
    return [
        {
            "idempotency_key": request.key,
            "card_id": origin.card,
            "connector": BUREAU,
            "operation": ORDER,
            "payload": json.dumps(vars(request), ensure_ascii=False, default=str),  # not asdict: no deep copy
            "process": origin.process,
            "trigger": origin.trigger,
            "source": origin.source,
            "actor": origin.actor,
            "batch_id": origin.batch_id,
            "reason": origin.reason,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for request in {r.key: r for r in outbox.unwritten()}.values()
    ]


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


def send(engine: Engine, outbox: Outbox, requests: Sequence[OrderRequest], at: str) -> Sent:
    """Make each call once (its row committed before); after BUREAU_DOWN_AFTER unanswered in a row the
    rest wait for their next attempt, unsent. Each attempt without an answer is recorded, with its back-off."""
    sent = Sent()
    misses = 0
    for request in requests:
        if misses >= BUREAU_DOWN_AFTER:
            sent.stopped = sent.stopped or f"the card bureau did not answer {misses} orders in a row"
            sent.unanswered[request.key] = sent.cards[request.card] = f"not sent: {sent.stopped}"
            sent.unsent.add(request.key)
            continue
        answer = outbox.connector.order(request)
        if answer.transient:
            misses += 1
            sent.unanswered[request.key] = sent.cards[request.card] = answer.message or "the bureau did not answer"
            continue
        misses = 0
        outbox.answers[request.key] = answer
        sent.answered.append(request.key)
    tried = [request for request in requests if request.key in sent.unanswered and request.key not in sent.unsent]
    if tried:
        with engine.begin() as connection:
            calls.retry_later(connection, {request.key: sent.unanswered[request.key] for request in tried}, at)
            attempts = [
                {"card_id": r.card, "idempotency_key": r.key, "connector": outbox.name, "at": at, "error": sent.unanswered[r.key]}
                for r in tried
            ]
            queries.write_rows(connection, {"bureau_attempts": attempts})
    return sent


def request_of(row: Row) -> OrderRequest:
    """The order a stored call sends: exactly what was committed with it."""
    return OrderRequest(**json.loads(row["payload"]))
