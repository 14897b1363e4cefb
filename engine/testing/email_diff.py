"""The emails of a diff: the same email rendered under both sides, compared part by part.

Emails pair up per user by template and recipient, in the order they were made. A pair whose
subject, text or HTML differs counts for its template and locale; the first pair found of each is
kept as the sample, shown as a unified diff of the rendered email ("Subject:", the text, the HTML).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.store.queries import Row

#: The parts of a rendered email as outbox rows hold them, and how a reader calls them.
PARTS = {"subject": "subject", "body_text": "text", "body_html": "html"}


@dataclass
class EmailChange:
    """A template (in one locale) whose emails differ between the sides, with one sample shown."""

    template: str
    locale: str | None
    user: str
    recipient: str
    card: int | None
    parts: list[str]
    lines: list[str]
    count: int = 1

    @property
    def name(self) -> str:
        return f"{self.template} ({self.locale})" if self.locale else self.template

    def as_json(self) -> Row:
        return {
            "template": self.template,
            "locale": self.locale,
            "count": self.count,
            "parts": self.parts,
            "sample": {"user": self.user, "recipient": self.recipient, "card": self.card},
            "diff": self.lines,
        }


@dataclass
class EmailChanges:
    """The emails that differ, by template and locale, in the order first found."""

    found: dict[tuple[str, str | None], EmailChange] = field(default_factory=dict)
    cards: bool = True  # whether a sample names its card (a plan's card ids are only planned)

    @property
    def count(self) -> int:
        return sum(change.count for change in self.found.values())

    def compare(self, user: str, left: Iterable[Row], right: Iterable[Row]) -> None:
        """Compare one user's emails on both sides (outbox rows, rendered)."""
        for before, after in _pairs(left, right):
            parts = [name for column, name in PARTS.items() if before[column] != after[column]]
            if not parts:
                continue
            key = (after["template"], after["locale"])
            if key in self.found:
                self.found[key].count += 1
            else:
                card = after["card_id"] if self.cards else None
                lines = _unified(before, after)
                self.found[key] = EmailChange(key[0], key[1], user, after["recipient"], card, parts, lines)

    def summary(self) -> list[str]:
        if not self.found:
            return []
        each = ", ".join(f"{change.name} {_emails(change.count)}" for change in self.found.values())
        return [f"{_emails(self.count)} rendered differently: {each}"]

    def details(self) -> list[str]:
        """Per template and locale, the sample's diff, for a reader."""
        lines = []
        for change in self.found.values():
            card = f", card {change.card}" if change.card is not None else ""
            verb = "differs" if len(change.parts) == 1 else "differ"
            lines += ["", f"{change.name}: {', '.join(change.parts)} {verb}; for example to {change.recipient}{card}:"]
            lines += [f"  {line}".rstrip() for line in change.lines]
        return lines

    def as_json(self) -> list[Row]:
        return [change.as_json() for change in self.found.values()]


def _pairs(left: Iterable[Row], right: Iterable[Row]) -> list[tuple[Row, Row]]:
    """The emails of both sides paired by template and recipient, in the order they were made."""
    waiting: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in left:
        waiting[(row["template"], row["recipient"])].append(row)
    pairs = []
    for row in right:
        same = waiting.get((row["template"], row["recipient"]))
        if same:
            pairs.append((same.pop(0), row))
    return pairs


def _unified(before: Row, after: Row) -> list[str]:
    """The two renderings of an email as a unified diff, with two lines of context."""
    name = f"{after['template']}" + (f" ({after['locale']})" if after["locale"] else "") + f" to {after['recipient']}"
    return list(difflib.unified_diff(_document(before), _document(after), f"left: {name}", f"right: {name}", n=2, lineterm=""))


def _document(row: Row) -> list[str]:
    """A rendered email as lines: the subject, the text, then the HTML."""
    return [
        f"Subject: {row['subject']}",
        "",
        *str(row["body_text"]).splitlines(),
        "",
        "HTML:",
        *str(row["body_html"]).splitlines(),
    ]


def _emails(count: int) -> str:
    return f"{count} email{'s' if count != 1 else ''}"
