"""The workspace's roles (`roles.yaml`): the names a process's `actor` and a user's `roles` may hold.

A workspace without the file has the four default roles, those the reference workspace declares.
`any` and `system` are not roles but actor keywords: anyone may try (the process's prerequisites
decide), and cardflow itself (the batch sync, the order-status sync, a scheduled job), acting as
the built-in actor `system`, which holds the role marked `system: true` (the vendor's
BaseRoleBatchSync). No user needs that role for the system to run; a user given it gains only
what a process naming it as `actor` allows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.definitions.declared import ACTOR_KEYWORDS, Role
from engine.definitions.document import Document
from engine.definitions.files import ROLES
from engine.definitions.load import load_file
from engine.definitions.model import Process
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

#: The role that publishes and approves releases of the workspace (engine.releases).
ADMIN = "admin"


#: The roles of a workspace without roles.yaml (as the reference workspace declares them).
DEFAULT_ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("operator", "Runs batch orders and acts on the cards of a batch."),
        Role("approver", "Decides on card requests (four-eyes, never on a request of their own)."),
        Role("escalation_approver", "Gets the card requests that waited too long for a decision (CardsApprovalEscalationDays)."),
        Role(ADMIN, "Administers cardflow, its users and its releases."),
        Role("BaseRoleBatchSync", "The role the system's scheduled processes run as (the vendor's batch sync).", system=True),
    )
}


def read_roles(root: Path) -> tuple[dict[str, Role], list[Diagnostic], bytes]:
    """The roles of the workspace at `root`, the diagnostics of its roles.yaml and the file's bytes
    (for the fingerprint); the default roles without the file, none when it cannot be built."""
    path = root / ROLES
    if not path.is_file():
        return dict(DEFAULT_ROLES), [], b""
    document, found = load_file(path, ROLES)
    if document is None:
        return {}, found, path.read_bytes()
    shape, buildable = validate(document, "roles")
    roles = build_roles(document) if buildable and not found else {}
    return roles, found + shape + _one_system_role(roles) + _no_keywords(roles), path.read_bytes()


def build_roles(document: Document) -> dict[str, Role]:
    """The roles of a roles document that passed validation."""
    return {
        name: Role(name, spec["description"], spec.get("sv"), spec.get("system", False), document.key_at(("roles", name)))
        for name, spec in document.data["roles"].items()
    }


def _one_system_role(roles: dict[str, Role]) -> list[Diagnostic]:
    """At most one role is the system's (E242 at each one after the first)."""
    marked = [role for role in roles.values() if role.system]
    return [diagnostic(role.location, "E242", name=role.name, first=marked[0].name) for role in marked[1:]]


def _no_keywords(roles: dict[str, Role]) -> list[Diagnostic]:
    """`any` and `system` are actor keywords; a role of that name could never be told apart (E243)."""
    return [diagnostic(role.location, "E243", name=role.name) for role in roles.values() if role.name in ACTOR_KEYWORDS]


def check_actors(processes: Mapping[str, Process], roles: Mapping[str, Role]) -> Iterator[Diagnostic]:
    """A process's `actor` names a declared role, `any` or `system` (E240, with a close name).
    Nothing is said when roles.yaml could not be built (its own diagnostics tell why)."""
    if not roles:
        return
    known = [*roles, *ACTOR_KEYWORDS]
    for process in processes.values():
        if process.actor not in known:
            where = process.document.at(("actor",))
            yield diagnostic(where, "E240", name=process.actor, hint=did_you_mean(process.actor, known), known=", ".join(known))
