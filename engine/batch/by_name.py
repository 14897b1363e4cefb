"""Run any process, or fire any trigger a person may fire, by its name: the one entry the API and
scenarios share.

A process that creates cards runs for the users selected (`engine.batch.run`); one that acts on
existing cards runs over the cards selected (`engine.batch.over_cards`). The rules that come before either are here once: which
selection a process takes (exactly one of users|cards, all, where; the other kind named as the
mistake it is), and that a dry run talks to a simulated bureau. A trigger is a person's to fire when
an action process that is not the system's offers it (`person_triggers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from engine.batch.actions import trigger_roles
from engine.batch.over_cards import CardRunRequest, CardSelection, creates_cards, run_over_cards
from engine.batch.request import RunRequest, Selection
from engine.batch.run import Progress, run_batch
from engine.definitions.model import Process, Workspace
from engine.diagnostics import did_you_mean
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Connector, Simulated
from engine.store.queries import Row


class Answer(Protocol):
    """What a run by name gives back: the JSON of `cardflow run NAME --json`."""

    def as_json(self) -> Row: ...


@dataclass(frozen=True)
class NamedRun:
    """Everything `cardflow run NAME` is given, for either kind of process."""

    process: str
    actor: str
    users: tuple[str, ...] = ()
    cards: tuple[int, ...] = ()
    all: bool = False
    where: str | None = None
    trigger: str | None = None
    reason: str | None = None
    production_type: str | None = None
    batch_id: str | None = None
    dry_run: bool = False
    strict: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)


def run_by_name(
    workspace: Workspace, engine: Engine, request: NamedRun, connector: Connector, *, progress: Progress | None = None
) -> Answer:
    """Run `request.process` over what it selects (see the module docstring); a dry run's bureau is simulated."""
    process = workspace.process(request.process)
    bureau = Simulated() if request.dry_run else connector
    if creates_cards(process):
        _check_selection(process, request, "users", "cards", "creates a card for each user selected")
        if request.trigger is not None or request.reason is not None:
            raise UsageError(f"{process.symbolic_name} creates cards for users: trigger and reason are for a process over cards")
        selection = Selection(request.users, request.all, request.where)
        run = RunRequest(
            process.symbolic_name,
            request.actor,
            selection,
            request.overrides,
            request.production_type,
            request.batch_id,
            request.dry_run,
            request.strict,
            request.sources,
        )
        return run_batch(workspace, engine, run, bureau, progress=progress)
    _check_selection(process, request, "cards", "users", "acts on the existing cards selected")
    if request.production_type is not None or request.strict:
        raise UsageError(f"{process.symbolic_name} acts on existing cards: production_type and strict do not apply")
    over = CardRunRequest(
        process.symbolic_name,
        request.actor,
        CardSelection(request.cards, request.all, request.where),
        request.trigger,
        request.reason,
        request.dry_run,
        request.batch_id,
        request.overrides,
        request.sources,
    )
    return run_over_cards(workspace, engine, over, connector, progress=progress)


def _check_selection(process: Process, request: NamedRun, mine: str, other: str, works: str) -> None:
    """Exactly one of `mine`, all, where; `other` (the other kind's ids) is named as the mistake."""
    if getattr(request, other):
        raise UsageError(f"{process.symbolic_name} {works}: choose them with {mine}, all or where, not {other}")
    if sum((bool(getattr(request, mine)), request.all, request.where is not None)) != 1:
        raise UsageError(f"choose the {mine} with exactly one of {mine}, all or where")


def person_triggers(workspace: Workspace) -> list[str]:
    """Every trigger an action process lets a person fire (the batch sync's aside), in the order declared."""
    return list(
        dict.fromkeys(
            trigger
            for process in workspace.processes.values()
            if process.kind == "action" and process.actor != "system"
            for trigger in process.triggers
        )
    )


def check_person_trigger(workspace: Workspace, trigger: str, actor: Row) -> None:
    """Before any card is read: a trigger no action process lets a person fire is a usage error naming
    the ones there are; one the actor has no role for is refused."""
    roles = trigger_roles(workspace, trigger)
    if not roles:
        known = person_triggers(workspace)
        raise UsageError(f"unknown action '{trigger}'{did_you_mean(trigger, known)} (the actions: {', '.join(known)})")
    if "any" not in roles and not roles & set(actor["roles"]):
        raise Refused(f"{actor['id']} does not have the {' or '.join(sorted(roles))} role needed to {trigger}")
