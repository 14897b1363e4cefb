"""The search of generated scenarios: the moves a scenario can make on a card of a batch process,
followed breadth first through the compiled machine under one combination of the option values.

The moves: run the process for a fresh, active user; a trigger a person fires (as a user of a role
that may fire it, whose prerequisites hold); the batch sync (`queue: run`); an order status the bureau
reports (`orders: sync`); the clock moved on past a state's armed timers (`advance`, a path's last
move); each with the external calls accepted and, where a guard reads their answer, refused. Each
decision is the compiled machine's own, with its trace. A transition a `fire` effect sets off on the
holder's other cards is reached through such a card, made in its state before the path starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.batch.actions import trigger_roles
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.declared import Timer
from engine.definitions.expressions import parse
from engine.definitions.model import Process, Workspace
from engine.definitions.options import effective_options
from engine.definitions.timers import after, days_before, duration_of
from engine.effects.fire import Fire
from engine.store.queries import Row
from engine.testing.matrix import representative_scope
from engine.testing.scenario import SCENARIO_TIME
from engine.testing.steps import step_triggers

#: the longest path followed (moves from the creation of the card)
MAX_DEPTH = 20
#: the roots of an expression that are not an external call's answer
PLAIN_ROOTS = frozenset({"options", "user", "card", "actor", "batch", "now"})
#: the holder of a path's card: active, without other open cards (a path makes some only where the
#: process lets a holder have them: its `exclusive` does not hold)
HOLDER: dict[str, Any] = {"state": "active", "roles": [], "open_cards": 0}


@dataclass(frozen=True)
class Move:
    """One step of a path, as a scenario says it: `run`, `trigger`, `queue`, `orders` or `advance`."""

    action: str
    trigger: str
    refused: bool = False  # the external calls of the step are refused (`fail:`)
    status: str | None = None  # with `orders`: the order status the bureau reports
    actor: str | None = None  # with `run` and `trigger`: the role of the user who acts
    advance: str | None = None  # with `advance`: how far the clock moves
    reason: bool = False  # with `trigger`: a reason must come with it


@dataclass(frozen=True)
class Edge:
    """A move made on a card in `source`: where it went, the transition it fired, and the decision's trace."""

    move: Move
    source: str
    dest: str
    fired: int
    trace: Row
    others: tuple[str, ...]  # triggers its `fire` effects set off on the holder's other cards
    timers: tuple[str, ...] = ()  # with `advance`: FILE:LINE of each armed timer of the state that fires it


@dataclass(frozen=True)
class Path:
    """A card's way through the machine under combination `row`, and the holder's other cards it needs."""

    row: int
    edges: tuple[Edge, ...]
    seeds: tuple[tuple[str, Row], ...] = ()  # (state of another card, the trace of the trigger fired on it)
    start: str | None = None  # the card is made in this state before the path (else the path makes it)

    @property
    def clock_order(self) -> tuple[bool, bool]:
        """Where the path stands among a scenario's: first those that move the clock, then those that run
        a step for every card (the batch sync), then the rest; the moves of each touch only their own card."""
        actions = {edge.move.action for edge in self.edges}
        return "advance" not in actions, "queue" not in actions

    def lives(self, process: str) -> list[tuple[str, list[Row]]]:
        return [(process, [edge.trace for edge in self.edges]), *((process, [trace]) for _, trace in self.seeds)]


