"""Whom an email goes to: `holder`, `requester` (who made the request being decided), `actor` (who
fired the trigger), `approvers` (who may decide the card in the state it reached, from the YAML)
and `role: NAME` (every active user with the role); the templates' checks know each one's context."""

from __future__ import annotations

from pathlib import Path

from engine.definitions.recipients import deciding_roles
from engine.definitions.workspace import load_workspace

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


def test_the_approvers_of_the_shipped_requests_are_the_approver_role(workspace: Path) -> None:
    """A requested card is decided by CardsBoProcDecideRequest (approver); the operators' abort waits for
    'processing' and the requester's withdrawal is `any`: the approvers are the approver role, as before."""
    processes = load_workspace(workspace).processes
    assert deciding_roles(processes, ORDER, "requested") == ("approver",)
    assert deciding_roles(processes, "CardsBoProcRequestMulitple", "requested") == ("approver",)
