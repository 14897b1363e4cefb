"""`cardflow explain`: the story of a card, from its audit rows and decision traces, in sentences."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from engine.errors import UsageError
from engine.releases.live import definitions_of
from engine.store import history, queries, releases
from engine.store.queries import Row


def card_story(connection: Connection, card_id: int) -> Row:
    """Everything known about a card: the card, its transitions with traces, its orders and emails."""
    cards = queries.get_cards(connection, [card_id])
    if card_id not in cards:
        raise UsageError(f"unknown card {card_id}")
    card = cards[card_id]
    holder = queries.users_by_id(connection, [card["user_id"]]).get(card["user_id"], {})
    moves = list(history.card_history(connection, card_id))
    release_of = _releases(connection, moves)
    return {
        "card": {
            **card,
            "fields": _fields(card["fields"]),
            "holder": {k: holder.get(k) for k in ("id", "name", "email", "state")},
        },
        "transitions": [
            {
                **{
                    k: row[k]
                    for k in ("at", "process", "trigger", "source", "dest", "actor", "batch_id", "reason", "fingerprint", "trace")
                },
                "fields": _fields(row["fields"]),  # the card fields the step set
                "release": release_of(row),  # the release of the workspace that decided it, if published
            }
            for row in moves
        ],
        "orders": [
            {k: row[k] for k in ("at", "idempotency_key", "connector", "accepted", "order_id", "message")}
            for row in history.card_orders(connection, card_id)
        ],
        "unanswered": [
            {k: row[k] for k in ("at", "idempotency_key", "connector", "error")}
            for row in history.card_attempts(connection, card_id)
        ],
        "emails": [
            {k: row[k] for k in ("id", "template", "recipient", "status", "created_at")}
            for row in history.card_emails(connection, card_id)
        ],
    }


def _releases(connection: Connection, moves: list[Row]) -> Callable[[Row], str | None]:
    """For a move, the release its workspace was published as: the newest one published with its
    fingerprint by the time of the move (None for a workspace never published)."""
    published = releases.published_with(connection, sorted({definitions_of(row["fingerprint"]) for row in moves}))

    def release_of(row: Row) -> str | None:
        definitions = definitions_of(row["fingerprint"])
        before = [release for fingerprint, release, at in published if fingerprint == definitions and at <= row["at"]]
        return before[-1] if before else None

    return release_of


def _fields(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text and text != "{}" else {}


def render_story(story: Row, names: Mapping[str, str] | None = None) -> str:
    """The story for a reader: what happened, in order, and why each step went where it did.

    `names` gives each process's name by its symbolic name (from the workspace), so each step, the
    system's too (the batch sync, the order-status sync), names the process that did it in words."""
    lines = [*story_head(story), ""]
    for headline, why in timeline(story, names):
        lines += [headline, *(f"   {line}" for line in why), ""]
    return "\n".join(lines + story_appendix(story))


def story_head(story: Row) -> list[str]:
    """What the card is: its holder, process, batch and requester; its state since when; its fields."""
    card = story["card"]
    holder = card["holder"]
    return [
        f"Card {card['id']} for {holder.get('name') or '?'} ({card['user_id']}), process {card['process']}, "
        f"batch {card['batch_id']}, requested by {card['requester']}"
        + (f", production type {card['production_type']}" if card["production_type"] else "")
        + ".",
        f"It is now '{card['state']}' ({'open' if card['open'] else 'closed'}), since {card['updated_at']}.",
        *([_field_line("Its card fields", card["fields"])] if card["fields"] else []),
    ]


