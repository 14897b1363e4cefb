"""Cards (search by state, user, batch; a card's story and the actions its state allows), the Outbox
and Batches pages for operators, and for every signed-in user the Options (effective values and where
each was set) and the process graphs (Mermaid, rendered in the page by the vendored script)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from engine.batch.actions import act, allowed_actions
from engine.definitions.compile import compile_process
from engine.definitions.options import effective_options
from engine.errors import UsageError
from engine.report.explain import card_story, render_story
from engine.report.graphs import mermaid
from engine.report.tables import option_rows, outbox_row
from engine.store import db, queries
from engine.store.queries import Row
from engine.web import render
from engine.web.auth import CsrfChecked, SignedIn, role
from engine.web.bounds import CardInPath
from engine.web.console import console_of

router = APIRouter(include_in_schema=False)  # pages, not the API
SHOWN = 200
CARD_ACTIONS = ("abort", "retry")
Operator = Annotated[Row, Depends(role("operator"))]
CardReader = Annotated[Row, Depends(role("operator", "approver"))]


@router.get("/cards")
def cards_page(request: Request, user: CardReader, state: str = "", holder: str = "", batch: str = "") -> Response:
    """Cards matching the filters, oldest first (the first 200)."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        found = queries.find_cards(connection, state=state or None, user=holder or None, batch=batch or None, limit=SHOWN + 1)
    states = sorted({name for p in console.workspace.processes.values() for name in p.states})
    context = {
        "cards": found[:SHOWN],
        "more": len(found) > SHOWN,
        "state": state,
        "holder": holder,
        "batch": batch,
        "states": states,
    }
    return render.page(request, "cards.html", context)


@router.get("/cards/{card_id}")
def card_page(request: Request, card_id: CardInPath, user: CardReader) -> Response:
    """A card: its story in words (`explain`) and the actions its state allows this user."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        story = card_story(connection, card_id)
    allowed = allowed_actions(console.workspace, console.engine, card_id, user["id"])
    context = {
        "story": story,
        "told": render_story(story, {p.symbolic_name: p.name for p in console.workspace.processes.values()}).splitlines(),
        # each button is named for the action process that allows it ("Abort card request")
        "actions": {trigger: action.name for trigger, action in allowed.items() if trigger in CARD_ACTIONS},
        "decidable": any(trigger not in CARD_ACTIONS for trigger in allowed),
    }
    return render.page(request, "card.html", context)


@router.post("/cards/{card_id}/{trigger}", dependencies=[CsrfChecked])
def card_action(request: Request, card_id: CardInPath, trigger: str, user: Operator) -> Response:
    """Abort (or withdraw) or Retry, through the engine's `act` (which checks state, role and rules)."""
    if trigger not in CARD_ACTIONS:
        raise UsageError(f"unknown card action {trigger!r}")
    console = console_of(request)
    act(console.workspace, console.engine, trigger, [card_id], user["id"], console.connector)
    request.session["flash"] = render.translator(request)(render.TRIGGER_DONE[trigger], card=card_id)
    return RedirectResponse(f"/cards/{card_id}", status_code=303)


@router.get("/outbox")
def outbox_page(request: Request, user: Operator, status: str = "") -> Response:
    """The newest emails of the outbox and their delivery status."""
    with db.reading(console_of(request).engine) as connection:
        emails = [outbox_row(row) for row in queries.recent_outbox(connection, status or None, SHOWN)]
    return render.page(request, "outbox.html", {"emails": emails, "status": status})


@router.get("/batches")
def batches_page(request: Request, user: Operator) -> Response:
    """Every batch run so far, newest first, with its status and counts."""
    with db.reading(console_of(request).engine) as connection:
        found = list(reversed(queries.list_batches(connection)))
    return render.page(request, "batches.html", {"batches": found})


@router.get("/options")
def options_page(request: Request, user: SignedIn) -> Response:
    """The effective options, read-only, each with where its value was set."""
    options = effective_options(console_of(request).workspace.scripts)
    return render.page(request, "options.html", {"options": option_rows(options)})


@router.get("/graph")
def graphs_page(request: Request, user: SignedIn) -> Response:
    """The processes whose graph can be drawn."""
    processes = [p for p in console_of(request).workspace.processes.values() if p.kind == "batch"]
    return render.page(request, "graphs.html", {"processes": processes})


@router.get("/graph/{name}")
def graph_page(request: Request, name: str, user: SignedIn) -> Response:
    """A process's compiled machine under the options in force, as a Mermaid diagram."""
    workspace = console_of(request).workspace
    process = workspace.process(name)
    if process.kind != "batch":
        raise UsageError(f"{name} is an action process; it has no card lifecycle of its own")
    options = effective_options(workspace.scripts).for_scripts(process.options)
    diagram = mermaid(compile_process(process, options, workspace.fingerprint))
    return render.page(request, "graph.html", {"process": process, "diagram": diagram})
