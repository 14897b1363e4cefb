"""What every effect kind declares: the shared keys of an effect, the `Kind` record a kind module
exports, and the shapes of what firing hands a kind (the unit of work and the fire context, as
`engine.batch.effects` builds them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from engine.diagnostics import Diagnostic, Location, Source
from engine.store.views import card_view

if TYPE_CHECKING:
    from sqlalchemy import Connection

Row = dict[str, Any]
Schema = dict[str, Any]
#: The location of a node under the effect's own entry (`("set", "valid_until")`), for diagnostics.
At = Callable[[tuple[Any, ...]], Location]

#: The keys every effect may carry besides its kind's: a condition, over what an effect may read.
SHARED: Schema = {"when": {"type": "string", "required": False, "empty": False}}


@dataclass(frozen=True)
class Effect:
    """An effect of a transition: its kind's keys (in a subclass), its condition and where it stands."""

    KIND: ClassVar[str] = ""

    when: Source | None
    location: Location

    @property
    def kind(self) -> str:
        return self.KIND


class Work(Protocol):
    """The rows of one unit of work (`engine.batch.effects.Work`): by table, and the approvers' emails to merge."""

    rows: dict[str, list[Row]]
    changes: list[Row]
    approvals: dict[str, list[Row]]

    def gathered(self, table: str, columns: tuple[str, ...]) -> list[tuple[object, ...]]: ...

    def audit(self) -> list[tuple[object, ...]]:
        """The audit rows gathered, each a tuple whose last value is the card fields a `set` gave (JSON, or None)."""
        ...


class FireContext(Protocol):
    """What firing has besides the card (`engine.batch.effects.FireContext`)."""

    compiled: Any
    templates: Any
    actor: Row
    at: str
    email_keys: Iterator[str]
    views: dict[str, Any]  # people other than a card's holder as emails show them, made once a context

    def user(self, user_id: str) -> Row | None: ...

    def users_with_role(self, role: str) -> list[Row]: ...

    def approvers_of(self, card: Row) -> list[Row]: ...

    def holder_cards(self, firing: Firing) -> list[Row]: ...

    def compiled_for(self, process: str) -> Any: ...

    def cascade(self, firing: Firing, card: Row, trigger: str) -> None: ...


@dataclass(slots=True)
class Firing:
    """One effect being fired: the card (already in its new state), its holder, the reason given and
    the batch, with the scope its expressions read; the trigger fired, and who made the request it
    decides (who moved the card into the state it left, else who created it)."""

    context: FireContext
    work: Work
    card: Row
    holder: Row
    reason: str | None
    batch: Mapping[str, Any]
    trigger: str = ""
    requester: str | None = None

    def scope(self) -> dict[str, Any]:
        """What an effect's expressions read: user, card, options, batch, actor and now."""
        return {
            "user": self.holder,
            "card": card_view(self.card),
            "options": self.context.compiled.option_values,
            "batch": self.batch,
            "actor": self.context.actor,
            "now": self.context.at,
        }


def _none(effect: Any, *args: Any) -> Iterator[Any]:
    return iter(())


def _nothing(effect: Any) -> tuple[Any, ...]:
    return ()


@dataclass(frozen=True)
class Kind:
    """An effect kind, as its module declares it (the registry maps its name to it).

    `schema`: its keys (the kind key first), cerberus rules, besides the shared `when`.
    `build`: its frozen dataclass from a validated entry, its condition, its location and `At`.
    `fire`: the rows it adds to the unit of work. `describe`: one line for `show`.
    `check`: diagnostics of meaning (the effect, its process, every process by name).
    `expressions`: the expressions it evaluates when it fires (checked like conditions).
    `emails`: (template, recipient) of each email it sends (the templates' checks, preview, matrix).
    `refusal`: why the card must not move (checked before anything of the card is written), or None.
    `flush`: what it writes when the unit of work is written, after its rows (given the cards lost).
    """

    name: str
    schema: Schema
    build: Callable[[Mapping[str, Any], Source | None, Location, At], Effect]
    fire: Callable[[Any, Firing], None]
    describe: Callable[[Any], str]
    check: Callable[[Any, Any, Mapping[str, Any]], Iterator[Diagnostic]] = _none  # (effect, Process, processes)
    expressions: Callable[[Any], tuple[Source, ...]] = _nothing
    emails: Callable[[Any], tuple[tuple[str, str], ...]] = _nothing
    refusal: Callable[[Any, Firing], str | None] | None = None
    flush: Callable[[Connection, FireContext, Work, set[int]], None] | None = None
