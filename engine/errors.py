"""The exception tree: content problems are values (diagnostics); these are for refusals and misuse."""

from __future__ import annotations


class CardflowError(Exception):
    """Base of every error cardflow raises on purpose; `exit_code` says how the CLI ends."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """What the command line prints, a line each (one line, but for a list of problems)."""
        return [self.message]


class UsageError(CardflowError):
    """The command was asked for something unusable: unknown name, bad value, missing file."""

    exit_code = 2


class InputProblems(UsageError):
    """An input file has problems in several places (rows of a users file): every one, a line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)

    def lines(self) -> list[str]:
        return list(self.problems)


class WorkspaceInvalid(CardflowError):
    """The workspace has diagnostics, so nothing can be compiled or run from it."""

    exit_code = 1


class Refused(CardflowError):
    """A process or action was refused by a rule (role, four-eyes, state, prerequisite)."""

    exit_code = 1


class Unfinished(CardflowError):
    """Work was left undone (a batch incomplete, orders unanswered); the message says how to finish it."""

    exit_code = 1
