"""Cards (search by state, user, batch; a card's story and the actions its state allows), the Outbox
and Batches pages for operators, and for every signed-in user the Options (effective values and where
each was set) and the process graphs (Mermaid, rendered in the page by the vendored script)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from engine.batch.actions import act
from engine.batch.offers import acting_states, allowed_processes, on_one_card, person_triggers
from engine.definitions.compile import compile_process
from engine.definitions.model import Process
from engine.definitions.options import effective_options
from engine.errors import Refused, UsageError
from engine.report.explain import card_story, story_appendix, story_head, timeline
from engine.report.graphs import mermaid
from engine.report.paths import card_path, mermaid_path
from engine.report.tables import option_rows, outbox_row
from engine.store import batches, db, outbox, pages, saved_views
from engine.store.queries import Row
from engine.web import paging, render
from engine.web.auth import CsrfChecked, SignedIn, desk
from engine.web.bounds import CardInPath
from engine.web.bulk_pages import FILTERS, actions_for, card_query, every_state, kept_filters
from engine.web.console import Console, console_of

router = APIRouter(include_in_schema=False)  # pages, not the API
Operator = Annotated[Row, Depends(desk("batch"))]
CardReader = Annotated[Row, Depends(desk("cards"))]


@router.get("/cards")
def cards_page(
    request: Request,
    user: CardReader,
    order: str = "",
    after: str = "",
    before: str = "",
    action: str = "",
) -> Response:
    """Cards matching the filters (`bulk_pages.FILTERS`: the days of their last move both included,
    the reason of the move into their state), a page at a time in the order they were made; with
    `action`, only those waiting in a state that action process acts on (its link on the home page).
    Beside them: the user's saved views, and the actions they may take on every card found."""
    console = console_of(request)
    acting = _card_process(console, action) if action else None
    query = card_query(console, request.query_params)
    waiting = pages.card_filters(waiting=acting_states(console.workspace, acting)) if acting else []
    with db.reading(console.engine) as connection:
        found = pages.cards(connection, [*query.filters(), *waiting], paging.window(after, before, order, "oldest"))
        views = saved_views.views_of(connection, user["id"], "/cards")
    context = {
        "cards": found.rows,
        "pager": paging.links("/cards", request.query_params, found),
        **{name: request.query_params.get(name, "") for name in FILTERS},
        "filters": kept_filters(request.query_params),
        "sorted_by": order or "oldest",
        "states": every_state(console),
        "processes": [p for p in console.workspace.processes.values() if p.kind == "batch"],
        "action": acting,
        "bulk": actions_for(console, user, query) if query and not acting else [],
        "views": views,
    }
    return render.page(request, "cards.html", context)


def _card_process(console: Console, name: str) -> Process:
    """The process `name`, which must be one a person starts from a card's page."""
    process = console.workspace.process(name)
    if not on_one_card(process):
        raise UsageError(f"{name} is not started from a card's page")
    return process


@router.get("/cards/{card_id}")
def card_page(request: Request, card_id: CardInPath, user: CardReader, cancelled: str = "") -> Response:
    """A card: its path on its process graph, its story as a timeline whose entries open on their
    decision trace (`explain --format html`), and a button for each process this user may start on it now."""
    console = console_of(request)
    names = {p.symbolic_name: p.name for p in console.workspace.processes.values()}
    with db.reading(console.engine) as connection:
        story = card_story(connection, card_id)
        path = card_path(console.workspace, connection, story) if story["card"]["process"] in names else None
    allowed = allowed_processes(console.workspace, console.engine, card_id, user["id"])
    context = {
        "story": story,
        "head": story_head(story),
        "diagram": mermaid_path(path) if path else None,
        "entries": timeline(story, names),
        "appendix": story_appendix(story),
        "processes": [console.workspace.processes[name] for name in allowed if on_one_card(console.workspace.processes[name])],
        "cancelled": bool(cancelled),
    }
    return render.page(request, "card.html", context)


def _step_context(request: Request, card_id: int, process: Process, user: Row, problem: str | None = None) -> dict[str, object]:
    """What the confirmation step of `process` on a card shows: the card, the triggers allowed now, a problem."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        story = card_story(connection, card_id)
    allowed = allowed_processes(console.workspace, console.engine, card_id, user["id"]).get(process.symbolic_name, ())
    triggers = person_triggers(process)
    return {"story": story, "process": process, "triggers": [triggers[name] for name in allowed], "problem": problem}


@router.get("/cards/{card_id}/process/{name}")
def card_step(request: Request, card_id: CardInPath, name: str, user: CardReader) -> Response:
    """The confirmation step of a process on one card: its triggers allowed now (Next, or one button
    each), a Reason field when one takes a reason, and Cancel."""
    return render.page(request, "card_step.html", _step_context(request, card_id, _card_process(console_of(request), name), user))


@router.post("/cards/{card_id}/process/{name}", dependencies=[CsrfChecked])
def card_action(
    request: Request,
    card_id: CardInPath,
    name: str,
    user: CardReader,
    trigger: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Next: fire the trigger through the engine's `act` (which checks state, role and rules); a
    refusal shows the step again with the engine's reason."""
    console = console_of(request)
    process = _card_process(console, name)
    if trigger not in person_triggers(process):
        raise UsageError(f"{process.name} has no trigger {trigger!r}")
    try:
        done = act(
            console.workspace,
            console.engine,
            trigger,
            [card_id],
            user["id"],
            console.connector,
            reason=reason or None,
            process=name,
        )
    except Refused as refusal:
        context = _step_context(request, card_id, process, user, refusal.message)
        return render.page(request, "card_step.html", context, status_code=403)
    triggers = person_triggers(process)
    label = process.name if len(triggers) == 1 else triggers[trigger].button
    request.session["flash"] = render.done_sentence(request, render.translator(request)(label), done)
    return RedirectResponse(f"/cards/{card_id}", status_code=303)


@router.get("/outbox")
def outbox_page(
    request: Request, user: Operator, status: str = "", order: str = "", after: str = "", before: str = ""
) -> Response:
    """The emails of the outbox and their delivery status, a page at a time, newest first unless asked."""
    if status and status not in outbox.STATUSES:
        raise UsageError(f"status must be one of {', '.join(outbox.STATUSES)}, not {status!r}")
    with db.reading(console_of(request).engine) as connection:
        found = pages.emails(connection, status or None, paging.window(after, before, order, "newest"))
    context = {
        "emails": [outbox_row(row) for row in found.rows],
        "pager": paging.links("/outbox", request.query_params, found),
        "status": status,
        "statuses": outbox.STATUSES,
        "sorted_by": order or "newest",
    }
    return render.page(request, "outbox.html", context)


@router.get("/batches")
def batches_page(
    request: Request, user: Operator, status: str = "", process: str = "", order: str = "", after: str = "", before: str = ""
) -> Response:
    """The batches run so far with their status and counts, a page at a time, newest first unless asked."""
    console = console_of(request)
    if process:
        console.workspace.process(process)
    with db.reading(console.engine) as connection:
        found = pages.batches(
            connection, status or None, process or None, paging.window(after, before, order, "newest", paging.BY_TIME_AND_ID)
        )
    context = {
        "batches": found.rows,
        "pager": paging.links("/batches", request.query_params, found),
        "status": status,
        "statuses": batches.STATUSES,
        "process": process,
        "processes": list(console.workspace.processes.values()),
        "sorted_by": order or "newest",
    }
    return render.page(request, "batches.html", context)


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
