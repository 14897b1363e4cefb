"""Who an email goes to, derived from the workspace: the approvers of a state, and the declared roles.

`approvers` are not a role named in the code: they are the users holding the role of an action
process, acting on the card's process, that a person fires from the state the card has just
reached (its triggers leave that state, and none of its prerequisites is false for a card in it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.definitions.closures import UNKNOWN
from engine.definitions.declared import ACTOR_KEYWORDS, Role
from engine.definitions.expressions import ExpressionError, parse
from engine.definitions.model import Process
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

#: The recipients an email's `to` may name, as a diagnostic lists them.
RECIPIENTS_SHOWN = "holder, requester, actor, approvers, {role: NAME}"


class _Known(dict[str, Any]):
    """A record of which only some fields are known: the others read as UNKNOWN."""

    def get(self, key: str, default: Any = UNKNOWN) -> Any:
        return super().get(key, default)


def deciding_roles(processes: Mapping[str, Process], owner: str, state: str) -> tuple[str, ...]:
    """The roles of the action processes acting on `owner` that a person fires from `state`, in
    the order the processes are declared (actor keywords `any` and `system` are no role)."""
    process = processes.get(owner)
    if process is None:
        return ()
    leaving = {t.trigger for t in process.transitions if state in t.source}
    roles = [
        action.actor
        for action in processes.values()
        if action.kind == "action"
        and owner in action.acts_on
        and action.actor not in ACTOR_KEYWORDS
        and leaving & set(action.triggers)
        and not _closed_in(action, state)
    ]
    return tuple(dict.fromkeys(roles))


def _closed_in(action: Process, state: str) -> bool:
    """Whether a prerequisite of `action` is false for every card in `state` (whatever else it reads)."""
    scope = {"card": _Known(state=state)}
    for prerequisite in action.prerequisites:
        try:
            if parse(prerequisite.rule.text).truth(scope)[0] is False:
                return True
        except (ExpressionError, TypeError):  # its own diagnostic says why; an unknown value has no truth
            continue
    return False


def check_role_recipients(processes: Mapping[str, Process], roles: Mapping[str, Role]) -> Iterator[Diagnostic]:
    """An email `to: {role: NAME}` names a declared role (E280, with a close name; nothing is said
    when roles.yaml could not be built: its own diagnostics tell why); `to: role` alone names none (E104)."""
    for process in processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                if getattr(effect, "to", None) != "role":
                    continue
                role = getattr(effect, "role", None)
                if role is None:
                    yield diagnostic(effect.location, "E104", value="role", allowed=RECIPIENTS_SHOWN)
                elif roles and role not in roles:
                    hint = did_you_mean(role, roles)
                    yield diagnostic(effect.location, "E280", name=role, hint=hint, known=", ".join(roles))
