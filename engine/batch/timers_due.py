"""The due timers fired, each once: `cardflow timers run` (cron on SQLite; the workers' scheduled
job on PostgreSQL). Each timer is claimed and its trigger fired on its card, as the system, in one
transaction: two commands at once never fire one timer twice (the claim is a compare-and-set), and
a command killed mid-way loses none (what it did not commit stays armed). A repeating timer arms its
next firing after `now`: after a downtime it fires once, not once for each period missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from engine.batch.actions import _apply, _Authorized, system_actor
from engine.batch.calls import outbox_of
from engine.batch.calls_due import options_of
from engine.batch.results import PENDING
from engine.clock import now
from engine.definitions.calendar import Calendar
from engine.definitions.compile import compile_process
from engine.definitions.declared import Timer
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Workspace
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.definitions.timers import next_due
from engine.errors import Refused
from engine.outbound.bureau import Connector
from engine.store import queries, timers
from engine.store.queries import Row


@dataclass(frozen=True)
class TimerResult:
    """What became of one due timer: fired (the card moved to `to`), refused (why), or gone (another
    command fired it, or its card had left the state)."""

    timer: int
    card: int
    trigger: str
    due: str
    status: str
    to: str | None
    message: str | None = None

    def as_json(self) -> Row:
        return {
            "timer": self.timer,
            "card": self.card,
            "trigger": self.trigger,
            "due": self.due,
            "status": self.status,
            "to": self.to,
            "message": self.message,
        }


def fire_due(workspace: Workspace, engine: Engine, connector: Connector, *, limit: int | None = None) -> list[TimerResult]:
    """Fire every timer due now (at most `limit`), each in a transaction of its own, first due first."""
    at = now()
    templates = templates_for(workspace.root / TEMPLATES)
    outbox = outbox_of(connector)
    results: list[TimerResult] = []
    with render_session():
        while limit is None or len(results) < limit:
            with engine.begin() as connection:
                row = timers.next_due(connection, at)
                if row is None:
                    break
                results.append(_fire(workspace, connection, outbox, row, templates, at))
            outbox.leave_the_rest()  # a call its trigger made waits for `cardflow calls send`
    return results


def _fire(
    workspace: Workspace, connection: Connection, connector: Connector, row: Row, templates: Templates, at: str
) -> TimerResult:
    """Claim the timer, then fire its trigger on its card as the system (its next firing armed when it repeats)."""
    found = queries.get_cards(connection, [row["card_id"]], lock=True).get(row["card_id"])

    def result(status: str, to: str | None, message: str | None = None) -> TimerResult:
        return TimerResult(row["id"], row["card_id"], row["trigger"], row["due_at"], status, to, message)

    if not timers.claim(connection, row["id"], "fired", at):
        return result("gone", found["state"] if found else None, "fired or dropped by another command")
    process = workspace.processes.get(row["process"])
    if found is None or found["state"] != row["state"] or process is None:
        why = f"card {row['card_id']} is no longer in '{row['state']}'" if process else f"no process {row['process']}"
        return result("gone", found["state"] if found else None, why)
    record = queries.get_batch(connection, found["batch_id"]) if found["batch_id"] else None
    options = options_of(workspace, record)  # those its batch ran with
    holder = queries.users_by_id(connection, [found["user_id"]]).get(found["user_id"]) or {"id": found["user_id"]}
    firing = _Authorized(process, compile_process(process, options, workspace.fingerprint), holder, workspace, options)
    reason = f"fired by the timer at {row['location']}, due {row['due_at']}"
    try:
        done = _apply(connection, firing, found, row["trigger"], system_actor(workspace), connector, reason, templates)
    except Refused as refused:
        timers.claim_again(connection, row["id"], "refused", at, refused.message)
        return result("refused", found["state"], refused.message)
    _repeat(connection, process.states[row["state"]].timers, row, done.dest, at, workspace.calendar)
    return result(
        "fired", done.dest if done.status != PENDING else found["state"], None if done.status != PENDING else done.message
    )


def _repeat(connection: Connection, declared: tuple[Timer, ...], row: Row, dest: str | None, at: str, calendar: Calendar) -> None:
    """Arm the timer's next firing when it repeats, has firings left and its card stayed in the state."""
    timer = declared[row["timer"]] if row["timer"] < len(declared) else None
    if timer is None or timer.every is None or dest != row["state"] or row["fired"] + 1 >= (timer.most or 0):
        return
    following = next_due(row["due_at"], timer.every, at, calendar if timer.working_days else None)
    keep = ("card_id", "process", "state", "timer", "location", "trigger")
    timers.arm(connection, [{**{k: row[k] for k in keep}, "due_at": following, "fired": row["fired"] + 1, "armed_at": at}])
