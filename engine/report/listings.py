"""The listings as the command line's `--json` and the API give them: cards and batches, each row
the JSON its record declares (`engine.records`), read a page at a time (`engine.store.listing`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from engine.records import Batch, Card, Progress, json_row
from engine.store import listing
from engine.store.listing import Row
from engine.store.prepared import Reads, reads

if TYPE_CHECKING:
    from sqlalchemy import Connection


@dataclass(frozen=True)
class Cards:
    """Cards as `cards --json` gives them; `bureau` says whether any card of the store has orders
    the bureau left unanswered (the table then shows a column for them)."""

    bureau: bool
    rows: Iterator[Card]


def cards(
    source: Connection | Reads,
    *,
    user: str | None = None,
    state: str | None = None,
    process: str | None = None,
    batch: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Cards:
    """Cards matching every given filter, oldest first; `bureau` on a card whose orders the bureau
    left unanswered tells how many and the last one's time and error. On an SQLite store opened by
    `engine.store.prepared.kept_reads`, nothing here imports SQLAlchemy."""
    read = reads(source)
    attempts = listing.unanswered(read)
    found = listing.cards(read, user=user, state=state, process=process, batch=batch, limit=limit, offset=offset)
    rows = (cast(Card, json_row("card", _decoded(card), bureau=attempts.get(card["id"]))) for card in found)
    return Cards(bool(attempts), rows)


def _decoded(card: Row) -> Row:
    """A listed card with its card fields as an object (the store keeps them as JSON text)."""
    card["fields"] = json.loads(card["fields"]) if card["fields"] != "{}" else {}
    return card


def batches(source: Connection | Reads, *, limit: int | None = None, offset: int = 0) -> Iterator[Batch]:
    """Batches in the order they were started; `progress`, for a batch worked by workers, is
    {done, users}: the users of its chunks done out of all its users (None for a batch run by `run`)."""
    read = reads(source)
    done = listing.progress(read)
    for batch in listing.batches(read, limit=limit, offset=offset):
        chunks = done.get(batch["id"])
        shown = Progress(done=chunks[0], users=chunks[1]) if chunks else None
        yield cast(Batch, json_row("batch", batch, progress=shown))
