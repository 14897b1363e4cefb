"""Run any process, or fire any trigger a person may fire, by its name: the one entry the API and
scenarios share (the command line shares its rules).

A process that creates cards runs for the users selected (`engine.batch.run`); one that acts on
existing cards runs over the cards selected (`engine.batch.over_cards`). The rules that come before either are here once: which
selection a process takes (exactly one of users|cards, all, where; the other kind named as the
mistake it is): `request_for`, which the command line calls too. A trigger is a person's to fire when
an action process that is not the system's offers it (`person_triggers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from engine.batch.actions import trigger_roles
from engine.batch.over_cards import CardRunRequest, CardSelection, creates_cards, run_over_cards
from engine.batch.request import RunRequest, Selection, check_one_selection
from engine.batch.run import Progress, run_batch
from engine.definitions.model import Process, Workspace
from engine.diagnostics import did_you_mean
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Connector
from engine.store.pages import CardQuery
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
    query: CardQuery | None = None  # over cards: the filters that find them (a bulk action)


@dataclass(frozen=True)
class Kind:
    """One kind of run: what a process of that kind does, the ids that select for it, and the options
    only it takes (NamedRun's fields, with the command line's flags, which the API and scenarios document)."""

    works: str
    short: str
    ids: str
    flag: str
    only: tuple[tuple[str, str], ...]


#: The two kinds of run, by `creates_cards`: over users (True) and over existing cards (False).
KINDS = {
    True: Kind(
        "creates cards for users",
        "creates cards",
        "users",
        "--user",
        (("users", "--user"), ("production_type", "--production-type"), ("strict", "--strict")),
    ),
    False: Kind(
        "acts on existing cards",
        "acts on cards",
        "cards",
        "--card",
        (("cards", "--card"), ("trigger", "--trigger"), ("reason", "--reason"), ("query", "--state (a card filter)")),
    ),
}


def misplaced(process: Process, given: Iterable[str]) -> str | None:
    """Why the first of the options `given` (NamedRun's fields) that only the other kind of run takes
    does not fit `process`, saying what to use instead; None when every one fits."""
    mine, other = KINDS[creates_cards(process)], KINDS[not creates_cards(process)]
    flags = dict(other.only)
    wrong = next((flags[name] for name in given if name in flags), None)
    if wrong is None:
        return None
    return (
        f"{process.symbolic_name} {mine.works}: {wrong} is for a process that {other.short}; "
        f"choose {mine.ids} with {mine.flag}, --all or --where"
    )


def request_for(workspace: Workspace, request: NamedRun) -> RunRequest | CardRunRequest:
    """The request of the process's kind of run, once every option given fits it (`misplaced`) and it
    selects exactly one way; the command line, the API and scenarios all come through here."""
    process = workspace.process(request.process)
    kind = KINDS[creates_cards(process)]
    given = [name for name in _OPTIONS if getattr(request, name) not in (None, False, ())]
    problem = misplaced(process, given)
    if problem:
        raise UsageError(problem)
    if not request.query:  # filters select on their own, or with --where (check_card_selection)
        check_one_selection(kind.ids, kind.flag, getattr(request, kind.ids), request.all, request.where)
    if creates_cards(process):
        selection = Selection(request.users, request.all, request.where)
        return RunRequest(
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
    return CardRunRequest(
        process.symbolic_name,
        request.actor,
        CardSelection(request.cards, request.all, request.where, request.query or None),
        request.trigger,
        request.reason,
        request.dry_run,
        request.batch_id,
        request.overrides,
        request.sources,
    )


#: The options of a NamedRun that belong to one kind of run or the other.
_OPTIONS = tuple(name for kind in KINDS.values() for name, _ in kind.only)


def run_by_name(
    workspace: Workspace, engine: Engine, request: NamedRun, connector: Connector, *, progress: Progress | None = None
) -> Answer:
    """Run `request.process` over what it selects (see the module docstring)."""
    asked = request_for(workspace, request)
    if isinstance(asked, RunRequest):
        return run_batch(workspace, engine, asked, connector, progress=progress)
    return run_over_cards(workspace, engine, asked, connector, progress=progress)


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
