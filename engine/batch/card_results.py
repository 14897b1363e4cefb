"""What a run over cards did: per card, done (from, to) or refused with the reason, counted for every
card and kept for every one or for the first few (a run over a million cards keeps its counts, not a
million results)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.batch.results import Refusals, keeps
from engine.store.queries import Row


@dataclass(slots=True)
class CardResult:
    """What a run did to one card: done (from, to) or refused with the reason."""

    card: int
    user: str
    source: str
    dest: str | None
    status: str
    reason: str | None = None
    order: bool | None = None  # the bureau's answer to an order the trigger placed
    waiting: bool = False  # the bureau did not answer: running the batch again fires it

    def as_json(self) -> Row:
        found = {"card": self.card, "user": self.user, "from": self.source, "to": self.dest}
        return {**found, "status": self.status, "reason": self.reason}


@dataclass
class CardRun:
    """The outcome of a run over cards: the batch, what was done to each card counted, and the results
    kept (`keep`: every one when True, else at most that many, the first)."""

    batch: str
    process: str
    trigger: str
    dry_run: bool = False
    resumed: bool = False
    results: list[CardResult] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # by status, of every card
    answers: Counter[str] = field(default_factory=Counter)  # the bureau's answers to the run's orders
    unanswered: int = 0  # cards whose order the bureau did not answer: run the batch again
    stopped: str | None = None  # why the run stopped before the end (the bureau is down, a pause)
    paused_by: str | None = None  # who paused the batch (`cardflow batches pause`): resuming finishes it
    partial: bool = False  # a dry run that stopped after the cards it was to read at most (a preview)
    nothing_selected: str | None = None  # why the selection found no card, in words (a run that did nothing)
    keep: bool | int = field(default=True, repr=False)

    @property
    def refusals(self) -> Refusals:
        return Refusals.counted(self.answers)

    @property
    def total(self) -> int:
        """How many cards the run worked on (kept or not)."""
        return sum(self.counts.values())

    def add(self, found: Iterable[CardResult]) -> None:
        """Count each result; keep it while the run keeps results."""
        for result in found:
            self.counts[result.status] += 1
            if result.order is not None:
                self.answers["accepted" if result.order else "refused"] += 1
            self.unanswered += result.waiting
            if keeps(self.keep, len(self.results)):
                self.results.append(result)

    def as_json(self) -> Row:
        found: Row = {"batch": self.batch, "process": self.process, "results": [result.as_json() for result in self.results]}
        if self.nothing_selected:
            found["nothing_selected"] = self.nothing_selected
        return found
