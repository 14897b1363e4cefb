"""The due timers fired, each once: `cardflow timers run` (cron on SQLite; the workers' scheduled
job on PostgreSQL). A chunk of due timers is claimed in one statement (on PostgreSQL, skipping those
another transaction holds) and each trigger fired on its card, as the system, in one transaction:
two commands at once never fire one timer twice (the claim is a compare-and-set), and a command
killed mid-way loses none (what it did not commit stays armed). A repeating timer arms its
next firing after `now`: after a downtime it fires once, not once for each period missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from engine.batch.actions import _apply, system_actor
from engine.batch.authorizing import Authorized
from engine.batch.calls import outbox_of
from engine.batch.chunk_reads import ChunkReads
from engine.batch.collector import collector_spared
from engine.batch.results import PENDING
from engine.batch.timer_chunks import fire_group, plain
from engine.clock import now
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.declared import Timer
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions, recorded_options
from engine.definitions.sandbox import render_session
from engine.definitions.templates import Templates, templates_for
from engine.definitions.timers import duration_of, next_due
from engine.errors import Refused
from engine.outbound.bureau import Connector
from engine.store import queries, timers
from engine.store.queries import Row
from engine.store.timers import Claimed


class TimerResult(NamedTuple):
    """What became of one due timer: fired (the card moved to `to`), refused (why), or gone (its card
    had left the state, or its process is no longer defined). A tuple: one is made for each timer."""

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
CHUNK = 1000


def fire_due(workspace: Workspace, engine: Engine, connector: Connector, *, limit: int | None = None) -> list[TimerResult]:
    """Fire every timer due now (at most `limit`), first due first, a chunk of them per transaction."""
    at = now()
    templates = templates_for(workspace.root / TEMPLATES)
    outbox = outbox_of(connector)
    firings = _Firings(workspace)
    results: list[TimerResult] = []
    with collector_spared(), render_session():
        while limit is None or len(results) < limit:
            count = CHUNK if limit is None else min(CHUNK, limit - len(results))
            with engine.begin() as connection:
                due = timers.claim_due(connection, at, count)
                if not due:
                    break
                cards = queries.get_cards(connection, {row.card_id for row in due}, lock=True)
                reads = ChunkReads(connection, list(cards.values()), at)  # their holders read when a firing needs them
                chunk = _Chunk(connection, firings, outbox, cards, reads, templates, at)
                results += chunk.fire(due)
                timers.arm(connection, chunk.again)
                again = {timer[0] for timer in chunk.again}  # their cards keep a timer armed
                timers.settle(connection, [row.card_id for row in due if row.card_id not in again])
            outbox.leave_the_rest()  # a call a timer's trigger made waits for `cardflow calls send`
    return results


@dataclass
class _Chunk:
    """The claimed timers of one transaction: those whose trigger makes no call fired together, a unit
    of work per process and batch; the others one by one (their calls go through the outbox)."""

    connection: Connection
    firings: _Firings
    connector: Connector
    cards: dict[int, Row]
    reads: ChunkReads
    templates: Templates
    at: str
    #: the next firings of repeating timers, armed with the chunk (tuples of engine.store.timers.COLUMNS)
    again: list[tuple[Any, ...]] = field(default_factory=list)

    def fire(self, due: list[Claimed]) -> list[TimerResult]:
        workspace, results = self.firings.workspace, []
        groups: dict[tuple[str, str | None], list[tuple[Claimed, Row]]] = {}
        routes: dict[tuple[str, str | None, str, str], bool] = {}  # (process, batch, trigger, state): fired in a group
        for row in due:
            card = self.cards.get(row.card_id)
            if card is not None and card["state"] == row.state:
                route = (row.process, card["batch_id"], row.trigger, row.state)
                if route not in routes:
                    routes[route] = self._plain(*route)
                if routes[route]:
                    groups.setdefault(route[:2], []).append((row, card))
                    continue
            results.append(self._fire_one(row, card))
        for (name, batch), claimed in groups.items():
            process = workspace.processes[name]
            made = self.firings.of(self.connection, process, batch)
            actor = system_actor(workspace)
            args = (self.reads, actor, self.connector, self.templates, self.at, _reason)
            done = fire_group(self.connection, workspace, made, claimed, *args)
            for row, _ in claimed:
                fired = done[row.id]
                if fired.refused is not None:
                    timers.claim_again(self.connection, row.id, "refused", self.at, fired.refused)
                    results.append(_result(row, "refused", row.state, fired.refused))
                    continue
                self._repeat(process, row, fired.dest, made[1])
                results.append(_result(row, "fired", fired.dest))
        return results

    def _plain(self, name: str, batch: str | None, trigger: str, state: str) -> bool:
        """Whether the timers of a process and batch whose trigger fires from `state` are fired in a group."""
        process = self.firings.workspace.processes.get(name)
        return process is not None and plain(process, self.firings.of(self.connection, process, batch)[0], trigger, state)

    def _fire_one(self, row: Claimed, card: Row | None) -> TimerResult:
        """Fire the claimed timer's trigger on its card alone, as the system (its call goes through the
        outbox), as part of the run `timers-AT`: the approvers' emails of one run's reminders are one email each."""
        workspace = self.firings.workspace
        process = workspace.processes.get(row.process)
        if card is None or card["state"] != row.state or process is None:
            why = f"card {row.card_id} is no longer in '{row.state}'" if process else f"no process {row.process}"
            return _result(row, "gone", card["state"] if card else None, why)
        compiled, options = self.firings.of(self.connection, process, card["batch_id"])
        holder = self.reads.holder(card)
        try:
            done = _apply(
                self.connection, Authorized(process, compiled, holder, workspace, options), card, row.trigger,
                system_actor(workspace), self.connector, _reason(row), self.templates, batch_id=f"timers-{self.at}",
            )  # fmt: skip
        except Refused as refused:
            timers.claim_again(self.connection, row.id, "refused", self.at, refused.message)
            return _result(row, "refused", card["state"], refused.message)
        self._repeat(process, row, done.dest, options)
        if done.status == PENDING:  # its trigger makes a call: the card moves once it is answered
            return _result(row, "fired", card["state"], done.message)
        return _result(row, "fired", done.dest)

    def _repeat(self, process: Process, row: Claimed, dest: str | None, options: EffectiveOptions) -> None:
        """Arm the timer's next firing when it repeats, has firings left and its card stayed in the state."""
        if dest != row.state:
            return
        timer = self.firings.declared(process, row.state, row.timer)
        if timer is None or timer.every is None or row.fired + 1 >= (timer.most or 0):
            return
        following = self.firings.following(timer, row.due_at, options, self.at)
        if following is None:  # turned off by the options
            return
        self.again.append((row.card_id, row.kind, following, row.fired + 1, "armed", self.at))


