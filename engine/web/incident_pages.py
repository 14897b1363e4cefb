"""The incidents page: what needs a person (`engine.report.incidents`), grouped, each group with its
count, its oldest moment, what to do and where to look (the same as `cardflow incidents`)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response

from engine.report.incidents import Incident, incidents_in, waiting_since
from engine.store import db
from engine.store.queries import Row
from engine.web import render
from engine.web.auth import desk
from engine.web.bulk_pages import actions_for, card_query
from engine.web.console import Console, console_of

router = APIRouter(include_in_schema=False)  # pages, not the API
#: Each group's heading, by its kind (engine.web.i18n has them in Swedish).
TITLES = {
    "cards": "Cards that need a person",
    "waiting": "Cards waiting too long",
    "calls": "Calls with no answer",
    "emails": "Emails not delivered",
    "batches": "Batches that stopped",
    "timers": "Timers refused",
}
Operator = Annotated[Row, Depends(desk("batch"))]


@router.get("/incidents")
def incidents_page(request: Request, user: Operator, waiting: str = "P14D") -> Response:
    """Every group of what needs a person; cards not moved for longer than `waiting` (ISO 8601) wait too long."""
    since = waiting_since(waiting, "waiting longer than")
    console = console_of(request)
    with db.reading(console.engine) as connection:
        groups = incidents_in(console.workspace, connection, since)
    shared = Counter((g.details["process"], g.details["state"]) for g in groups if g.kind == "cards")
    shown = [
        {**group.as_json(), "title": TITLES[group.kind], "link": _link(group), "bulk": _bulk(console, user, group, shared)}
        for group in groups
    ]
    return render.page(request, "incidents.html", {"groups": shown, "waiting": waiting})


def _link(group: Incident) -> str | None:
    """Where the console shows the group's rows."""
    details: dict[str, Any] = group.details
    if group.kind in ("cards", "waiting"):
        return "/cards?" + urlencode({name: details[name] for name in ("process", "state", "reason") if details.get(name)})
    return {"emails": "/outbox?status=failed", "batches": "/batches"}.get(group.kind)


def _bulk(console: Console, user: Row, group: Incident, shared: Counter[tuple[str, str]]) -> list[dict[str, str | None]]:
    """The actions the user may take on every card of a group of cards, each a link to its preview;
    none where the filters would find more than the group: cards waiting too long (their filters
    cannot say "no timer"), or a group with no reason beside others of its state."""
    details: dict[str, Any] = group.details
    if group.kind != "cards" or (not details.get("reason") and shared[details["process"], details["state"]] > 1):
        return []
    filters = {name: details[name] for name in ("process", "state", "reason") if details.get(name)}
    query = card_query(console, filters)
    return [
        {
            "process": process.name,
            "trigger": trigger.button if len(process.triggers) > 1 else None,
            "href": "/bulk/preview?" + urlencode({**filters, "action": process.symbolic_name, "trigger": trigger.name}),
        }
        for process, trigger in actions_for(console, user, query)
    ]