def story_appendix(story: Row) -> list[str]:
    """The card's orders at the bureau, the orders no answer came for, and its emails."""
    lines = []
    if story["orders"]:
        lines.append("Bureau orders:")
        lines += [
            f"  {o['at']}  key {o['idempotency_key']} via {o['connector']}: "
            + (f"accepted, order id {o['order_id']}" if o["accepted"] else f"refused: {o['message']}")
            for o in story["orders"]
        ]
    if story["unanswered"]:
        lines.append("Bureau orders without an answer (the card waited; the next run or sync tries again):")
        lines += [f"  {a['at']}  key {a['idempotency_key']} via {a['connector']}: {a['error']}" for a in story["unanswered"]]
    if story["emails"]:
        lines.append("Emails:")
        lines += [f"  {e['created_at']}  {e['template']} to {e['recipient']} ({e['status']})" for e in story["emails"]]
    return lines


def timeline(story: Row, names: Mapping[str, str] | None = None) -> list[tuple[str, list[str]]]:
    """Each move of the card as (what happened, why: the reason given, the fields set, each candidate
    transition with its guard, the values it read and its YAML line, the bureau's answer)."""
    made_by = story["card"]["batch_id"]
    entries = []
    for number, step in enumerate(story["transitions"], 1):
        headline, *why = _step(number, step, names or {}, made_by)
        entries.append((headline, [line.strip() for line in why if line.strip()]))
    return entries


def _step(number: int, step: Row, names: Mapping[str, str], made_by: str) -> list[str]:
    """One move of the card in words; its batch is named where it was made and where a run over cards moved it."""
    by = "the system" if step["actor"] == "system" else step["actor"]
    process = step["process"]
    named = f"{names[process]}, {process}" if process in names else process
    in_batch = number == 1 or step["batch_id"] not in (None, made_by)
    batch = f" in batch {step['batch_id']}" if in_batch else ""
    batch += f", release {step['release']}" if step.get("release") else ""
    lines = [f"{number}. {step['at']}  '{step['trigger']}' by {by} ({named}){batch}: {step['source']} -> {step['dest']}."]
    if step["reason"]:
        lines.append(f"   Reason given: {step['reason']}")
    if step.get("fields"):
        lines.append(_field_line("   Card fields set", step["fields"]))
    trace = step["trace"]
    for candidate in trace["candidates"]:
        lines.append("   " + _candidate_sentence(candidate))
    bureau = trace.get("bureau")
    if bureau:
        answer = "accepted it" if bureau["accepted"] else f"refused it: {bureau['message']}"
        lines.append(f"   The card bureau ({bureau['connector']}) was asked to produce the card and {answer}.")
    return lines


def _field_line(said: str, fields: Mapping[str, Any]) -> str:
    return f"{said}: " + ", ".join(f"{name} = {_shown(value)}" for name, value in fields.items()) + "."


def _candidate_sentence(candidate: Row) -> str:
    target = f"to '{candidate['dest']}' (transition #{candidate['transition']}, {candidate['at']})"
    if candidate["guard"] is None:
        return f"Taken: {target}, which has no guard." if candidate["fired"] else f"Not taken: {target}."
    because = _because(candidate["reads"])
    if candidate["fired"]:
        return f"Taken: {target}, because `{candidate['guard']}` is true: {because}."
    if candidate["result"] is None:
        return f"Not considered: {target}; an earlier transition was taken."
    if candidate["stage"] == "recorded":
        state = "true" if candidate["result"] else "false"
        return f"Not taken: {target}; an earlier transition was taken (`{candidate['guard']}` is {state}: {because})."
    return f"Not taken: {target}, because `{candidate['guard']}` is false: {because}."


def _because(reads: list[Row]) -> str:
    return "; ".join(_read_sentence(read) for read in reads) or "it reads nothing"


def _read_sentence(read: Row) -> str:
    value = _shown(read["value"])
    name = read["name"]
    if name.startswith("options."):
        source = read["source"]
        where = "the default" if source == "default" else ("set with --set" if source == "--set" else f"set at {source}")
        return f"{name.removeprefix('options.')} is {value} ({where})"
    return f"{name} is {value}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    return repr(value) if isinstance(value, str) else str(value)
