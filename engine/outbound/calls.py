"""An external call and its answer, whatever system it goes to: the card bureau, a webhook, a folder
of print jobs. A connector turns a `Call` into a `CallAnswer` and never raises for what the other
side does: its problems are answers too.

The three outcomes route the card: `accepted` (the other side took it, perhaps with a reference of
its own: an order id, a print job), `refused` (it said no, with its reason: trying again will not
help) and `unavailable` (no usable answer now: the call is tried again later, under the same
idempotency key, so a receiver that deduplicates by key never acts twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["accepted", "refused", "unavailable"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "refused", "unavailable")


@dataclass(frozen=True)
class Call:
    """One call: which operation of which connector, under which idempotency key, with what data, for
    which card."""

    connector: str
    operation: str
    key: str
    payload: Mapping[str, Any]
    card: int | None = None


@dataclass(frozen=True)
class CallAnswer:
    """What came back: the outcome, the other side's reference for what it took, its message."""

    outcome: Outcome
    reference: str | None = None
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"
