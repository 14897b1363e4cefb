"""What needs a person (`cardflow incidents`), grouped, each group with its count, its oldest moment
and the commands that apply:

- `cards`: cards in a state the workspace marks `incident:` (e.g. an order the bureau refused), by
  process, state and the trigger and reason of the move that brought them there;
- `waiting`: cards in a state that is neither final nor an incident, not moved for longer than the
  site's threshold (`--waiting-longer-than`), with no timer armed to move them;
- `calls`: calls to a connector no answer has come for, by connector and operation;
- `emails`: emails that failed for good;
- `batches`: batches that stopped before their end (incomplete, or running since before the threshold);
- `timers`: timer firings that were refused, by process, state, trigger and why.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from engine.clock import moment, now, stamp
from engine.definitions.model import Workspace
from engine.definitions.shortcuts import shortcuts
from engine.definitions.timers import BadDuration, parse_duration
from engine.errors import UsageError
from engine.store import incidents, outbox

#: At most this many batch ids are named in the `batches` group.
NAMED_BATCHES = 20


@dataclass(frozen=True)
class Incident:
    """One group of what needs a person."""

    kind: str
    count: int
    oldest: str | None
    what: str
    actions: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        shown = {"kind": self.kind, "count": self.count, "oldest": self.oldest, "what": self.what}
        return {**shown, **self.details, "actions": list(self.actions)}


def waiting_since(duration: str, named: str) -> str:
    """The moment `duration` (ISO 8601) ago: a card not moved since then waits too long; `named` is the
    option or field the duration came from, for the error."""
    try:
        return stamp(moment(now()) - parse_duration(duration))
    except BadDuration as error:
        raise UsageError(f"{named}: {error}") from None


def incidents_in(workspace: Workspace, connection: Connection, waiting_since: str) -> list[Incident]:
    """Every group of what needs a person in the store, by kind; cards not moved since `waiting_since` wait too long."""
    return [
        *_cards(workspace, connection),
        *_waiting(workspace, connection, waiting_since),
        *_calls(connection),
        *_emails(connection),
        *_batches(connection, waiting_since),
        *_timers(connection),
    ]


def _cards(workspace: Workspace, connection: Connection) -> list[Incident]:
    marked = {
        (process.symbolic_name, state.name): state.incident
        for process in workspace.processes.values()
        for state in process.states.values()
        if state.incident
    }
    offered = shortcuts(workspace)
    found = []
    for process, state, trigger, reason, count, oldest in incidents.cards_in(connection, sorted(marked)):
        details = {"process": process, "state": state, "trigger": trigger, "reason": reason}
        actions = _actions(workspace, offered, process, state)
        found.append(Incident("cards", count, oldest, str(marked[process, state]), actions, details))
    return found


def _actions(workspace: Workspace, offered: Collection[str], process: str, state: str) -> tuple[str, ...]:
    """The commands a person runs on such a card: each trigger `offered` to people that moves it on."""
    leaving = [t.trigger for t in workspace.processes[process].transitions if state in t.source and t.trigger in offered]
    commands = [f"cardflow {trigger} CARD... --as YOU" for trigger in dict.fromkeys(leaving)]
    return (*commands, f"cardflow cards --process {process} --state {state}")


def _waiting(workspace: Workspace, connection: Connection, since: str) -> list[Incident]:
    states = [(process.symbolic_name, state) for process in workspace.processes.values() for state in process.states.values()]
    pairs = sorted((process, state.name) for process, state in states if not (state.final or state.incident))
    timed = [(process, state.name) for process, state in states if state.timers]
    return [
        Incident(
            "waiting",
            count,
            oldest,
            f"cards in {state} not moved since before {since}, with no timer to move them",
            (f"cardflow cards --process {process} --state {state}", "cardflow explain CARD"),
            {"process": process, "state": state},
        )
        for process, state, count, oldest in incidents.waiting(connection, pairs, since, timed)
    ]


def _calls(connection: Connection) -> list[Incident]:
    return [
        Incident(
            "calls",
            count,
            oldest,
            f"calls to {connector} ({operation}) with no answer yet, sent up to {attempts} time(s)",
            ("cardflow calls --status pending", "cardflow calls send --now"),
            {"connector": connector, "operation": operation},
        )
        for connector, operation, count, oldest, attempts in incidents.unanswered_calls(connection)
    ]


def _emails(connection: Connection) -> list[Incident]:
    count, oldest = outbox.failed_emails(connection)
    what = "emails that could not be delivered (the server refused them, or every retry failed)"
    actions = ("cardflow outbox --status failed", "cardflow outbox retry --failed")
    return [Incident("emails", count, oldest, what, actions)] if count else []


def _batches(connection: Connection, since: str) -> list[Incident]:
    stopped = incidents.stopped_batches(connection, since)
    if not stopped:
        return []
    named = [batch for batch, *_ in stopped[:NAMED_BATCHES]]
    what = "batches that stopped before their end (the command that ran them was killed, or left work undone)"
    actions = ("cardflow batches --json", "cardflow run PROCESS --batch-id BATCH --as YOU")
    return [Incident("batches", len(stopped), stopped[0][3], what, actions, {"batches": named})]


def _timers(connection: Connection) -> list[Incident]:
    return [
        Incident(
            "timers",
            count,
            oldest,
            f"timer firings refused: {message}",
            ("cardflow explain CARD",),
            {"process": process, "state": state, "trigger": trigger},
        )
        for process, state, trigger, message, count, oldest in incidents.refused_timers(connection)
    ]
