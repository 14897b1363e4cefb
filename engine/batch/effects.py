"""A fired trigger becomes rows: the card's new state, its audit row and decision, the bureau order
and the emails it causes. Everything for one unit of work is gathered in a `Work` and written
in the caller's transaction, so a state change and its effects commit together or not at all.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection

from engine.definitions.compile import CompiledProcess, Decision
from engine.definitions.model import Workspace
from engine.definitions.options import EffectiveOptions
from engine.definitions.recipients import deciding_roles
from engine.definitions.templates import Templates, message_id
from engine.outbound.bureau import Connector, LazyAnswer, OrderAnswer, OrderRequest
from engine.records import Batch
from engine.store import outbox, queries
from engine.store.queries import Row, dumps
from engine.store.views import card_view, person


@dataclass
class Work:
    """The rows of one unit of work, written together by `flush`."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    changes: list[Row] = field(default_factory=list)
    approvals: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    decision_ids: set[str] = field(default_factory=set)
    last_trace: Row | None = None
    #: Rows made as tuples, by (table, columns): the hot path of a batch builds no dict per row.
    tuples: dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]] = field(default_factory=dict)

    def flush(self, connection: Connection, context: FireContext) -> set[int]:
        """Write the unit of work: first the state changes, each a compare-and-set, then the rows.
        A card another command moved meanwhile keeps its state, and its audit rows, orders and
        emails are not written; return those cards' ids."""
        lost = queries.set_card_states(connection, self.changes)
        rows, approvals = self.rows, self.approvals
        if lost:
            rows = defaultdict(list, {name: [r for r in kept if r.get("card_id") not in lost] for name, kept in rows.items()})
            approvals = defaultdict(list, {a: [e for e in es if e["card"]["id"] not in lost] for a, es in approvals.items()})
        queries.write_rows(connection, rows)
        for (table, columns), tuples in self.tuples.items():  # new cards whose start was settled: never lost
            queries.insert_tuples(connection, table, columns, tuples)
        if any(approvals.values()):
            _merge_approval_emails(connection, context, {a: es for a, es in approvals.items() if es})
        self.rows, self.changes, self.approvals, self.decision_ids = defaultdict(list), [], defaultdict(list), set()
        self.tuples = {}
        return lost


@dataclass
class FireContext:
    """What firing needs besides the card: the machine, the bureau, who acts, and the people to tell."""

    compiled: CompiledProcess
    connector: Connector
    templates: Templates
    actor: Row
    fingerprint: str
    at: str
    people: dict[str, Row] = field(default_factory=dict)
    connection: Connection | None = None
    email_keys: Iterator[str] = field(default_factory=lambda: _email_keys(uuid.uuid4().hex))
    #: the workspace: the processes of the holder's other cards (`fire`) and who decides a state (`approvers`)
    workspace: Workspace | None = None
    #: every option in force (a card of another process reads its own scripts' options)
    options: EffectiveOptions | None = None
    #: the users of each role, read once a unit of work (shared by the contexts of the cards it fires on)
    roles: dict[str, list[Row]] = field(default_factory=dict)
    deciders: dict[tuple[str, str], list[Row]] = field(default_factory=dict)

    def user(self, user_id: str) -> Row | None:
        if user_id not in self.people and self.connection is not None:
            self.people.update(queries.users_by_id(self.connection, [user_id]))
        return self.people.get(user_id)

    def users_with_role(self, role: str) -> list[Row]:
        """The active users holding `role`, in id order."""
        if role not in self.roles:
            self.roles[role] = queries.users_with_role(self.connection, role) if self.connection is not None else []
            self.people.update((user["id"], user) for user in self.roles[role])
        return self.roles[role]

    def approvers_of(self, card: Row) -> list[Row]:
        """The users who may decide `card` in its state: holding a role of an action process that a
        person fires from it (`engine.definitions.recipients`), each once, in id order."""
        key = (card["process"], card["state"])
        if key not in self.deciders:
            processes = self.workspace.processes if self.workspace is not None else {}
            found = {u["id"]: u for role in deciding_roles(processes, *key) for u in self.users_with_role(role)}
            self.deciders[key] = [found[user_id] for user_id in sorted(found)]
        return self.deciders[key]


def _email_keys(prefix: str) -> Iterator[str]:
    """Dedupe keys for the emails of one unit of work: a random prefix, then a count."""
    return (f"card:{prefix}.{n}" for n in itertools.count())