def _reason(row: Claimed) -> str:
    return f"fired by the timer at {row.location}, due {row.due_at}"


class _Firings:
    """What firing on a card of a process needs, made once a run per process and batch (the options it ran with)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.made: dict[tuple[str, str | None], tuple[CompiledProcess, EffectiveOptions]] = {}
        self.nexts: dict[tuple[int, str, str, str], str | None] = {}
        self.timers: dict[tuple[str, str, int], Timer | None] = {}

    def of(self, connection: Connection, process: Process, batch: str | None) -> tuple[CompiledProcess, EffectiveOptions]:
        key = (process.symbolic_name, batch)
        if key not in self.made:
            record = queries.get_batch(connection, batch) if batch else None
            options = recorded_options(self.workspace.scripts, record["options"] if record else None)  # its batch's
            self.made[key] = (compile_process(process, options, self.workspace.fingerprint), options)
        return self.made[key]

    def declared(self, process: Process, state: str, number: int) -> Timer | None:
        """The timer declared `number` in `state` (None: no longer declared)."""
        key = (process.symbolic_name, state, number)
        if key not in self.timers:
            declared = process.states[state].timers
            self.timers[key] = declared[number] if number < len(declared) else None
        return self.timers[key]

    def following(self, timer: Timer, due: str, options: EffectiveOptions, at: str) -> str | None:
        """When a repeating timer due at `due` fires next after `at` (None: the options turn it off);
        worked out once for the many timers of a run that were due at the same moment."""
        key = (id(timer), due, options.fingerprint, at)  # a declared timer lives as long as the workspace
        if key not in self.nexts:
            every = duration_of(timer.every or "", options.as_dict())
            calendar = self.workspace.calendar if timer.working_days else None
            self.nexts[key] = None if every is None else next_due(due, every, at, calendar)
        return self.nexts[key]


def _result(row: Claimed, status: str, to: str | None, message: str | None = None) -> TimerResult:
    return TimerResult(row.id, row.card_id, row.trigger, row.due_at, status, to, message)
