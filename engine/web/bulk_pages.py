"""Bulk actions in the console: an action over every card a query finds (the Cards page's filters,
or an incidents group), previewed first (a dry run: each card done or refused, nothing written),
then run as a batch in the background whose page shows its progress and offers Pause and Resume;
and each user's saved views of the Cards page.

Next is `cardflow run NAME --state ... --moved-because ...` (`engine.batch.over_cards`) with the
batch id the preview chose, so sending the form twice finishes one batch instead of starting a second;
Pause and Resume are `cardflow batches pause|resume` (`engine.batch.bulk`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.batch import bulk
from engine.batch.offers import bulk_actions
from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.batch.request import new_batch_id
from engine.batch.selected_cards import count_selected
from engine.definitions.model import Process, Trigger
from engine.diagnostics import did_you_mean
from engine.errors import UsageError
from engine.store import db, saved_views
from engine.store.pages import CardQuery
from engine.store.queries import Row
from engine.web import paging, render
from engine.web.auth import CsrfChecked, desk
from engine.web.console import Console, console_of
from engine.web.jobs import Job

router = APIRouter(include_in_schema=False)  # pages, not the API
Operator = Annotated[Row, Depends(desk("batch"))]
CardReader = Annotated[Row, Depends(desk("cards"))]
#: The filters of the Cards page a bulk action and a saved view keep, by their query parameter.
FILTERS = ("process", "state", "reason", "holder", "batch", "updated_from", "updated_to")
#: The preview shows this many cards' outcomes, and how many more there are.
PREVIEW_ROWS = 50
#: A preview is a dry run over at most this many of the cards found (their outcomes stand for the rest).
PREVIEW_READS = 2000
#: The longest name a saved view may have.
VIEW_NAME = 100


def every_state(console: Console) -> list[str]:
    """Every state of the workspace's processes, sorted (the Cards page's choice of state)."""
    return sorted({state for process in console.workspace.processes.values() for state in process.states})


def card_query(console: Console, values: Mapping[str, Any]) -> CardQuery:
    """The query the Cards page's filters in `values` give (an unknown process is a usage error)."""
    given = {name: str(values.get(name) or "").strip() for name in FILTERS}
    if given["process"]:
        console.workspace.process(given["process"])
    states = every_state(console)
    if given["state"] and given["state"] not in states:
        raise UsageError(f"no process has a state {given['state']!r}{did_you_mean(given['state'], states)}")
    return CardQuery(
        given["process"] or None,
        given["state"] or None,
        given["holder"] or None,
        given["batch"] or None,
        given["reason"] or None,
        paging.day(given["updated_from"], "updated from"),
        paging.day(given["updated_to"], "updated to"),
    )


def kept_filters(values: Mapping[str, Any]) -> dict[str, str]:
    """The filters given in `values` (a query string or a form), for a link or a hidden field."""
    return {name: str(values[name]) for name in FILTERS if values.get(name)}


def actions_for(console: Console, user: Row, query: CardQuery) -> list[tuple[Process, Trigger]]:
    """The actions the user may take on the cards `query` finds (engine.batch.offers.bulk_actions)."""
    return bulk_actions(console.workspace, user["roles"], query.process, query.state)


def _request(console: Console, values: Mapping[str, Any], user: Row, *, plan: bool) -> CardRunRequest:
    """The run the form or link asks for: the action process, its trigger, a reason, over the query's cards."""
    query = card_query(console, values)
    if not query:
        raise UsageError("Choose at least one filter first: a bulk action never acts on every card by accident.")
    picked = str(values.get("pick") or "").split()  # the Cards page's choice: "PROCESS TRIGGER"
    action, trigger = picked if len(picked) == 2 else (str(values.get("action") or ""), str(values.get("trigger") or ""))
    process = console.workspace.process(action)
    offered = {(p.symbolic_name, t.name) for p, t in actions_for(console, user, query)}
    if (process.symbolic_name, trigger) not in offered:
        raise UsageError(f"{trigger or 'no action'} of {process.name} is not an action you may take on these cards")
    reason = str(values.get("given_reason") or "").strip() or None
    batch_id = None if plan else str(values.get("batch_id") or "") or new_batch_id()
    where = str(values.get("where") or "").strip() or None  # over `card` and `user`: a declared field, a user attribute
    selection = CardSelection(where=where, query=query)
    return CardRunRequest(process.symbolic_name, user["id"], selection, trigger, reason, dry_run=plan, batch_id=batch_id)


