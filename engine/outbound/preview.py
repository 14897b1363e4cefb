"""`cardflow preview`: an email template rendered for a reader, with sample data or a card's data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from engine.definitions.templates import PARTS, templates_for
from engine.definitions.workspace import TEMPLATES, Workspace
from engine.errors import UsageError
from engine.store import queries
from engine.store.queries import Row
from engine.store.views import card_view, person

SAMPLE_HOLDER = {"id": "u001", "name": "Alice Andersson", "email": "alice.andersson@example.com", "locale": None}
SAMPLE_REQUESTER = {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "locale": None}
SAMPLE_APPROVER = {"id": "ap1", "name": "Anna Approver", "email": "ap1@example.com", "locale": None}


def recipient_kind(workspace: Workspace, template: str) -> str:
    """Who a template is sent to (holder, requester or approvers), from the effects that name it."""
    for process in workspace.processes.values():
        for transition in process.transitions:
            for effect in transition.effects:
                if effect.email == template:
                    return effect.to
    if not (workspace.root / TEMPLATES / f"{template}.{PARTS['subject']}").is_file():
        raise UsageError(f"unknown email template '{template}'")
    return "holder"


def preview_context(
    workspace: Workspace, template: str, connection: Connection | None, card_id: int | None
) -> tuple[Row, str | None]:
    """The context to render `template` with, and the recipient's locale."""
    kind = recipient_kind(workspace, template)
    if connection is None or card_id is None:
        return _sample(kind), None
    cards = queries.get_cards(connection, [card_id])
    if card_id not in cards:
        raise UsageError(f"unknown card {card_id}")
    card = cards[card_id]
    people = queries.users_by_id(connection, [card["user_id"], card["requester"]])
    holder, requester = person(people.get(card["user_id"])), person(people.get(card["requester"]))
    process = workspace.processes.get(card["process"])
    process_view = {"symbolic_name": card["process"], "name": process.name if process else card["process"]}
    history = queries.card_history(connection, card_id)
    reason = next((row["reason"] for row in reversed(history) if row["reason"]), None)
    if kind == "approvers":
        entry = {"id": card["id"], "holder": holder, "production_type": card["production_type"]}
        approvers: Row = {
            "recipient": SAMPLE_APPROVER,
            "requester": requester,
            "process": process_view,
            "batch": {"id": card["batch_id"]},
            "cards": [entry],
        }
        return approvers, None
    recipient = holder if kind == "holder" else requester
    context = {
        "recipient": recipient,
        "holder": holder,
        "requester": requester,
        "card": {**card_view(card), "holder": holder},
        "process": process_view,
        "batch": {"id": card["batch_id"]},
        "reason": reason,
    }
    return context, recipient.get("locale")


def _sample(kind: str) -> Row:
    process: Row = {"symbolic_name": "CardsAddonExtProdBoProcOrderMultiple", "name": "Order multiple cards"}
    batch: Row = {"id": "B20261121-090000-ab12"}
    if kind == "approvers":
        cards = [
            {"id": 41, "holder": SAMPLE_HOLDER, "production_type": "standard"},
            {"id": 42, "holder": {**SAMPLE_HOLDER, "id": "u002", "name": "Bertil Berg"}, "production_type": "standard"},
        ]
        return {"recipient": SAMPLE_APPROVER, "requester": SAMPLE_REQUESTER, "process": process, "batch": batch, "cards": cards}
    card: Row = {
        "id": 41,
        "user": "u001",
        "state": "ordered",
        "process": process["symbolic_name"],
        "requester": "op1",
        "production_type": "standard",
        "batch": batch["id"],
        "holder": SAMPLE_HOLDER,
    }
    recipient = SAMPLE_HOLDER if kind == "holder" else SAMPLE_REQUESTER
    reason = "No budget for new cards this quarter"
    return {
        "recipient": recipient,
        "holder": SAMPLE_HOLDER,
        "requester": SAMPLE_REQUESTER,
        "card": card,
        "process": process,
        "batch": batch,
        "reason": reason,
    }


def render_preview(workspace: Workspace, template: str, context: Any, locale: str | None) -> str:
    """Subject, text and HTML of the rendered template, one after the other."""
    rendered = templates_for(workspace.root / TEMPLATES).render(template, context, locale)
    return f"Subject: {rendered.subject}\n\n--- text ---\n{rendered.text}\n--- html ---\n{rendered.html}"
