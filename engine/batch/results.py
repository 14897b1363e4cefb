"""What a run reports: per user the card made or the reason it was skipped, and the counts of a batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.store.queries import Row

if TYPE_CHECKING:
    from engine.definitions.compile import Decision


@dataclass(frozen=True)
class Refusals:
    """How many of the orders a command placed the card bureau refused, of how many it answered."""

    refused: int
    answered: int

    @classmethod
    def counted(cls, answers: Mapping[str, int]) -> Refusals:
        """From a run's count of the bureau's answers (`accepted`, `refused`)."""
        return cls(answers.get("refused", 0), sum(answers.values()))

    @classmethod
    def of(cls, answers: Iterable[bool | None]) -> Refusals:
        """From each result's answer: True accepted, False refused, None no order placed."""
        given = [answer for answer in answers if answer is not None]
        return cls(given.count(False), len(given))

    @property
    def every(self) -> bool:
        """The bureau refused every order (there was one): nothing the command was for was done, exit 1."""
        return 0 < self.refused == self.answered


#: A result's status while its card waits for the answer of a call made after the commit (engine.batch.calls).
PENDING = "pending"


@dataclass(slots=True)
class UserResult:
    """What a run did for one user."""

    user: str
    card: int | None
    state: str | None
    status: str
    reason: str | None = None
    emails: list[tuple[str, str]] | None = None
    orders: list[bool] | None = None
    trace: Row | None = None
    rendered: list[Row] | None = None  # a plan's emails rendered (outbox rows), when it was asked for them
    order: bool | None = None  # the bureau's answer to the order placed for it: accepted or refused
    timers: list[Row] | None = None  # a plan's: the timers its card would arm (timer, fire, due)

    def as_json(self) -> Row:
        found: Row = {"user": self.user, "card": self.card, "state": self.state, "status": self.status, "reason": self.reason}
        if self.emails is not None:
            found["emails"] = [{"template": template, "to": to} for template, to in self.emails]
            found["orders"] = [{"accepted": accepted} for accepted in self.orders or []]
            found["timers"] = [{key: timer[key] for key in ("timer", "fire", "due")} for timer in self.timers or []]
        return found


def keeps(keep: bool | int, kept: int) -> bool:
    """Whether a run that keeps `keep` results (every one: True, none: False, else the first that many)
    keeps one more, having kept `kept`."""
    return keep is True or (keep is not False and kept < keep)


@dataclass
class BatchResult:
    """The outcome of a run: the batch id, and per user the card made or the reason it was skipped."""

    batch: str
    process: str
    dry_run: bool = False
    resumed: bool = False
    results: list[UserResult] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None  # why the run stopped before every user was worked on
    answers: Counter[str] = field(default_factory=Counter)  # the bureau's answers to this run's orders
    waiting: list[UserResult] = field(default_factory=list)  # PENDING: counted once their calls are answered
    nothing_selected: str | None = None  # why the selection found no user, in words (a run that did nothing)

    @property
    def refusals(self) -> Refusals:
        return Refusals.counted(self.answers)

    def add(self, result: UserResult, keep: bool | int) -> None:
        """Count a result; keep it when `keep` is True, or while fewer than `keep` (a number) are kept.
        A PENDING result waits aside, for the answer of its call."""
        if result.status == PENDING:
            self.waiting.append(result)
            return
        self.counts[result.state if result.status == "created" and result.state else result.status] += 1
        if result.order is not None:
            self.answers["accepted" if result.order else "refused"] += 1
        if keeps(keep, len(self.results)):
            self.results.append(result)

    def note(
        self, keep: bool | int, user: str, card: int | None, state: str | None, status: str, reason: str | None = None
    ) -> None:
        """Count a result as `add` does; the result object is made only when it is kept."""
        self.counts[state if status == "created" and state else status] += 1
        if keeps(keep, len(self.results)):
            self.results.append(UserResult(user, card, state, status, reason))

    def note_started(
        self, keep: bool | int, users: Sequence[str], failures: Mapping[str, str | None], cards: Sequence[int], dest: str
    ) -> None:
        """Count, as `note` does for each in turn, `users` skipped for their failure or given the next of
        `cards` in `dest` (created); only the results kept are made."""
        skipped = sum(1 for user in users if failures[user] is not None)
        for status, count in ((dest, len(users) - skipped), ("skipped", skipped)):
            if count:
                self.counts[status] += count
        room = len(users) if keep is True else max(0, keep - len(self.results)) if keep is not False else 0
        made = iter(cards)
        for user in users[:room]:
            failed = failures[user]
            self.results.append(
                UserResult(user, None, None, "skipped", failed)
                if failed is not None
                else UserResult(user, next(made), dest, "created")
            )

    def merge(self, other: BatchResult, keep: bool | int) -> None:
        """Add the counts of `other`, and its results as `add` would keep them."""
        self.counts.update(other.counts)
        self.answers.update(other.answers)
        if keep is True:
            self.results.extend(other.results)
        elif keep is not False:
            self.results.extend(other.results[: max(0, keep - len(self.results))])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> Row:
        found: Row = {"batch": self.batch, "process": self.process, "results": [r.as_json() for r in self.results]}
        if self.stopped:
            found["stopped"] = self.stopped
        if self.nothing_selected:
            found["nothing_selected"] = self.nothing_selected
        return found


def none_held(decision: Decision) -> str:
    """Why firing a trigger moved nothing, in words: no transition of it from the card's state held,
    each candidate with its guard, its result and the values it read."""
    shown = []
    for entry in decision.trace:
        read = ", ".join(f"{r['name']} = {r['value']!r}" for r in entry["reads"] if not r["name"].startswith("options."))
        guard = f"`{entry['guard']}` is {_result(entry['result'])}" if entry["guard"] else "no guard"
        shown.append(f"#{entry['transition']} ({entry['at']}) {guard}" + (f" ({read})" if read else ""))
    return f"no transition of '{decision.trigger}' from '{decision.source}' holds: {'; '.join(shown) or 'none leaves it'}"


def _result(value: object) -> str:
    return "true" if value is True else "false" if value is False else "not known"
