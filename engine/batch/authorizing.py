"""Who may fire a trigger on a card now: the action processes that fire it on cards of the card's
process, their role and reason rules and their prerequisites over the card and its holder, and
whether a transition of the trigger leaves the card's state under the options in force. What does
not depend on the card is worked out once for a chunk's cards of one process in one state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection

from engine.batch.chunk_reads import ChunkReads
from engine.clock import now
from engine.definitions.compile import CompiledProcess, compile_process
from engine.definitions.expressions import parse
from engine.definitions.model import Process, Workspace
from engine.definitions.options import EffectiveOptions
from engine.errors import clause
from engine.store import open_cards, queries
from engine.store.queries import Row
from engine.store.views import card_view

#: The built-in actor of the system's processes (engine.batch.actions.system_actor gives it its role).
SYSTEM: Row = {"id": "system", "name": "cardflow batch sync", "email": "", "state": "active", "roles": ["system"]}


@dataclass
class Authorized:
    """The action that may fire a trigger on a card now, with what firing it reads."""

    action: Process
    compiled: CompiledProcess
    holder: Row
    workspace: Workspace
    options: EffectiveOptions


def authorize(
    workspace: Workspace,
    connection: Connection,
    trigger: str,
    card: Row,
    actor: Row,
    reason: str | None,
    options: EffectiveOptions,
    *,
    by: Process | None = None,
    reads: ChunkReads | None = None,
) -> Authorized | str:
    """The action that may fire `trigger` on the card now (`by`: only that action process), or why none
    may; `reads`: the store's answers read once for the chunk of cards the card is in (and what does
    not depend on the card, worked out once for the chunk's cards of one process in one state)."""
    key = (trigger, card["process"], card["state"], id(by), actor["id"], reason, id(options), id(workspace))
    steps = reads.steps if reads is not None else {}
    step = steps.get(key)
    if step is None:
        step = steps[key] = _step(workspace, trigger, card["process"], card["state"], actor, reason, options, by)
    if isinstance(step, str):
        return step
    if reads is None:
        holder = queries.users_by_id(connection, [card["user_id"]]).get(card["user_id"]) or {"id": card["user_id"]}
        holder = {**holder, "open_cards": open_cards.counts(connection, step.group, [holder["id"]]).get(holder["id"], 0)}
    elif step.counts_open:
        holder = reads.holder(card)
        holder = {**holder, "open_cards": reads.open_cards(step.group, holder["id"])}
    else:  # nothing the firing reads counts the holder's open cards (a chunk's run need not)
        holder = reads.holder(card)
    at = reads.at if reads else now()
    reasons: list[str] = []
    for action, before, options_read, after in step.actions:
        problem = before or _prerequisite_failed(action, card, holder, actor, options_read, at, reads) or after
        if problem is None:
            if step.fires:
                return Authorized(action, step.compiled, holder, workspace, options)
            problem = f"no '{trigger}' transition leaves state '{card['state']}' under the options in force"
        if problem not in reasons:
            reasons.append(problem)
    return "; ".join(map(clause, reasons))


class _Step(NamedTuple):
    """What authorizing a trigger on a card reads that is not the card's: its process's actions that
    fire it (each with `_static_problems`), the exclusivity group, whether the firing counts the
    holder's open cards, and whether a transition of it leaves the card's state."""

    actions: tuple[tuple[Process, str | None, Mapping[str, Any], str | None], ...]
    group: dict[str, str]
    counts_open: bool
    compiled: CompiledProcess
    fires: bool


def _step(
    workspace: Workspace, trigger: str, process: str, state: str, actor: Row, reason: str | None, options: EffectiveOptions,
    by: Process | None,
) -> _Step | str:  # fmt: skip
    """`_Step` for the cards of `process` in `state`, or why none of them may be fired on."""
    owner = workspace.processes.get(process)
    if owner is None:
        return f"its process {process} is not defined in this workspace"
    actions = [
        p
        for p in ([by] if by is not None else workspace.processes.values())
        if p.kind == "action" and trigger in p.triggers and owner.symbolic_name in p.acts_on
    ]
    if not actions:
        acts = f" ({by.symbolic_name} acts on cards of {', '.join(by.acts_on)})" if by else ""
        return f"no process fires '{trigger}' on cards of {owner.symbolic_name}{acts}"
    counts_open = (trigger, state) in owner.steps_count_open or any(action.prerequisites_count_open for action in actions)
    compiled = compile_process(owner, options, workspace.fingerprint)
    return _Step(
        tuple((action, *_static_problems(action, trigger, actor, reason, options)) for action in actions),
        workspace.exclusive_group(owner),
        counts_open,
        compiled,
        compiled.can_fire(trigger, state),
    )


def action_problem(
    action: Process, trigger: str, card: Row, holder: Row, actor: Row, reason: str | None, options: EffectiveOptions, at: str
) -> str | None:
    """Why `actor` may not fire `trigger` of `action` on the card now, else None."""
    before, options_read, after = _static_problems(action, trigger, actor, reason, options)
    return before or _prerequisite_failed(action, card, holder, actor, options_read, at) or after


def _static_problems(
    action: Process, trigger: str, actor: Row, reason: str | None, options: EffectiveOptions
) -> tuple[str | None, Mapping[str, Any], str | None]:
    """What of an action's problems does not depend on the card: who acts (weighed before the
    prerequisites), the options the prerequisites read, and a missing reason (weighed after them)."""
    before = None
    if action.actor == "system" and actor["id"] != SYSTEM["id"]:
        before = f"'{trigger}' is done by the batch sync ({action.symbolic_name}), not by a user"
    elif action.actor not in ("any", "system") and action.actor not in actor["roles"]:
        before = f"{actor['id']} does not have the {action.actor} role ({action.symbolic_name})"
    after = None
    if action.triggers[trigger].reason == "required" and not (reason and reason.strip()):
        after = f"'{trigger}' needs a reason (--reason)"
    return before, options.for_scripts(action.options).read, after


def _prerequisite_failed(
    action: Process,
    card: Row,
    holder: Row,
    actor: Row,
    options_read: Mapping[str, Any],
    at: str,
    reads: ChunkReads | None = None,
) -> str | None:
    """The message of the action's first prerequisite the card and its holder fail, else None (the
    card seen through the chunk's `reads`, which the call it then makes sees too)."""
    if not action.prerequisites:
        return None
    view = reads.view(card) if reads is not None else card_view(card)
    scope = {"user": holder, "card": view, "options": options_read, "actor": actor, "now": at}
    for prerequisite in action.prerequisites:
        if parse(prerequisite.rule.text).truth(scope)[0] is not True:
            return prerequisite.message
    return None
