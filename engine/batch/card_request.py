"""What an operator asks a run over existing cards for, and the checks made before any card: which
cards, which trigger, and what a `--where` over cards may read. Nothing here writes;
`engine.batch.over_cards` carries the request out."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from engine.batch.request import check_one_selection, check_where_attributes, selection_expression
from engine.definitions.compared import never_compared
from engine.definitions.expressions import Compiled
from engine.definitions.model import Process, Workspace
from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.records import readable_fields
from engine.store import card_runs
from engine.store.pages import CardQuery
from engine.store.queries import Row

#: What a `--where` may read of a card: the fields of the card as expressions see it.
CARD_FIELDS = readable_fields("card")


@dataclass(frozen=True)
class CardSelection:
    """Which cards a run is for: exactly one of explicit ids, every card the trigger may move, or those
    matching `where`; or those a `query` finds (its filters read by the store), narrowed by `where`."""

    cards: tuple[int, ...] = ()
    all: bool = False
    where: str | None = None  # an expression over `card` and `user` (the holder)
    query: CardQuery | None = None

    def describe(self) -> Row:
        described = {"cards": list(self.cards), "all": self.all, "where": self.where}
        return {**described, "query": self.query.describe()} if self.query else described

    @classmethod
    def described(cls, described: Row) -> CardSelection:
        """The selection `describe` gave (a batch row's, to resume it)."""
        query = CardQuery.described(described["query"]) if described.get("query") else None
        return cls(tuple(described.get("cards") or ()), bool(described.get("all")), described.get("where"), query)


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


def card_where(
    connection: Connection, where: str | None, declared: frozenset[str] = frozenset(), closed: Mapping[str, Collection[Any]] = {}
) -> Compiled | None:
    """The parsed --where over `card` and `user` (the holder); a field no card or no user has is an
    error, as is a value a closed field never takes (`declared`: the card fields of the cards the run
    acts on; `closed`: their fields whose values are known, the state among them)."""
    expression = selection_expression(where, frozenset({"card", "user"}))
    if expression is None:
        return None
    known = CARD_FIELDS | declared
    for root, name in sorted(expression.attributes):
        if root == "card" and name not in known:
            raise UsageError(f"--where: a card has no field 'card.{name}'{did_you_mean(name, known)}")
    for found in never_compared(expression.source, "card", closed):
        raise UsageError(f"--where: {found.said('card', ' for the cards this run acts on')}")
    check_where_attributes(connection, expression)
    return expression


def check_card_selection(connection: Connection, selection: CardSelection) -> None:
    """Exactly one of cards, all, where (or filters, which `where` may narrow); every card named is in the store."""
    if selection.query:
        if selection.cards or selection.all:
            raise UsageError("choose the cards with filters or with --card/--all, not both")
    else:
        check_one_selection("cards", "--card", selection.cards, selection.all, selection.where)
    if selection.cards:
        known = card_runs.known_card_ids(connection, list(dict.fromkeys(selection.cards)))
        missing = [str(card) for card in dict.fromkeys(selection.cards) if card not in known]
        if missing:
            raise UsageError(f"unknown card(s): {', '.join(missing)}")


def check_query(workspace: Workspace, process: Process, query: CardQuery | None) -> None:
    """The filters name a process whose cards `process` acts on and a state such cards have."""
    if not query:
        return
    owners = list(process.acts_on)
    if query.process and query.process not in owners:
        hint = did_you_mean(query.process, owners)
        raise UsageError(f"--card-process {query.process}: {process.symbolic_name} acts on cards of {', '.join(owners)}{hint}")
    found = [query.process] if query.process else owners
    states = sorted({state for owner in found for state in workspace.process(owner).states})
    if query.state and query.state not in states:
        hint = did_you_mean(query.state, states)
        raise UsageError(f"--state {query.state}: the cards {process.symbolic_name} acts on have no state '{query.state}'{hint}")
