"""Effect kind `email`: send a template to a person or a group of people.

`to:` names a person: the card's `holder`, its `requester` (who made the request the transition
decides: who moved the card into the state it leaves, else who created it) or the `actor` (who
fired the trigger); or a group: the `approvers` (the users holding the role of an action process
that a person fires from the card's new state: `engine.definitions.recipients`; never the person
whose request waits) or `{role: NAME}` (every active user with that declared role).

An email to a person is one outbox row, rendered now in the recipient's locale. A group's members
get one email per batch and template: each unit of work adds its cards to it when it is written
(`flush`), so a batch of many chunks still sends each one email. Delivery is the outbox's
(`engine.outbound.delivery`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from engine import json_text
from engine.diagnostics import Location, Source
from engine.effects.base import At, Effect, FireContext, Firing, Kind, Row, Work
from engine.records import User
from engine.store.views import card_view, person

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: What `to:` may name: a person, the approvers, or (as `{role: NAME}`) a role.
RECIPIENTS = ("holder", "requester", "actor", "approvers", "role")


@dataclass(frozen=True)
class Email(Effect):
    """Send the email template `email` to `to` (holder, requester, actor, approvers, or role: the users with `role`)."""

    KIND: ClassVar[str] = "email"

    email: str
    to: str
    role: str | None = None


SCHEMA = {
    "email": {"type": "string", "required": True, "empty": False},
    # a name of RECIPIENTS, or {role: NAME} (a mapping's keys must be allowed too: `role`); a bare
    # `to: role` names no role (E104 in engine.definitions.recipients)
    "to": {
        "type": ["string", "dict"],
        "required": True,
        "allowed": list(RECIPIENTS),
        "schema": {"role": {"type": "string", "required": True, "empty": False}},
    },
}


def build(spec: Mapping[str, Any], when: Source | None, location: Location, at: At) -> Email:
    to = spec["to"]
    if isinstance(to, Mapping):
        return Email(when, location, spec["email"], "role", to["role"])
    return Email(when, location, spec["email"], to)


def describe(effect: Email) -> str:
    return f"email {effect.email} to " + (f"role {effect.role}" if effect.role else effect.to)


def emails(effect: Email) -> tuple[tuple[str, str], ...]:
    return ((effect.email, effect.to),)


def fire(effect: Email, firing: Firing) -> None:
    """An outbox row for a person; for a group, the card added to each member's email of the batch."""
    context, card, holder = firing.context, firing.card, firing.holder
    if effect.to in ("approvers", "role"):
        _to_group(effect, firing)
        return
    requester = context.user(firing.requester) if firing.requester else None
    recipient = holder if effect.to == "holder" else requester if effect.to == "requester" else context.actor
    if recipient is None or not recipient.get("email"):  # the system, or a user no longer in the store
        return
    process = context.compiled.process
    shown = person(holder)  # one view of the holder for each place the context shows them (templates cannot change it)
    seen = cast(Row, card_view(card))  # a dict of its own
    if process.fields:  # unset fields: None
        seen = {**dict.fromkeys(process.fields), **seen}
    seen["holder"] = shown
    email_context = {
        "recipient": shown if recipient is holder else _shown(context, recipient),
        "holder": shown,
        "requester": shown if requester is holder else _shown(context, requester),
        "card": seen,
        "process": {"symbolic_name": process.symbolic_name, "name": process.name},
        "batch": {"id": card["batch_id"]},
        "reason": firing.reason,
    }
    key = next(context.email_keys)
    kept = {"recipient": {"name": recipient["name"]}}  # what delivery reads of it; a card's email is never merged
    row = outbox_values(key, card["id"], card["batch_id"], effect.email, recipient, email_context, context, kept)
    firing.work.gathered("outbox", OUTBOX_COLUMNS).append(row)


def _shown(context: FireContext, user: Row | None) -> User:
    """Someone other than the card's holder as an email shows them, made once a context (the
    requester of a batch's cards is one person; the templates cannot change a view)."""
    if user is None:
        return person(None)
    view = context.views.get(user["id"])
    if view is None:
        view = context.views[user["id"]] = person(user)
    return view


#: The columns of an outbox row, in the order `outbox_values` gives them.
OUTBOX_COLUMNS = (
    "dedupe_key", "card_id", "batch_id", "template", "recipient", "recipient_user", "locale", "context", "status",
    "created_at", "attempts", "subject", "body_text", "body_html", "message_id",
)  # fmt: skip


def outbox_row(
    key: str, card: int | None, batch: str | None, template: str, recipient: Row, email_context: Row, context: FireContext,
    kept: Row | None = None,
) -> Row:  # fmt: skip
    """An outbox row with the email rendered now, in the recipient's locale, in the caller's transaction.
    The row keeps `kept` of the context (default: all of it, which merging more cards into it needs)."""
    values = outbox_values(key, card, batch, template, recipient, email_context, context, kept)
    return dict(zip(OUTBOX_COLUMNS, values, strict=True))


