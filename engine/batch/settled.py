"""New cards whose start the options settle: their rows made as tuples, in the insert's column order.

Once the machine's decision for the start of a new card is settled (the options decide it, it
asks no bureau, and its effects, if any, are `set`s of values read from the options alone), every
further card of the batch gets the same state, the same decision and the same card fields; nothing
of the card is read, so the card and its audit row are written as tuples without a dict, a fire or
a result object in between.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.batch.effects import FireContext, Work, record_decision
from engine.batch.work import TRANSITION_COLUMNS as TRANSITION_COLUMNS
from engine.definitions.compile import CompiledProcess, Decision
from engine.definitions.expressions import parse
from engine.definitions.fields import value_problem
from engine.effects.set_fields import Set

CARD_COLUMNS = (
    "id",
    "user_id",
    "process",
    "state",
    "open",
    "requester",
    "production_type",
    "batch_id",
    "created_at",
    "updated_at",
    "open_key",
    "requested_by",
    "fields",
)


@dataclass
class SettledStart:
    """The start of a new card when its decision is settled: the rows' constant parts, and where they go."""

    dest: str
    open: bool
    group: str | None  # the exclusivity group whose key a new card takes (`GROUP:USER`), if any
    card: tuple[str, str, bool, str, str | None, str, str, str]
    audit: tuple[str, str, str, str, str, str, str, str, str, None, str | None]
    fields: str  # the card fields every new card gets (JSON)
    cards: list[tuple[object, ...]]
    transitions: list[tuple[object, ...]]

    def add(self, user_id: str, card_id: int) -> None:
        """The rows of a new card `card_id` for `user_id`."""
        process, dest, is_open, requester, production_type, batch, created, updated = self.card
        open_key = f"{self.group}:{user_id}" if self.group else None
        # requested_by: the actor of the start, the batch's actor, who is the requester
        self.cards.append(
            (card_id, user_id, process, dest, is_open, requester, production_type, batch, created, updated, open_key, requester,
             self.fields)
        )  # fmt: skip
        self.transitions.append((card_id, *self.audit))

    def add_many(self, user_ids: Sequence[str], card_ids: Sequence[int]) -> None:
        """The rows of new cards `card_ids` for `user_ids`, in turn (as `add` for each, in bulk)."""
        process, dest, is_open, requester, production_type, batch, created, updated = self.card
        group, fields, audit = self.group, self.fields, self.audit
        self.cards += [
            (card_id, user_id, process, dest, is_open, requester, production_type, batch, created, updated,
             f"{group}:{user_id}" if group else None, requester, fields)
            for user_id, card_id in zip(user_ids, card_ids, strict=True)
        ]  # fmt: skip
        self.transitions += [(card_id, *audit) for card_id in card_ids]


def settled_start(context: FireContext, work: Work, trigger: str, blank: dict[str, object]) -> SettledStart | None:
    """The settled start of new cards like `blank` (a new card without id or holder), else None."""
    compiled = context.compiled
    state = str(blank["state"])
    decision = compiled.settled(trigger, state)
    if decision is None or decision.dest is None:
        return None
    given = _settled_fields(compiled, decision)
    if given is None:
        return None
    identity = record_decision(compiled, work, decision, None)
    is_open = decision.dest not in compiled.process.finals
    process, batch, at = str(blank["process"]), str(blank["batch_id"]), context.at
    production_type = blank["production_type"]
    card = (process, decision.dest, is_open, str(blank["requester"]), None if production_type is None else str(production_type))
    set_fields = json.dumps(given, sort_keys=True) if given else None
    audit = (
        process,
        trigger,
        state,
        decision.dest,
        context.actor["id"],
        at,
        batch,
        context.fingerprint,
        identity,
        None,
        set_fields,
    )
    return SettledStart(
        decision.dest,
        is_open,
        compiled.group if is_open else None,
        (*card, batch, at, at),
        audit,
        set_fields or str(blank["fields"]),
        work.tuples.setdefault(("cards", CARD_COLUMNS), []),
        work.audit(),
    )


def _settled_fields(compiled: CompiledProcess, decision: Decision) -> dict[str, Any] | None:
    """The card fields the decision's effects give every new card: each effect a `set` whose values
    read the options alone and fit their fields ({} without effects); None when any effect does
    something else or may differ from card to card (those cards are fired one by one)."""
    given: dict[str, Any] = {}
    for effect in decision.effects:
        if not isinstance(effect, Set):
            return None
        for name, source in effect.set:
            expression = parse(source.text)
            declared = compiled.process.fields.get(name)
            if not expression.roots <= {"options"} or declared is None:
                return None
            value = expression.evaluate({"options": compiled.option_values})[0]
            if value_problem(declared, value) is not None:
                return None  # refused card by card, with why
            given[name] = value
    return given
