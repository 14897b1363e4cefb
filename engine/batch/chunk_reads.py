"""What firing a trigger on a chunk of existing cards reads of the store, read once for the chunk.

Firing on one card reads its holder, the holder's open cards (where a rule reads `user.open_cards`),
the row of the batch that made the card, and how many orders and calls of the card were answered
before (the key of the one made now). Read card by card, that is five queries a card; a run over
cards reads each for the whole chunk in one query, when it is first needed. A card the chunk does
not hold (another card of the holder that a `fire` effect reaches) is read on its own. The chunk
has one time, as one unit of work has.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from engine.clock import now
from engine.records import Card
from engine.store import calls, open_cards, queries
from engine.store.queries import Row
from engine.store.views import card_view


@dataclass
class ChunkReads:
    """The reads of the firings on `cards` (the chunk), each made once for all of them when first needed."""

    connection: Connection
    cards: Sequence[Row]
    at: str = field(default_factory=now)  # the chunk's time: its rows are stamped with it, its rules read it as `now`
    _holders: dict[str, Row] | None = field(default=None, init=False, repr=False)
    _open: dict[frozenset[str], dict[str, int]] = field(default_factory=dict, init=False, repr=False)
    _batches: dict[str, Row | None] = field(default_factory=dict, init=False, repr=False)
    _orders: dict[int, int] | None = field(default=None, init=False, repr=False)
    _calls: dict[tuple[int, str, str], int] | None = field(default=None, init=False, repr=False)
    _held: frozenset[int] = field(default=frozenset(), init=False, repr=False)
    _users: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    _view: tuple[tuple[Any, ...], Card] | None = field(default=None, init=False, repr=False)
    #: What authorizing a trigger reads that is not the card's, by trigger, process and state (engine.batch.actions)
    steps: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._held = frozenset(card["id"] for card in self.cards)
        self._users = frozenset(card["user_id"] for card in self.cards)

    @property
    def holders(self) -> dict[str, Row]:
        """The holders of the chunk's cards, by id."""
        if self._holders is None:
            self._holders = queries.users_by_id(self.connection, self._users)
        return self._holders

    def holder(self, card: Row) -> Row:
        """The card's holder (a user no longer in the store: their id alone)."""
        return self.holders.get(card["user_id"]) or {"id": card["user_id"]}

    def view(self, card: Row) -> Card:
        """The card as expressions see it (`card_view`), made once for the card as it is: the authority
        to fire on it and the call it makes read the same view; a card that moved or was set is seen anew."""
        key = (card["id"], card["state"], card.get("fields"), card.get("requested_by"))
        if self._view is None or self._view[0] != key:
            self._view = (key, card_view(card))
        return self._view[1]

    def alone(self, card: Row) -> tuple[Row, int]:
        """The card's holder and earlier orders for a first firing, which may settle the decision for
        the chunk's other cards (then they read neither): each read for this card alone while the
        chunk's are not read yet."""
        if self._holders is not None:
            holder = self.holder(card)
        else:
            holder = queries.users_by_id(self.connection, [card["user_id"]]).get(card["user_id"]) or {"id": card["user_id"]}
        if self._orders is not None:
            return holder, self.earlier_orders(card["id"])
        return holder, queries.order_counts(self.connection, [card["id"]]).get(card["id"], 0)

    def open_cards(self, group: Collection[str], user: str) -> int:
        """How many open cards of the processes of `group` the user has, as the chunk began."""
        key = frozenset(group)
        if key not in self._open:
            self._open[key] = open_cards.counts(self.connection, key, sorted(self._users))
        if user not in self._users:
            return open_cards.counts(self.connection, key, [user]).get(user, 0)
        return self._open[key].get(user, 0)

    def batch(self, batch_id: str | None) -> Row | None:
        """The row of the batch `batch_id`, if there is one."""
        if batch_id is None:
            return None
        if batch_id not in self._batches:
            self._batches[batch_id] = queries.get_batch(self.connection, batch_id)
        return self._batches[batch_id]

    def earlier_orders(self, card: int) -> int:
        """How many orders of the card the bureau answered before this chunk."""
        if self._orders is None:
            self._orders = queries.order_counts(self.connection, self._ids())
        return self._orders.get(card, 0) if card in self._held else queries.order_counts(self.connection, [card]).get(card, 0)

    def earlier_calls(self, card: int, connector: str, operation: str) -> int:
        """How many calls of the card to the operation were answered or cancelled before this chunk."""
        if card not in self._held:
            return calls.made_before(self.connection, card, connector, operation)
        if self._calls is None:
            self._calls = calls.made_before_each(self.connection, self._ids())
        return self._calls.get((card, connector, operation), 0)

    def _ids(self) -> list[int]:
        return [card["id"] for card in self.cards]