@router.get("/bulk/preview")
async def preview(request: Request, user: Operator) -> Response:
    """What Next would do to every card the filters find (done, or refused and why), nothing written:
    the counts per outcome and the first cards."""
    console = console_of(request)
    asked = _request(console, request.query_params, user, plan=True)
    planned = await run_in_threadpool(
        partial(run_over_cards, read_at_most=PREVIEW_READS), console.workspace, console.engine, asked, console.connector
    )
    found = await run_in_threadpool(count_selected, console.workspace, console.engine, asked) if planned.partial else None
    process = console.workspace.process(asked.process)
    context = {
        "process": process,
        "trigger": process.triggers[planned.trigger],
        "plan": planned.results[:PREVIEW_ROWS],
        "hidden": max(0, len(planned.results) - PREVIEW_ROWS),
        "counts": dict(Counter(result.status for result in planned.results)),
        "nothing_to_do": not planned.partial and all(result.status == "refused" for result in planned.results),
        "partial": planned.partial,
        "found": found,
        "reads": PREVIEW_READS,
        "run": asked,
        "filters": kept_filters(request.query_params),
        "where": asked.selection.where,
        "back": "/cards?" + urlencode(kept_filters(request.query_params)),
        "batch_id": new_batch_id(),
    }
    return render.page(request, "bulk_preview.html", context)


@router.post("/bulk/run", dependencies=[CsrfChecked])
async def run_bulk(request: Request, user: Operator) -> Response:
    """Next: run the action over the query's cards in the background and show the batch's page (its progress)."""
    console = console_of(request)
    asked = _request(console, await request.form(), user, plan=False)
    _start(console, asked)
    return RedirectResponse(f"/batches/{asked.batch_id}", status_code=303)


def _start(console: Console, asked: CardRunRequest) -> None:
    """Run `asked` in a thread of its own, its progress counted for the batch's page."""

    def work(job: Job) -> Any:
        return run_over_cards(console.workspace, console.engine, asked, console.connector, progress=job.advance)

    total = count_selected(console.workspace, console.engine, asked)
    console.jobs.start(str(asked.batch_id), total, work, background=True, over_cards=True)


@router.post("/batches/{batch_id}/pause", dependencies=[CsrfChecked])
def pause(request: Request, batch_id: str, user: Operator) -> Response:
    """Pause: the batch stops after the chunk in work, on whichever machine runs it."""
    console = console_of(request)
    bulk.pause(console.workspace, console.engine, batch_id, user["id"])
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@router.post("/batches/{batch_id}/resume", dependencies=[CsrfChecked])
def resume(request: Request, batch_id: str, user: Operator) -> Response:
    """Resume: run the paused batch again as it was asked, in the background; the cards it moved are not fired again."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        asked = bulk.resumed(console.workspace, connection, batch_id, user["id"])
    _start(console, asked)
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@router.post("/views", dependencies=[CsrfChecked])
async def save_view(
    request: Request, user: CardReader, name: Annotated[str, Form()] = "", order: Annotated[str, Form()] = ""
) -> Response:
    """Save the Cards page's filters and `order` as one of the user's views, under `name`."""
    form = await request.form()
    card_query(console_of(request), form)  # filters that could not be shown are refused before they are kept
    named = name.strip()
    if not named or len(named) > VIEW_NAME:
        raise UsageError(f"Give the view a name of 1 to {VIEW_NAME} characters.")
    kept = {**kept_filters(form), **paging.sorted_by(order)}
    with console_of(request).engine.begin() as connection:
        saved_views.save_view(connection, user["id"], named, "/cards", urlencode(kept))
    return RedirectResponse("/cards?" + urlencode(kept), status_code=303)


@router.post("/views/{view_id}/delete", dependencies=[CsrfChecked])
def delete_view(request: Request, view_id: int, user: CardReader) -> Response:
    """Delete one of the user's views."""
    with console_of(request).engine.begin() as connection:
        if not saved_views.drop_view(connection, user["id"], view_id):
            raise UsageError(f"you have no view {view_id}")
    return RedirectResponse("/cards", status_code=303)