#: After this many orders in a row without an answer, a run or a sync stops ordering (the bureau is down).
BUREAU_DOWN_AFTER = 3


def unanswered(work: Work, card: Row, connector: str, message: str, at: str, earlier_orders: int = 0) -> None:
    """Record an order attempt the bureau did not answer (it is written with the unit of work)."""
    attempt = {"card_id": card["id"], "idempotency_key": order_key(card, earlier_orders), "connector": connector, "at": at}
    work.rows["bureau_attempts"].append({**attempt, "error": message})


def order_key(card: Row, earlier_orders: int) -> str:
    """The idempotency key of a card's order: stable across crashes and time-outs (no answer, no order
    recorded), new for each new order (after a refusal, or after a production failure). One key per
    card whatever its ids: the batch id's `%` and `.` are encoded, so the first `.` ends the batch id
    and the last one begins the count."""
    batch = str(card["batch_id"]).replace("%", "%25").replace(".", "%2E")
    return f"{batch}.{card['user_id']}.{earlier_orders + 1}"


def fire(
    context: FireContext,
    work: Work,
    card: Row,
    holder: Row,
    trigger: str,
    *,
    process: str,
    batch: Batch,
    reason: str | None = None,
    earlier_orders: int = 0,
    stored: bool = True,
) -> Decision:
    """Fire `trigger` on `card` and gather the rows it causes; the card dict gets its new state.

    `stored` says the card is already in the store (its state change is an update); a new card's
    row is written by the caller with the state reached. `earlier_orders` is how many orders of the
    card the bureau answered before: an order placed now is the next one, under its own key.
    """
    decision = context.compiled.settled(trigger, card["state"])
    bureau = None
    if decision is None:  # the card's values matter: fire with the card in scope
        answer = LazyAnswer(lambda: context.connector.order(_order_request(card, holder, earlier_orders)))
        scope = {
            "user": holder,
            "card": card_view(card),
            "options": context.compiled.option_values,
            "batch": batch,
            "actor": context.actor,
            "bureau": answer,
        }
        decision = context.compiled.fire(trigger, card["state"], scope)
        if decision.dest is None:
            return decision
        if answer.answer is not None:
            bureau = _answer_view(answer.answer, context.connector.name)
            _order_row(work, card, answer.answer, context, earlier_orders)
    identity = record_decision(context.compiled, work, decision, bureau)
    work.rows["transitions"].append(
        {
            "card_id": card["id"],
            "process": process,
            "trigger": trigger,
            "source": card["state"],
            "dest": decision.dest,
            "actor": context.actor["id"],
            "at": context.at,
            "batch_id": batch.get("id"),
            "fingerprint": context.fingerprint,
            "decision_id": identity,
            "reason": reason,
        }
    )
    reopened, source = not card["open"], card["state"]
    card["state"] = decision.dest
    card["open"] = decision.dest not in context.compiled.process.finals
    card["updated_at"] = context.at
    if not card["open"]:
        card["open_key"] = None
    elif reopened and context.compiled.exclusive:
        card["open_key"] = card["user_id"]
    if stored:
        change = {
            "id": card["id"],
            "was": source,
            "state": card["state"],
            "open": card["open"],
            "open_key": card.get("open_key"),
            "updated_at": context.at,
        }
        work.changes.append(change)
    for effect in decision.effects:
        _email(context, work, card, holder, effect.email, effect.to, reason)
    return decision


def bureau_refusal(work: Work) -> str | None:
    """The card bureau's reason when it refused the order of the trigger fired last, else None."""
    bureau = (work.last_trace or {}).get("bureau")
    if not bureau or bureau.get("accepted"):
        return None
    return f"the card bureau refused the order: {bureau.get('message') or 'no reason given'}"


def bureau_accepted(work: Work) -> bool | None:
    """Whether the card bureau accepted the order of the trigger fired last; None when it placed none."""
    bureau = (work.last_trace or {}).get("bureau")
    return None if not bureau else bool(bureau.get("accepted"))


def record_decision(compiled: CompiledProcess, work: Work, decision: Decision, bureau: Row | None) -> str:
    """The id of the decision's trace, stored once per unit of work (equal traces are one row)."""
    key = (decision.key, tuple(sorted(bureau.items())) if bureau else None)
    cached = compiled.records.get(key)
    if cached is None:
        trace: Row = {"trigger": decision.trigger, "source": decision.source, "candidates": decision.trace}
        if bureau:
            trace["bureau"] = bureau
        text = dumps(trace)
        cached = compiled.records[key] = (queries.decision_id_of(text), text, trace)
    identity, text, work.last_trace = cached
    if identity not in work.decision_ids:
        work.decision_ids.add(identity)
        work.rows["decisions"].append({"id": identity, "trace": text})
    return identity


