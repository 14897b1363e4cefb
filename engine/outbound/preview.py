"""`cardflow preview`: an email template rendered for a reader, with sample data or a card's data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from engine import effects
from engine.definitions.email_samples import SAMPLE_APPROVER, sample_context
from engine.definitions.files import TEMPLATES
from engine.definitions.model import Workspace
from engine.definitions.templates import PARTS, templates_for
from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.records import GROUP_RECIPIENTS
from engine.store import history, queries
from engine.store.queries import Row
from engine.store.views import card_view, person


def recipient_kind(workspace: Workspace, template: str) -> str:
    """Who a template is sent to (holder, requester, actor, approvers or role), from the effects that name it."""
    for process in workspace.processes.values():
        for transition in process.transitions:
            for email, to in effects.emails(transition.effects):
                if email == template:
                    return to
    folder = workspace.root / TEMPLATES
    if not (folder / f"{template}.{PARTS['subject']}").is_file():
        known = sorted(path.name.removesuffix(f".{PARTS['subject']}") for path in folder.glob(f"*.{PARTS['subject']}"))
        raise UsageError(f"unknown email template '{template}'{did_you_mean(template, known)}")
    return "holder"


def _sender(workspace: Workspace, template: str) -> dict[str, Any]:
    """The process that sends `template`, the state its card is then in and its card fields, for a
    sample email ({} when none does)."""
    for process in workspace.processes.values():
        for transition in process.transitions:
            if any(email == template for email, _ in effects.emails(transition.effects)):
                named = {"symbolic_name": process.symbolic_name, "name": process.name}
                return {"process": named, "state": transition.dest, "fields": tuple(process.fields)}
    return {}


def _needs_reason(workspace: Workspace, template: str) -> list[str]:
    """The triggers whose transitions send `template`, when every one of them requires a reason (else [])."""
    triggers = {
        t.trigger
        for p in workspace.processes.values()
        for t in p.transitions
        if any(email == template for email, _ in effects.emails(t.effects))
    }
    required = {name for p in workspace.processes.values() for name, t in p.triggers.items() if t.reason == "required"}
    return sorted(triggers) if triggers and triggers <= required else []


def preview_context(
    workspace: Workspace, template: str, connection: Connection | None, card_id: int | None
) -> tuple[Row, str | None]:
    """The context to render `template` with, and the recipient's locale."""
    kind = recipient_kind(workspace, template)
    if connection is None or card_id is None:
        attributes = templates_for(workspace.root / TEMPLATES).person_attributes(template)
        return sample_context(kind, attributes=attributes, **_sender(workspace, template)), None
    cards = queries.get_cards(connection, [card_id])
    if card_id not in cards:
        raise UsageError(f"unknown card {card_id}")
    card = cards[card_id]
    people = queries.users_by_id(connection, [card["user_id"], card["requester"]])
    holder, requester = person(people.get(card["user_id"])), person(people.get(card["requester"]))
    process = workspace.processes.get(card["process"])
    process_view = {"symbolic_name": card["process"], "name": process.name if process else card["process"]}
    moves = history.card_history(connection, card_id)
    reason = next((row["reason"] for row in reversed(moves) if row["reason"]), None)
    needed = _needs_reason(workspace, template)
    if reason is None and needed:
        raise UsageError(
            f"card {card_id} has no reason to show in '{template}': it was never {' or '.join(needed)}ed "
            f"(its state is {card['state']}); try `cardflow explain {card_id}`"
        )
    if kind in GROUP_RECIPIENTS:
        entry = {"id": card["id"], "holder": holder, "production_type": card["production_type"], "reason": reason}
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
        "card": {**dict.fromkeys(process.fields if process else ()), **card_view(card), "holder": holder},  # unset fields: None
        "process": process_view,
        "batch": {"id": card["batch_id"]},
        "reason": reason,
    }
    return context, recipient.get("locale")


def render_preview(workspace: Workspace, template: str, context: Any, locale: str | None) -> str:
    """Subject, text and HTML of the rendered template, one after the other."""
    rendered = templates_for(workspace.root / TEMPLATES).render(template, context, locale)
    return f"Subject: {rendered.subject}\n\n--- text ---\n{rendered.text}\n--- html ---\n{rendered.html}"
