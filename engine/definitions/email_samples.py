"""Sample email contexts, one per kind of recipient: what `preview --sample` shows and what
`validate` renders every template with, so a template that would fail in a batch fails there first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.records import GROUP_RECIPIENTS

SAMPLE_HOLDER = {"id": "u001", "name": "Alice Andersson", "email": "alice.andersson@example.com", "locale": None}
SAMPLE_REQUESTER = {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "locale": None}
SAMPLE_APPROVER = {"id": "ap1", "name": "Anna Approver", "email": "ap1@example.com", "locale": None}
SAMPLE_REASON = "No budget for new cards this quarter"
#: the process and card state of a sample email when nothing says which (no workspace's name)
SAMPLE_PROCESS = {"symbolic_name": "SampleProcess", "name": "Sample process"}
SAMPLE_STATE = "sample_state"


def sample_context(
    kind: str,
    locale: str | None = None,
    *,
    reason: bool = True,
    attributes: Iterable[str] = (),
    process: dict[str, str] | None = None,
    state: str = SAMPLE_STATE,
    fields: Iterable[str] = (),
) -> dict[str, Any]:
    """The context of a sample email to `kind` (holder, requester, actor, approvers or role), its people in
    `locale` and with a sample value of each of `attributes` (`department`: "<department>");
    without `reason` when the emails of that kind are never sent with one. Its card is of `process`
    (symbolic_name and name) in `state`, when the caller knows which process sends the email, with a
    sample value of each of its card `fields`."""
    extra = {name: f"<{name}>" for name in attributes}
    holder, requester, approver = (
        {**extra, **person, "locale": locale} for person in (SAMPLE_HOLDER, SAMPLE_REQUESTER, SAMPLE_APPROVER)
    )
    process = dict(process or SAMPLE_PROCESS)
    batch = {"id": "B20261121-090000-ab12"}
    if kind in GROUP_RECIPIENTS:
        cards = [
            {"id": 41, "holder": holder, "production_type": "standard", "reason": "Lost on the train"},
            {"id": 42, "holder": {**holder, "id": "u002", "name": "Bertil Berg"}, "production_type": "standard", "reason": None},
        ]
        return {"recipient": approver, "requester": requester, "process": process, "batch": batch, "cards": cards}
    card = {
        **{name: f"<{name}>" for name in fields},
        "id": 41,
        "user": "u001",
        "state": state,
        "process": process["symbolic_name"],
        "requester": "op1",
        "requested_by": "op1",
        "production_type": "standard",
        "batch": batch["id"],
        "holder": holder,
    }
    context = {
        "recipient": holder if kind == "holder" else requester,
        "holder": holder,
        "requester": requester,
        "card": card,
        "process": process,
        "batch": batch,
    }
    if reason:
        context["reason"] = SAMPLE_REASON
    return context
