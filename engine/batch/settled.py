"""New cards whose start the options settle: their rows made as tuples, in the insert's column order.

Once the machine's decision for the start of a new card is settled (the options decide it, it
causes no effect and asks no bureau), every further card of the batch gets the same state and
the same decision; nothing of the card is read, so the card and its audit row are written as
tuples without a dict, a fire or a result object in between.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.batch.effects import FireContext, Work, record_decision

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
)
TRANSITION_COLUMNS = (
    "card_id",
    "process",
    "trigger",
    "source",
    "dest",
    "actor",
    "at",
    "batch_id",
    "fingerprint",
    "decision_id",
    "reason",
)


@dataclass
class SettledStart:
    """The start of a new card when its decision is settled: the rows' constant parts, and where they go."""

    dest: str
    open: bool
    group: str | None  # the exclusivity group whose key a new card takes (`GROUP:USER`), if any
    card: tuple[str, str, bool, str, str | None, str, str, str]
    audit: tuple[str, str, str, str, str, str, str, str, str, None]
    cards: list[tuple[object, ...]]
    transitions: list[tuple[object, ...]]

    def add(self, user_id: str, card_id: int) -> None:
        """The rows of a new card `card_id` for `user_id`."""
        process, dest, is_open, requester, production_type, batch, created, updated = self.card
        open_key = f"{self.group}:{user_id}" if self.group else None
        # requested_by: the actor of the start, the batch's actor, who is the requester
        self.cards.append(
            (card_id, user_id, process, dest, is_open, requester, production_type, batch, created, updated, open_key, requester)
        )
        self.transitions.append((card_id, *self.audit))


def settled_start(context: FireContext, work: Work, trigger: str, blank: dict[str, object]) -> SettledStart | None:
    """The settled start of new cards like `blank` (a new card without id or holder), else None."""
    compiled = context.compiled
    state = str(blank["state"])
    decision = compiled.settled(trigger, state)
    if decision is None or decision.dest is None or decision.effects:
        return None
    identity = record_decision(compiled, work, decision, None)
    is_open = decision.dest not in compiled.process.finals
    process, batch, at = str(blank["process"]), str(blank["batch_id"]), context.at
    production_type = blank["production_type"]
    card = (process, decision.dest, is_open, str(blank["requester"]), None if production_type is None else str(production_type))
    audit = (process, trigger, state, decision.dest, context.actor["id"], at, batch, context.fingerprint, identity, None)
    return SettledStart(
        decision.dest,
        is_open,
        compiled.group if is_open else None,
        (*card, batch, at, at),
        audit,
        work.tuples.setdefault(("cards", CARD_COLUMNS), []),
        work.tuples.setdefault(("transitions", TRANSITION_COLUMNS), []),
    )