def outbox_values(
    key: str, card: int | None, batch: str | None, template: str, recipient: Row, email_context: Row, context: FireContext,
    kept: Row | None = None,
) -> tuple[object, ...]:  # fmt: skip
    """`outbox_row` as a tuple of OUTBOX_COLUMNS (a batch's card emails: no dict a row)."""
    locale = recipient.get("locale")
    rendered = context.templates.render(template, email_context, locale)
    return (
        key, card, batch, template, recipient["email"], recipient["id"], locale,
        _CONTEXT_JSON(email_context if kept is None else kept), "pending", context.at, 0,
        rendered.subject, rendered.text, rendered.html, message_id(key),
    )  # fmt: skip


def message_id(key: str) -> str:
    """A stable Message-ID for an outbox row: the same for every delivery attempt."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@cardflow.local>"


#: An email's context as stored with it (for delivery and merging; key order does not matter, and
#: not sorting keys makes it a third cheaper than `dumps`).
_CONTEXT_JSON = json_text.compact()


def _to_group(effect: Email, firing: Firing) -> None:
    """The card added to the batch's email of each member of the group (approvers: never the person
    whose request now waits on them, who moved the card into this state)."""
    context, card = firing.context, firing.card
    if effect.role is not None:
        members = context.users_with_role(effect.role)
    else:
        waiting_on = card.get("requested_by") or card["requester"]
        members = [user for user in context.approvers_of(card) if user["id"] != waiting_on]
    entry = {
        "id": card["id"],
        "holder": person(firing.holder),
        "production_type": card["production_type"],
        "reason": firing.reason,
    }
    for member in members:
        batch = firing.batch.get("id") or card["batch_id"]  # the run that fired it: one email a run and member
        firing.work.approvals[member["id"]].append({"card": entry, "template": effect.email, "batch": batch})


def flush(connection: Connection, context: FireContext, work: Work, lost: set[int]) -> None:
    """Add the unit of work's cards to the approvers' emails (not those of cards another command moved)."""
    approvals = {a: [e for e in es if e["card"]["id"] not in lost] for a, es in work.approvals.items()}
    if any(approvals.values()):
        _merge_approval_emails(connection, context, {a: es for a, es in approvals.items() if es})
    work.approvals = defaultdict(list)


def _merge_approval_emails(connection: Connection, context: FireContext, approvals: dict[str, list[Row]]) -> None:
    """One email per batch and approver: each unit of work adds its cards to the approver's email."""
    from engine.store import outbox, queries

    for approver_id, entries in approvals.items():
        approver = context.user(approver_id) or {"id": approver_id}
        for (template, batch), group in _group(entries).items():
            key = f"batch:{batch}:{template}:{approver_id}"
            existing = queries.outbox_by_key(connection, key)
            cards = [entry["card"] for entry in group]
            if existing:
                previous = json.loads(existing["context"])
                previous["cards"] = previous["cards"] + cards
                rendered = context.templates.render(template, previous, existing["locale"])
                parts = {"subject": rendered.subject, "body_text": rendered.text, "body_html": rendered.html}
                queries.replace_outbox_context(connection, key, previous, parts)
                continue
            row = outbox_row(key, None, batch, template, approver, _approval_context(context, approver, batch, cards), context)
            outbox.add_once(connection, row)


def planned_approval_emails(context: FireContext, approvals: dict[str, list[Row]]) -> list[Row]:
    """The approvers' emails of one unit of work as rendered outbox rows, each with only this work's
    cards (a plan that compares rendered emails; a run merges them into the batch's emails instead)."""
    rows = []
    for approver_id, entries in approvals.items():
        approver = context.user(approver_id) or {"id": approver_id}
        for (template, batch), group in _group(entries).items():
            email_context = _approval_context(context, approver, batch, [entry["card"] for entry in group])
            rows.append(
                outbox_row(f"plan:{batch}:{template}:{approver_id}", None, batch, template, approver, email_context, context)
            )
    return rows


def _approval_context(context: FireContext, approver: Row, batch: str, cards: list[Row]) -> Row:
    """The context of an approver's email about `cards` of `batch`."""
    process = context.compiled.process
    return {
        "recipient": person(approver),
        "requester": person(context.actor),
        "process": {"symbolic_name": process.symbolic_name, "name": process.name},
        "batch": {"id": batch},
        "cards": cards,
    }


def _group(entries: list[Row]) -> dict[tuple[str, str], list[Row]]:
    grouped: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for entry in entries:
        grouped[(entry["template"], entry["batch"])].append(entry)
    return grouped


KIND = Kind("email", SCHEMA, build, fire, describe, emails=emails, flush=flush)
