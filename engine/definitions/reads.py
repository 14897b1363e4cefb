"""What a workspace reads of its users: the attributes its guards, prerequisites, effect conditions
and email templates read beyond the fields every user has. Only the store knows which users have
them; a run checks them there before any card (engine.batch.attributes), so an attribute nobody has
(a typo, `user.departmnt`) is an error instead of a guard that is quietly always false.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine import effects
from engine.definitions.expressions import ExpressionError, absence_tested, parse
from engine.definitions.model import Process, Workspace
from engine.definitions.placed import expressions_of
from engine.definitions.templates import PERSON_FIELDS, person_reads
from engine.diagnostics import Location

#: What every user has, whatever the users file held: the columns, and what a run counts.
USER_FIELDS = frozenset({"id", "name", "email", "state", "roles", "open_cards"})
#: The roots of an expression that are users of the store (the card's holder, the acting user).
USER_ROOTS = ("user", "actor")


@dataclass(frozen=True, order=True)
class UserRead:
    """An attribute of a user read somewhere in the workspace: as written (`user.departmnt`), and where."""

    location: Location
    shown: str
    name: str
    place: str


def user_reads(workspace: Workspace, names: Iterable[str]) -> list[UserRead]:
    """Every attribute beyond USER_FIELDS that the processes `names` read of a user, in file order."""
    found: set[UserRead] = set()
    for name in names:
        process = workspace.processes.get(name)
        if process is not None:
            found.update(_expression_reads(process))
            found.update(_template_reads(workspace, process))
    return sorted(found)


def emails_of(process: Process) -> set[str]:
    """The email templates a process sends."""
    return {email for transition in process.transitions for email, _ in effects.emails(transition.effects)}


def template_reads(root: Path, processes: Iterable[Process]) -> dict[str, tuple[tuple[str, str, Location], ...]]:
    """What each template the processes send reads of a person (`person_reads`), by template."""
    emails = {email for process in processes for email in emails_of(process)}
    return {email: tuple(person_reads(root, email)) for email in sorted(emails)}


def _expression_reads(process: Process) -> Iterator[UserRead]:
    for placed in expressions_of(process):
        try:
            expression = parse(placed.source.text)
        except ExpressionError:
            continue  # validate reports it
        allowed = absence_tested(placed.source.text)
        for root, attr in sorted(expression.attributes - allowed):
            if root in USER_ROOTS and attr not in USER_FIELDS:
                yield UserRead(placed.source.location, f"{root}.{attr}", attr, placed.place)


def _template_reads(workspace: Workspace, process: Process) -> Iterator[UserRead]:
    for email in sorted(emails_of(process)):
        found = workspace.template_reads.get(email)
        for attr, shown, where in person_reads(workspace.root, email) if found is None else found:
            if attr not in PERSON_FIELDS | USER_FIELDS:
                yield UserRead(where, shown, attr, f"email template {email}")
