"""The exception tree: content problems are values (diagnostics); these are for refusals and misuse."""

from __future__ import annotations


class CardflowError(Exception):
    """Base of every error cardflow raises on purpose; `exit_code` says how the CLI ends."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CardflowError):
    """The command was asked for something unusable: unknown name, bad value, missing file."""

    exit_code = 2


class WorkspaceInvalid(CardflowError):
    """The workspace has diagnostics, so nothing can be compiled or run from it."""

    exit_code = 1


class Refused(CardflowError):
    """A process or action was refused by a rule (role, four-eyes, state, prerequisite)."""

    exit_code = 1


class Unfinished(CardflowError):
    """Work was left undone (a batch incomplete, orders unanswered); the message says how to finish it."""

    exit_code = 1