class Search:
    """The breadth-first search of one combination of the option values."""

    def __init__(self, workspace: Workspace, process: Process, row: int, values: dict[str, Any]) -> None:
        self.workspace, self.process, self.row = workspace, process, row
        options = effective_options(workspace.scripts, values)
        self.compiled: CompiledProcess = compile_process(process, options, workspace.fingerprint)
        self.options = options.as_dict()
        self.kinds = move_kinds(workspace, process)
        self.horizon = horizon(process, self.options)
        self.answered = connector_roots(process)

    def paths(self) -> Iterator[Path]:
        """Every path of one move more than a shortest path to a (state, last transition), and each path
        ending with the clock moved on."""
        seen: set[tuple[str, int | None]] = {(self.process.initial, None)}
        frontier: list[tuple[Edge, ...]] = [()]
        for _ in range(MAX_DEPTH):
            following: list[tuple[Edge, ...]] = []
            for edges in frontier:
                state = edges[-1].dest if edges else self.process.initial
                for edge in self.edges(state, edges):
                    path = (*edges, edge)
                    yield Path(self.row, path, self.seeds(path))
                    key = (edge.dest, edge.fired)
                    if edge.move.action != "advance" and key not in seen:
                        seen.add(key)
                        following.append(path)
            frontier = following
        yield from self.made_in_place()

    def made_in_place(self) -> Iterator[Path]:
        """For each move whose `fire` effects act on the holder's other cards: the card made in the state
        it leaves, beside the other cards, and the move alone (what a walk from the start cannot show:
        a reactivation's effect on a card the activation before it already moved)."""
        for state in self.process.states:
            if state == self.process.initial:
                continue
            for edge in self.edges(state, ()):
                seeds = self.seeds((edge,)) if edge.others and edge.move.action != "advance" else ()
                if seeds:
                    yield Path(self.row, (edge,), seeds, state)

    def edges(self, state: str, before: tuple[Edge, ...]) -> Iterator[Edge]:
        """The moves a card in `state` can make, each with the calls accepted and, where a guard reads
        their answer, refused."""
        for trigger, action in self.kinds.items():
            if (trigger, state) not in self.compiled.candidates:
                continue
            if action == "run" and before:
                continue
            timers = tuple(timer.where for timer in self.armed(state, trigger)) if action == "advance" else ()
            if action == "advance" and not timers:
                continue
            for move in self.moves(trigger, action, state, before):
                decision = self.compiled.fire(trigger, state, self.scope(state, move, before))
                if decision.dest is not None and decision.transition is not None:
                    others = tuple(effect.fire for effect in decision.effects if isinstance(effect, Fire))
                    trace = {"trigger": trigger, "source": state, "candidates": decision.trace}
                    yield Edge(move, state, decision.dest, decision.transition.index + 1, trace, others, timers)

    def armed(self, state: str, trigger: str) -> list[Timer]:
        """The timers of `state` that fire `trigger` and are armed under these options (a duration of
        zero, or no day before its date, turns one off)."""
        timers = [timer for timer in self.process.states[state].timers if timer.fire == trigger]
        return [timer for timer in timers if _armed(timer, self.options)]

    def moves(self, trigger: str, action: str, state: str, before: tuple[Edge, ...]) -> Iterator[Move]:
        answered = any(
            root not in PLAIN_ROOTS
            for candidate in self.compiled.candidates[(trigger, state)]
            if candidate.transition.guard
            for root, _ in parse(candidate.transition.guard.text).attributes
        )
        offered = [p.triggers[trigger] for p in self.workspace.processes.values() if p.kind == "action" and trigger in p.triggers]
        status = next((spec.bureau_status for spec in offered if spec.bureau_status), None)
        reason = any(spec.reason == "required" for spec in offered)
        actor = self.actor(trigger, action, state, before)
        if action in ("run", "trigger") and actor is None:
            return
        for refused in (False, True) if answered else (False,):
            advance = self.horizon if action == "advance" else None
            yield Move(action, trigger, refused, status, actor, advance, reason)

    def actor(self, trigger: str, action: str, state: str, before: tuple[Edge, ...]) -> str | None:
        """The role of the user who makes the move: the process's own for `run`; for a trigger, the
        creator's role when it may, else the first role that may whose prerequisites hold."""
        if action == "run":
            return self.process.actor
        if action != "trigger":
            return None
        roles = trigger_roles(self.workspace, trigger)
        order = [self.process.actor, *sorted(role for role in roles if role != self.process.actor)]
        for role in order:
            if (role in roles or "any" in roles) and self.allowed(trigger, state, role, before):
                return role
        return None

    def allowed(self, trigger: str, state: str, role: str, before: tuple[Edge, ...]) -> bool:
        """Whether some action process offering `trigger` on this process lets a user of `role` fire it."""
        scope = self.scope(state, Move("trigger", trigger, actor=role), before)
        for action in self.workspace.processes.values():
            if action.kind != "action" or trigger not in action.triggers or self.process.symbolic_name not in action.acts_on:
                continue
            if all(parse(p.rule.text).truth(scope)[0] is not False for p in action.prerequisites):
                return True
        return False

    def scope(self, state: str, move: Move, before: tuple[Edge, ...]) -> dict[str, Any]:
        """What the card's guards read: the representative card in `state`, its holder, the actor, and
        the answers of the calls."""
        scope = representative_scope(self.compiled)
        creator = actor_id(self.process.actor)
        movers = [edge.move.actor for edge in before if edge.dest != edge.source]  # as the engine keeps it
        requested_by = actor_id(movers[-1]) if movers and movers[-1] else (creator if not movers else "system")
        card = {**scope["card"], "state": state, "requester": creator, "requested_by": requested_by}
        acting = actor_id(move.actor) if move.actor else "system"
        answer = {"accepted": not move.refused, "reason": "refused" if move.refused else None, "order_id": "generated"}
        calls = dict.fromkeys(self.answered, answer)
        actor = {"id": acting, "state": "active", "roles": [move.actor] if move.actor else []}
        return {**scope, **calls, "card": card, "user": {**scope["user"], **HOLDER}, "actor": actor}

    def seeds(self, path: tuple[Edge, ...]) -> tuple[tuple[str, Row], ...]:
        """The holder's other cards the path's `fire` effects act on: one in each state the trigger
        leaves, when the process lets its holder have another card (its `exclusive` does not hold)."""
        exclusive = self.process.exclusive
        if exclusive is not None and (exclusive.when is None or parse(exclusive.when.text).truth({"options": self.options})[0]):
            return ()
        found = []
        for trigger in dict.fromkeys(other for edge in path for other in edge.others):
            for transition in self.process.transitions:
                if transition.trigger != trigger:
                    continue
                for state in transition.source:
                    decision = self.compiled.fire(trigger, state, self.scope(state, Move("seed", trigger), ()))
                    if decision.dest is not None:
                        found.append((state, {"trigger": trigger, "source": state, "candidates": decision.trace}))
        return tuple(dict(found).items())


