"""A chunk of claimed timers fired in one unit of work: the cards of one process and batch share a
firing context and their rows are written by one flush (what makes 10,000 due timers cheap). A
card whose trigger is refused leaves nothing of its own in the unit of work (its rows are taken
back), and its timer says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import Connection

from engine.batch.chunk_reads import ChunkReads
from engine.batch.effects import FireContext, Work, fire, record_decision, take
from engine.definitions.compile import CompiledProcess, Decision
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions
from engine.definitions.templates import Templates
from engine.errors import Refused
from engine.outbound.bureau import Connector
from engine.store.queries import Row
from engine.store.timers import Claimed
from engine.store.views import batch_view


class Fired(NamedTuple):
    """What firing one timer's trigger did: the card's new state, or why it was refused (a tuple: one a timer)."""

    dest: str | None
    refused: str | None = None


def fire_group(
    connection: Connection,
    workspace: Workspace,
    made: tuple[CompiledProcess, EffectiveOptions],
    claimed: list[tuple[Claimed, Row]],
    reads: ChunkReads,
    actor: Row,
    connector: Connector,
    templates: Templates,
    at: str,
    reason_of: Callable[[Claimed], str],
) -> dict[int, Fired]:
    """Fire each (timer, card) of one process and batch in one unit of work; by timer id, what it did."""
    compiled, options = made
    context = FireContext(
        compiled, connector, templates, actor, compiled.fingerprint, at,
        connection=connection, workspace=workspace, options=options,
    )  # fmt: skip
    card_batch = claimed[0][1]["batch_id"]
    batch = batch_view(reads.batch(card_batch) or {"id": card_batch})
    batch["id"] = f"timers-{at}"  # the run that fired them: one approvers' email a run
    work, done, quiet, name = Work(), {}, _Quiet(compiled), compiled.process.symbolic_name
    stays = work.audit()
    for row, card in claimed:
        settled = quiet(row.trigger, card["state"]) if not work.fired else None
        if settled is not None:  # the same for every card, no effects: it cannot be refused part-way
            if settled.dest == card["state"] and card["open"]:
                _stay(context, work, stays, card, settled, batch["id"], reason_of(row))
            else:
                take(context, work, card, settled, None, None, process=name, batch=batch, reason=reason_of(row), stored=True)
            done[row.id] = Fired(settled.dest)
            continue
        if quiet.first(row.trigger, card["state"]):  # it may settle the decision: the others then read nothing
            holder, earlier = reads.alone(card)
        else:
            holder, earlier = reads.holder(card), reads.earlier_orders(card["id"])
        mark = work.mark()
        context.people.setdefault(holder["id"], holder)
        try:
            decision = fire(
                context, work, card, holder, row.trigger, process=name, batch=batch,
                reason=reason_of(row), earlier_orders=earlier,
            )  # fmt: skip
        except Refused as refused:
            work.undo(mark)
            done[row.id] = Fired(None, refused.message)
            continue
        if decision.dest is None:
            work.undo(mark)
            done[row.id] = Fired(None, f"{row.trigger} refused, nothing changed: no transition of it fits card {card['id']}")
            continue
        done[row.id] = Fired(decision.dest)
    lost = work.flush(connection, context)
    for row, card in claimed:
        if card["id"] in lost and done[row.id].refused is None:
            done[row.id] = Fired(None, f"card {card['id']} was moved by another command meanwhile")
    return done


def _stay(
    context: FireContext, work: Work, audit: list[tuple[object, ...]], card: Row, decision: Decision, batch: str, reason: str
) -> None:
    """Gather a settled decision that leaves an open card in its state (a reminder's): its audit row as
    a tuple of TRANSITION_COLUMNS and a change of `updated_at` alone, what `take` would gather without
    the dicts (the many cards of a timers run)."""
    state, process = card["state"], card["process"]
    identity = record_decision(context.compiled, work, decision, None)
    audit.append(
        (card["id"], process, decision.trigger, state, state, context.actor["id"], context.at, batch,
         context.fingerprint, identity, reason, None)
    )  # fmt: skip
    work.changes.append(
        {"id": card["id"], "process": process, "was": state, "state": state, "updated_at": context.at, "stayed": True}
    )
    card["updated_at"] = context.at


class _Quiet(dict[tuple[str, str], Decision | None]):
    """The decision of firing a trigger from a state when it reads nothing of a card, its holder or
    orders, worked out once a group: settled (the same for every card, a transition) and without
    effects (which would tell or act for the holder). None: the card is fired with its scope."""

    def __init__(self, compiled: CompiledProcess) -> None:
        super().__init__()
        self.compiled = compiled
        self.fired: set[tuple[str, str]] = set()

    def __call__(self, trigger: str, state: str) -> Decision | None:
        return self[trigger, state]

    def first(self, trigger: str, state: str) -> bool:
        """Whether no card of the group was fired with its scope for this trigger and state yet."""
        if (trigger, state) in self.fired:
            return False
        self.fired.add((trigger, state))
        return True

    def __missing__(self, key: tuple[str, str]) -> Decision | None:
        decision = self.compiled.settled(*key)  # None until a first firing has settled it
        if decision is None:
            return None
        self[key] = None if decision.effects else decision
        return self[key]


def plain(process: Process, compiled: CompiledProcess, trigger: str, state: str) -> bool:
    """Whether a timer's trigger fires without a call (a call goes through the outbox, a timer at a time)."""
    return process.kind == "batch" and compiled.call_of(trigger, state) is None