def _order_request(card: Row, holder: Row, earlier_orders: int) -> OrderRequest:
    return OrderRequest(
        key=order_key(card, earlier_orders),
        card=card["id"],
        process=card["process"],
        batch=card["batch_id"],
        production_type=card["production_type"],
        holder={k: v for k, v in holder.items() if k not in ("roles", "open_cards")},
    )


def _answer_view(answer: OrderAnswer, connector: str) -> Row:
    """The bureau's answer as the decision trace keeps it (the order id is in the orders table)."""
    return {"connector": connector, "accepted": answer.accepted, "message": answer.message}


def _order_row(work: Work, card: Row, answer: OrderAnswer, context: FireContext, earlier_orders: int) -> None:
    work.rows["orders"].append(
        {
            "card_id": card["id"],
            "idempotency_key": order_key(card, earlier_orders),
            "connector": context.connector.name,
            "accepted": answer.accepted,
            "order_id": answer.order_id,
            "message": answer.message,
            "at": context.at,
        }
    )


def _email(context: FireContext, work: Work, card: Row, holder: Row, template: str, to: str, reason: str | None) -> None:
    requester = context.user(card["requester"])
    process = context.compiled.process
    if to == "approvers":
        entry = {"id": card["id"], "holder": person(holder), "production_type": card["production_type"]}
        for approver in context.approvers_of(card):
            if approver["id"] != card["requester"]:
                work.approvals[approver["id"]].append({"card": entry, "template": template, "batch": card["batch_id"]})
        return
    recipient = holder if to == "holder" else requester
    if recipient is None:
        return
    email_context = {
        "recipient": person(recipient),
        "holder": person(holder),
        "requester": person(requester),
        "card": {**card_view(card), "holder": person(holder)},
        "process": {"symbolic_name": process.symbolic_name, "name": process.name},
        "batch": {"id": card["batch_id"]},
        "reason": reason,
    }
    key = next(context.email_keys)
    kept = {"recipient": {"name": recipient["name"]}}  # what delivery reads of it; a card's email is never merged
    work.rows["outbox"].append(_outbox_row(key, card["id"], card["batch_id"], template, recipient, email_context, context, kept))


def _outbox_row(
    key: str,
    card: int | None,
    batch: str | None,
    template: str,
    recipient: Row,
    email_context: Row,
    context: FireContext,
    kept: Row | None = None,
) -> Row:
    """An outbox row with the email rendered now, in the recipient's locale, in the caller's transaction.
    The row keeps `kept` of the context (default: all of it, which merging more cards into it needs)."""
    locale = recipient.get("locale")
    rendered = context.templates.render(template, email_context, locale)
    return {
        "dedupe_key": key,
        "card_id": card,
        "batch_id": batch,
        "template": template,
        "recipient": recipient["email"],
        "recipient_user": recipient["id"],
        "locale": locale,
        "context": _CONTEXT_JSON(email_context if kept is None else kept),
        "status": "pending",
        "created_at": context.at,
        "attempts": 0,
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "message_id": message_id(key),
    }


#: An email's context as stored with it (for delivery and merging; key order does not matter, and
#: not sorting keys makes it a third cheaper than `dumps`).
_CONTEXT_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _merge_approval_emails(connection: Connection, context: FireContext, approvals: dict[str, list[Row]]) -> None:
    """One email per batch and approver: each unit of work adds its cards to the approver's email."""
    for approver_id, entries in approvals.items():
        approver = context.people[approver_id]
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
            row = _outbox_row(key, None, batch, template, approver, _approval_context(context, approver, batch, cards), context)
            outbox.add_once(connection, row)


def planned_approval_emails(context: FireContext, approvals: dict[str, list[Row]]) -> list[Row]:
    """The approvers' emails of one unit of work as rendered outbox rows, each with only this work's
    cards (a plan that compares rendered emails; a run merges them into the batch's emails instead)."""
    rows = []
    for approver_id, entries in approvals.items():
        approver = context.people[approver_id]
        for (template, batch), group in _group(entries).items():
            email_context = _approval_context(context, approver, batch, [entry["card"] for entry in group])
            rows.append(
                _outbox_row(f"plan:{batch}:{template}:{approver_id}", None, batch, template, approver, email_context, context)
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
