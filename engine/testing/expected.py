"""What a scenario expects, checked against the workspace before it runs: every user, state, email
and card field it names exists, so that a typo is a diagnostic at its line, not a run that fails on
"expected [ordred], got [ordered]"."""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

from engine.definitions.document import Document
from engine.definitions.model import Workspace
from engine.definitions.reads import emails_of
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean


def check_expected(document: Document, users: Set[str], workspace: Workspace) -> Iterator[Diagnostic]:
    """The users of `expect` are the scenario's (E601), its states some process's (E605), its emails
    some effect's (E606) to one of its users (E608) and its card fields declared (E607)."""
    expect = document.data.get("expect") or {}
    for part in ("cards", "fields"):
        for user in expect.get(part) or {}:
            if str(user) not in users:
                yield diagnostic(document.key_at(("expect", part, user)), "E601", name=user)
    yield from _states(document, expect, workspace)
    yield from _emails(document, expect, workspace)
    yield from _fields(document, expect, workspace)


def _states(document: Document, expect: dict[str, Any], workspace: Workspace) -> Iterator[Diagnostic]:
    known = {state for process in workspace.processes.values() for state in process.states}
    for user, names in (expect.get("cards") or {}).items():
        for index, name in enumerate(names if isinstance(names, list) else []):
            if str(name) not in known:
                where = document.at(("expect", "cards", user, index))
                yield diagnostic(where, "E605", name=name, hint=did_you_mean(str(name), known))


def _emails(document: Document, expect: dict[str, Any], workspace: Workspace) -> Iterator[Diagnostic]:
    sent = {email for process in workspace.processes.values() for email in emails_of(process)}
    addresses = {str(user["email"]) for user in document.data.get("users") or [] if isinstance(user, dict) and user.get("email")}
    for index, email in enumerate(expect.get("emails") or []):
        name = email.get("template") if isinstance(email, dict) else None
        if isinstance(name, str) and name not in sent:
            where = document.at(("expect", "emails", index, "template"))
            yield diagnostic(where, "E606", name=name, hint=did_you_mean(name, sent))
        to = email.get("to") if isinstance(email, dict) else None
        if isinstance(to, str) and to not in addresses:
            yield diagnostic(document.at(("expect", "emails", index, "to")), "E608", name=to, hint=did_you_mean(to, addresses))


def _fields(document: Document, expect: dict[str, Any], workspace: Workspace) -> Iterator[Diagnostic]:
    declared = {name for process in workspace.processes.values() for name in process.fields}
    for user, fields in (expect.get("fields") or {}).items():
        for name in fields if isinstance(fields, dict) else {}:
            if str(name) not in declared:
                where = document.key_at(("expect", "fields", user, name))
                yield diagnostic(where, "E607", name=name, hint=did_you_mean(str(name), declared))