def _armed(timer: Timer, options: Mapping[str, Any]) -> bool:
    if timer.after:
        return duration_of(timer.after, options) is not None
    return timer.before is None or bool(days_before(timer.before, options))


def connector_roots(process: Process) -> set[str]:
    """The roots the process's guards read that are an external call's answer (`bureau`, `printer`)."""
    return {
        root
        for transition in process.transitions
        if transition.guard
        for root, _ in parse(transition.guard.text).attributes
        if root not in PLAIN_ROOTS
    }


def actor_id(role: str) -> str:
    """The scenario user who acts in `role`."""
    return role


def move_kinds(workspace: Workspace, process: Process) -> dict[str, str]:
    """How a scenario fires each trigger of the process: `run` (its creating trigger), `trigger` (a person
    fires it), `queue` or `orders` (the batch sync, the order-status sync), `advance` (a timer)."""
    kinds: dict[str, str] = {}
    for state in process.states.values():
        kinds.update((timer.fire, "advance") for timer in state.timers)
    for other in workspace.processes.values():
        if other.kind == "action" and other.actor == "system" and process.symbolic_name in other.acts_on:
            kinds.update((t, "orders" if spec.bureau_status else "queue") for t, spec in other.triggers.items())
    people = set(step_triggers(workspace))
    for other in workspace.processes.values():
        if other.kind == "action" and other.actor != "system" and process.symbolic_name in other.acts_on:
            kinds.update((t, "trigger") for t in other.triggers if t in people)
    if process.creating_trigger:
        kinds[process.creating_trigger] = "run"
    return kinds


def horizon(process: Process, options: Mapping[str, Any]) -> str:
    """How far a path's last move takes the clock: twice the longest time any timer of the process or any
    duration option names (working days counted as calendar days twice over), and a month more."""
    start = datetime.fromisoformat(SCENARIO_TIME.replace("Z", "+00:00"))
    texts = [value for value in options.values() if isinstance(value, str) and value.startswith("P")]
    longest = 0
    for state in process.states.values():
        for timer in state.timers:
            for text in (timer.after, timer.every):
                duration = duration_of(text, options) if text else None
                if duration:
                    texts.append(duration)
                    longest = max(longest, _days(start, duration) * (2 if timer.working_days else 1) * (timer.most or 1))
    for text in texts:
        try:
            longest = max(longest, _days(start, text))
        except ValueError:
            continue
    return f"P{2 * longest + 31}D"


def _days(start: datetime, duration: str) -> int:
    return (datetime.fromisoformat(after(SCENARIO_TIME, duration).replace("Z", "+00:00")) - start).days
