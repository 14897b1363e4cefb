"""What a person may start, read from the workspace alone: the processes their roles allow, the
batch orders among them (the vendor's "Batch order" menu, from each process's `start`), where each
begins, and the triggers of a process a person fires.

The console's home page, BATCH ORDERS and a card's page are built from these; no process, state or
trigger is named here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine

from engine.batch.authorizing import Authorized, authorize
from engine.batch.over_cards import creates_cards
from engine.definitions.model import Process, Trigger, Workspace
from engine.definitions.options import effective_options
from engine.errors import Refused
from engine.store import db, queries
from engine.store.queries import Row

#: The vendor's menu of batch orders: a process whose `start` is "Batch order > …".
BATCH_ORDER = "Batch order"
#: The vendor's menu of decisions: a process whose `start` is "Approvals > …" (the requests waiting).
APPROVALS = "Approvals"
#: The actor of the processes the system runs on its own (scheduled jobs), never a person.
SYSTEM = "system"


def menu(process: Process) -> str:
    """The first step of the process's `start` (the vendor's menu path), e.g. "Batch order"."""
    return process.start.split(">", 1)[0].strip()


def may_start(process: Process, roles: Iterable[str]) -> bool:
    """Whether a person with `roles` may start `process`: its actor is one of them (never the system's)."""
    return process.actor != SYSTEM and process.actor in set(roles)


def require_may_start(process: Process, user: Row) -> None:
    """Refuse a person who may not start `process` (`may_start`), naming the role it needs."""
    if not may_start(process, user["roles"]):
        raise Refused(f"{user['id']} does not have the {process.actor} role needed for {process.name}")


def startable(workspace: Workspace, roles: Iterable[str]) -> list[Process]:
    """The processes a person with `roles` may start, in the workspace's order."""
    held = set(roles)
    return [process for process in workspace.processes.values() if may_start(process, held)]


def is_batch_order(process: Process) -> bool:
    """A process started from BATCH ORDERS: one that creates cards, or whose `start` is "Batch order > …"."""
    return process.kind == "batch" or menu(process) == BATCH_ORDER


def batch_orders(workspace: Workspace, roles: Iterable[str]) -> list[Process]:
    """The batch orders a person with `roles` may start (BATCH ORDERS lists them)."""
    return [process for process in startable(workspace, roles) if is_batch_order(process)]


def acts_on_cards(process: Process) -> bool:
    """A process that fires triggers on existing cards (rather than creating cards for users)."""
    return not creates_cards(process)


def on_one_card(process: Process) -> bool:
    """A process a person starts from one card's page (an action that is not a batch order)."""
    return acts_on_cards(process) and process.actor != SYSTEM and not is_batch_order(process)


def person_triggers(process: Process) -> dict[str, Trigger]:
    """The triggers of `process` a person fires (the bureau's order status fires the others)."""
    return {name: trigger for name, trigger in process.triggers.items() if trigger.bureau_status is None}


def acting_states(workspace: Workspace, process: Process) -> dict[str, list[str]]:
    """Per process it acts on, the states a transition of one of `process`'s triggers leaves: where its cards wait for it."""
    found: dict[str, list[str]] = {}
    for name in process.acts_on:
        owner = workspace.process(name)
        sources = [state for t in owner.transitions if t.trigger in process.triggers for state in t.source]
        found[name] = list(dict.fromkeys(sources))
    return found


def bulk_actions(
    workspace: Workspace, roles: Iterable[str], owner: str | None, state: str | None
) -> list[tuple[Process, Trigger]]:
    """What a person with `roles` may do to many cards at once: each trigger a person fires of the
    action processes they may start that act on cards of `owner` (any, when None), those a
    transition takes out of `state` (any, when None)."""
    found = []
    for process in startable(workspace, roles):
        owners = [name for name in process.acts_on if owner in (None, name)]
        if not (acts_on_cards(process) and owners):
            continue
        for name, trigger in person_triggers(process).items():
            leaving = (t for o in owners for t in workspace.process(o).transitions if t.trigger == name)
            if state is None or any(state in t.source for t in leaving):
                found.append((process, trigger))
    return found


def triggers_of_roles(workspace: Workspace, roles: Iterable[str], owner: str) -> dict[str, Trigger]:
    """The triggers the processes of `roles` fire on cards of process `owner` (an approver's decisions)."""
    held = set(roles)
    return {
        name: trigger
        for action in workspace.processes.values()
        if acts_on_cards(action) and action.actor in held and owner in action.acts_on
        for name, trigger in person_triggers(action).items()
    }


@dataclass(frozen=True)
class Desks:
    """Which roles each part of the console is for, read from the actors of the workspace's processes
    (never from role names): `batch` starts batch orders (BATCH ORDERS, the outbox, the batches),
    `decide` decides requests (the processes under "Approvals > …"), `cards` is every role a person's
    process names (the cards)."""

    batch: frozenset[str]
    decide: frozenset[str]
    cards: frozenset[str]

    def of(self, roles: Iterable[str]) -> dict[str, bool]:
        """Which parts a person with `roles` sees."""
        held = set(roles)
        return {"batch": bool(held & self.batch), "decide": bool(held & self.decide), "cards": bool(held & self.cards)}


def desks(workspace: Workspace) -> Desks:
    """The roles of each part of the console (`Desks`)."""
    people = [p for p in workspace.processes.values() if p.actor not in (SYSTEM, "any")]
    return Desks(
        batch=frozenset(p.actor for p in people if is_batch_order(p)),
        decide=frozenset(p.actor for p in people if menu(p) == APPROVALS),
        cards=frozenset(p.actor for p in people),
    )


def allowed_processes(workspace: Workspace, engine: Engine, card_id: int, actor_id: str) -> dict[str, tuple[str, ...]]:
    """Per action process a person fires (by symbolic name, in workspace order), the triggers of it
    `actor_id` may fire on a card now (its state, the actor's role, the process's prerequisites);
    processes that may fire none are left out. A reason is assumed to be given; `act` fires them."""
    options = effective_options(workspace.scripts)
    with db.reading(engine) as connection:
        actor = queries.users_by_id(connection, [actor_id]).get(actor_id)
        card = queries.get_cards(connection, [card_id]).get(card_id)
        if actor is None or card is None:
            return {}
        found = {}
        for process in workspace.processes.values():
            if process.kind != "action" or process.actor == "system" or card["process"] not in process.acts_on:
                continue
            outcomes = {
                trigger: authorize(workspace, connection, trigger, card, actor, "(given)", options, by=process)
                for trigger in process.triggers
            }
            allowed = tuple(trigger for trigger, outcome in outcomes.items() if isinstance(outcome, Authorized))
            found[process.symbolic_name] = allowed
    return {name: triggers for name, triggers in found.items() if triggers}
