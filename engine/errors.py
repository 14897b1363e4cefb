"""The exception tree: content problems are values (diagnostics); these are for refusals and misuse.

Every error has one JSON shape, the same on the command line (`--json`, on stdout) and in the API:
`{"error": {"code": CODE, "message": TEXT, "details": [...]}}` (`error_json`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def error_json(code: str, message: str, details: Iterable[Any] = ()) -> dict[str, Any]:
    """The one JSON shape of an error: a stable code, the one-line message, and the details behind it."""
    return {"error": {"code": code, "message": message, "details": list(details)}}


def clause(message: str) -> str:
    """A message as one clause of a longer one: without its closing full stop (no `".;` when joined)."""
    return message.rstrip().removesuffix(".")


class CardflowError(Exception):
    """Base of every error cardflow raises on purpose; `exit_code` says how the CLI ends, `code` names it in JSON."""

    exit_code = 2
    code = "error"

    def __init__(self, message: str, details: Iterable[Any] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def as_json(self) -> dict[str, Any]:
        return error_json(self.code, self.message, self.details)

    def lines(self) -> list[str]:
        """What the command line prints, a line each (one line, but for a list of problems)."""
        return [self.message]


class UsageError(CardflowError):
    """The command was asked for something unusable: unknown name, bad value, missing file."""

    exit_code = 2
    code = "usage"


class InputProblems(UsageError):
    """An input file has problems in several places (rows of a users file): every one, a line each.

    The message is the last line (the count, where there are several); the JSON's details hold every line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[-1], details=problems)
        self.problems = tuple(problems)

    def lines(self) -> list[str]:
        return list(self.problems)


class WorkspaceInvalid(CardflowError):
    """The workspace has diagnostics, so nothing can be compiled or run from it."""

    exit_code = 1
    code = "workspace_invalid"


class Refused(CardflowError):
    """A process or action was refused by a rule (role, four-eyes, state, prerequisite)."""

    exit_code = 1
    code = "refused"


class Unfinished(CardflowError):
    """Work was left undone (a batch incomplete, orders unanswered); the message says how to finish it."""

    exit_code = 1
    code = "unfinished"


class StoreFailed(CardflowError):
    """The store failed under a command (a full disk, a restarted server); the message says how to go on."""

    exit_code = 2
    code = "store"
