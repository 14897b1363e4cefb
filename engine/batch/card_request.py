"""What an operator asks a run over existing cards for, and the checks made before any card: which
cards, which trigger, and what a `--where` over cards may read. Nothing here writes;
`engine.batch.over_cards` carries the request out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from engine.batch.request import check_one_selection, check_where_attributes, selection_expression
from engine.definitions.expressions import Compiled
from engine.definitions.model import Process
from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.records import readable_fields
from engine.store import card_runs
from engine.store.queries import Row

#: What a `--where` may read of a card: the fields of the card as expressions see it.
CARD_FIELDS = readable_fields("card")


@dataclass(frozen=True)
class CardSelection:
    """Which cards a run is for: exactly one of explicit ids, every card the trigger may move, or those matching `where`."""

    cards: tuple[int, ...] = ()
    all: bool = False
    where: str | None = None  # an expression over `card` and `user` (the holder)

    def describe(self) -> Row:
        return {"cards": list(self.cards), "all": self.all, "where": self.where}


@dataclass(frozen=True)
class CardRunRequest:
    """Everything an operator gives `cardflow run` for a process that acts on existing cards."""

    process: str  # the action process's symbolic name
    actor: str
    selection: CardSelection
    trigger: str | None = None  # required when the process declares several triggers a person fires
    reason: str | None = None
    dry_run: bool = False
    batch_id: str | None = None  # names the batch; an existing id resumes it
    overrides: Mapping[str, Any] = field(default_factory=dict)  # --set
    sources: Mapping[str, str] = field(default_factory=dict)


def choose_trigger(process: Process, asked: str | None) -> str:
    """The trigger a run of the action fires: the one it declares, or the one `--trigger` names among several."""
    offered = [name for name, spec in process.triggers.items() if spec.bureau_status is None]
    if asked is not None:
        if asked not in offered:
            hint = did_you_mean(asked, offered)
            raise UsageError(f"--trigger {asked}: {process.symbolic_name} fires {', '.join(offered)}, not '{asked}'{hint}")
        return asked
    if len(offered) != 1:
        raise UsageError(f"{process.symbolic_name} fires several triggers ({', '.join(offered)}): choose one with --trigger")
    return offered[0]


def card_where(connection: Connection, where: str | None, declared: frozenset[str] = frozenset()) -> Compiled | None:
    """The parsed --where over `card` and `user` (the holder); a field no card or no user has is an
    error (`declared`: the card fields of the cards the run acts on)."""
    expression = selection_expression(where, frozenset({"card", "user"}))
    if expression is None:
        return None
    known = CARD_FIELDS | declared
    for root, name in sorted(expression.attributes):
        if root == "card" and name not in known:
            raise UsageError(f"--where: a card has no field 'card.{name}'{did_you_mean(name, known)}")
    check_where_attributes(connection, expression)
    return expression


def check_card_selection(connection: Connection, selection: CardSelection) -> None:
    """Exactly one of cards, all, where; every card named is in the store."""
    check_one_selection("cards", "--card", selection.cards, selection.all, selection.where)
    if selection.cards:
        known = card_runs.known_card_ids(connection, list(dict.fromkeys(selection.cards)))
        missing = [str(card) for card in dict.fromkeys(selection.cards) if card not in known]
        if missing:
            raise UsageError(f"unknown card(s): {', '.join(missing)}")
