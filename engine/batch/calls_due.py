"""The calls still pending (engine.batch.calls): sent again once due, and the firing each one waits
for finished with its answer. What `cardflow calls send` and the workers' `calls` job do: after a
crash between a commit and its send, or after the other side did not answer (with back-off).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from engine.batch.actions import _apply, system_actor
from engine.batch.authorizing import Authorized
from engine.batch.calls import Outbox, request_of, send
from engine.batch.collector import collector_spared
from engine.batch.results import PENDING
from engine.clock import now
from engine.definitions.compile import compile_process
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Workspace
from engine.definitions.options import recorded_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.errors import Refused
from engine.outbound.bureau import Connector
from engine.store import calls, db, queries
from engine.store.queries import Row

#: The latest time there is: `--now` sends every pending call, due or not.
EVERY = "9999-12-31T23:59:59Z"


@dataclass(frozen=True)
class CallResult:
    """What became of one pending call: answered (and the card moved to `to`), still pending, or cancelled."""

    call: int
    card: int
    key: str
    status: str
    outcome: str | None
    to: str | None
    message: str | None

    def as_json(self) -> Row:
        return {
            "call": self.call,
            "card": self.card,
            "key": self.key,
            "status": self.status,
            "outcome": self.outcome,
            "to": self.to,
            "message": self.message,
        }


def send_due(
    workspace: Workspace, engine: Engine, connector: Connector, *, every: bool = False, limit: int | None = None
) -> list[CallResult]:
    """Send each pending call whose next attempt is due (`every`: all of them), then fire again the
    trigger that made it, with its answer; a call whose card has left the state that made it is
    cancelled unsent."""
    at = now()
    with db.reading(engine) as connection:
        due = calls.due(connection, EVERY if every else at, limit)
        states = {card["id"]: card["state"] for card in queries.get_cards(connection, [row["card_id"] for row in due]).values()}
    gone = [row for row in due if states.get(row["card_id"]) != row["source"]]
    live = [row for row in due if states.get(row["card_id"]) == row["source"]]
    results = [
        CallResult(row["id"], row["card_id"], row["idempotency_key"], "cancelled", None, states.get(row["card_id"]), _left(row))
        for row in gone
    ]
    if gone:
        with engine.begin() as connection:
            for row in gone:
                calls.cancel(connection, [row["idempotency_key"]], _left(row), at)
    outbox = Outbox(connector, workspace.connectors)
    sent = send(engine, outbox, [request_of(row) for row in live], at)
    templates = templates_for(workspace.root / TEMPLATES)
    with collector_spared(), render_session():
        for row in live:
            key = row["idempotency_key"]
            if key in sent.unanswered:  # tried without an answer, or not sent: the other side stopped answering
                results.append(
                    CallResult(row["id"], row["card_id"], key, "pending", "unavailable", row["source"], sent.unanswered[key])
                )
                continue
            answer = outbox.answers[key]
            outcome = "accepted" if answer.accepted else "refused"
            with engine.begin() as connection:
                to, problem = _finish(workspace, connection, outbox, row, templates)
                if problem is not None:  # answered, but the card stays: say why on the call
                    calls.answered(connection, [calls.Answer(key, row["card_id"], outcome, answer.order_id, problem, at)])
            results.append(CallResult(row["id"], row["card_id"], key, "answered", outcome, to, problem or answer.message))
    return sorted(results, key=lambda result: result.call)


def _left(row: Row) -> str:
    return f"not sent: the card left '{row['source']}' before the call went out"


def _finish(
    workspace: Workspace, connection: Connection, outbox: Outbox, row: Row, templates: Templates
) -> tuple[str | None, str | None]:
    """Fire the call's trigger again on its card, with the answer, as the firing that made it; the card's
    new state, or why it stays."""
    card = queries.get_cards(connection, [row["card_id"]], lock=True)[row["card_id"]]
    if card["state"] != row["source"]:
        return card["state"], _left(row)
    owner, by = workspace.processes.get(card["process"]), workspace.processes.get(row["process"])
    if owner is None or by is None:
        missing = card["process"] if owner is None else row["process"]
        return card["state"], f"its process {missing} is not defined in this workspace"
    record = queries.get_batch(connection, row["batch_id"]) if row["batch_id"] else None
    options = recorded_options(workspace.scripts, record["options"] if record else None)
    people = queries.users_by_id(connection, [card["user_id"], row["actor"]])
    actor = system_actor(workspace) if row["actor"] == "system" else people.get(row["actor"]) or {"id": row["actor"], "roles": []}
    holder = people.get(card["user_id"]) or {"id": card["user_id"]}
    firing = Authorized(by, compile_process(owner, options, workspace.fingerprint), holder, workspace, options)
    try:
        done = _apply(connection, firing, card, row["trigger"], actor, outbox, row["reason"], templates, batch_id=row["batch_id"])
    except Refused as refused:
        return card["state"], refused.message
    if done.status == PENDING:
        return card["state"], "its firing now needs another call (see `cardflow calls`)"
    return done.dest, None
