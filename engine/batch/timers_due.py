"""The due timers fired, each once: `cardflow timers run` (cron on SQLite; the workers' scheduled
job on PostgreSQL). A chunk of due timers is taken (on PostgreSQL, skipping those another
transaction holds), claimed and each trigger fired on its card, as the system, in one transaction:
two commands at once never fire one timer twice (the claim is a compare-and-set), and a command
killed mid-way loses none (what it did not commit stays armed). A repeating timer arms its
next firing after `now`: after a downtime it fires once, not once for each period missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from engine.batch.actions import _apply, _Authorized, system_actor
from engine.batch.calls import outbox_of
from engine.batch.calls_due import options_of
from engine.batch.results import PENDING
from engine.clock import now
from engine.definitions.calendar import Calendar
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.declared import Timer
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.definitions.timers import duration_of, next_due
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


#: How many due timers one transaction fires.
CHUNK = 200


def fire_due(workspace: Workspace, engine: Engine, connector: Connector, *, limit: int | None = None) -> list[TimerResult]:
    """Fire every timer due now (at most `limit`), first due first, a chunk of them per transaction."""
    at = now()
    templates = templates_for(workspace.root / TEMPLATES)
    outbox = outbox_of(connector)
    firings = _Firings(workspace)
    results: list[TimerResult] = []
    with render_session():
        while limit is None or len(results) < limit:
            count = CHUNK if limit is None else min(CHUNK, limit - len(results))
            with engine.begin() as connection:
                due = timers.next_due(connection, at, count)
                if not due:
                    break
                claimed = timers.claim_all(connection, [row["id"] for row in due], at)
                cards = queries.get_cards(connection, {row["card_id"] for row in due}, lock=True)
                holders = queries.users_by_id(connection, {card["user_id"] for card in cards.values()})
                for row in due:
                    card = cards.get(row["card_id"])
                    if row["id"] not in claimed:
                        results.append(
                            _result(row, "gone", card["state"] if card else None, "fired or dropped by another command")
                        )
                        continue
                    results.append(_fire(connection, firings, outbox, row, card, holders, templates, at))
            outbox.leave_the_rest()  # a call a timer's trigger made waits for `cardflow calls send`
    return results


class _Firings:
    """What firing on a card of a process needs, made once a run per process and batch (the options it ran with)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.made: dict[tuple[str, str | None], tuple[CompiledProcess, EffectiveOptions]] = {}

    def of(self, connection: Connection, process: Process, batch: str | None) -> tuple[CompiledProcess, EffectiveOptions]:
        key = (process.symbolic_name, batch)
        if key not in self.made:
            record = queries.get_batch(connection, batch) if batch else None
            options = options_of(self.workspace, record)  # those its batch ran with
            self.made[key] = (compile_process(process, options, self.workspace.fingerprint), options)
        return self.made[key]


def _result(row: Row, status: str, to: str | None, message: str | None = None) -> TimerResult:
    return TimerResult(row["id"], row["card_id"], row["trigger"], row["due_at"], status, to, message)


def _fire(
    connection: Connection,
    firings: _Firings,
    connector: Connector,
    row: Row,
    card: Row | None,
    holders: dict[str, Row],
    templates: Templates,
    at: str,
) -> TimerResult:
    """Fire the claimed timer's trigger on its card as the system (its next firing armed when it repeats),
    as part of the run `timers-AT`: the approvers' emails of one run's reminders are one email each."""
    workspace = firings.workspace
    process = workspace.processes.get(row["process"])
    if card is None or card["state"] != row["state"] or process is None:
        why = f"card {row['card_id']} is no longer in '{row['state']}'" if process else f"no process {row['process']}"
        return _result(row, "gone", card["state"] if card else None, why)
    compiled, options = firings.of(connection, process, card["batch_id"])
    holder = holders.get(card["user_id"]) or {"id": card["user_id"]}
    reason = f"fired by the timer at {row['location']}, due {row['due_at']}"
    try:
        done = _apply(
            connection, _Authorized(process, compiled, holder, workspace, options), card, row["trigger"],
            system_actor(workspace), connector, reason, templates, batch_id=f"timers-{at}",
        )  # fmt: skip
    except Refused as refused:
        timers.claim_again(connection, row["id"], "refused", at, refused.message)
        return _result(row, "refused", card["state"], refused.message)
    _repeat(connection, process.states[row["state"]].timers, row, done.dest, at, workspace.calendar, options.as_dict())
    if done.status == PENDING:  # its trigger makes a call: the card moves once it is answered
        return _result(row, "fired", card["state"], done.message)
    return _result(row, "fired", done.dest)


def _repeat(
    connection: Connection,
    declared: tuple[Timer, ...],
    row: Row,
    dest: str | None,
    at: str,
    calendar: Calendar,
    options: Mapping[str, Any],
) -> None:
    """Arm the timer's next firing when it repeats, has firings left and its card stayed in the state."""
    timer = declared[row["timer"]] if row["timer"] < len(declared) else None
    if timer is None or timer.every is None or dest != row["state"] or row["fired"] + 1 >= (timer.most or 0):
        return
    every = duration_of(timer.every, options)
    if every is None:  # turned off by the options
        return
    following = next_due(row["due_at"], every, at, calendar if timer.working_days else None)
    keep = ("card_id", "process", "state", "timer", "location", "trigger")
    timers.arm(connection, [{**{k: row[k] for k in keep}, "due_at": following, "fired": row["fired"] + 1, "armed_at": at}])
