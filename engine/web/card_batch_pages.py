"""BATCH ORDERS over existing cards, the vendor's steps for a process that acts on cards: Search
cards, tick them, the process's button, then a confirmation with what Next would do to each card
(a dry run: done or refused, nothing written); Next runs it, Cancel closes it writing nothing.

Next is `cardflow run NAME --card ...` (`engine.batch.over_cards.run_over_cards`) with the batch id
the confirmation chose, so sending the form twice finishes one batch instead of starting a second.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.batch import offers
from engine.batch.over_cards import CardRunRequest, CardSelection, run_over_cards
from engine.batch.request import new_batch_id
from engine.definitions.model import Process, Trigger
from engine.errors import UsageError
from engine.store import db, pages, queries
from engine.store.queries import Row
from engine.web import paging, render
from engine.web.auth import CsrfChecked, desk
from engine.web.bounds import LARGEST
from engine.web.console import Console, console_of
from engine.web.jobs import Job

router = APIRouter(include_in_schema=False)  # pages, not the API
Operator = Annotated[Row, Depends(desk("batch"))]


def cards_process(console: Console, name: str, user: Row) -> Process:
    """The batch order `name` over cards, which the user's roles may start."""
    process = console.workspace.process(name)
    if not (offers.is_batch_order(process) and offers.acts_on_cards(process)):
        raise UsageError(f"{name} is not a batch order over cards")
    offers.require_may_start(process, user)
    return process


@router.get("/batch/{name}/cards")
def search_cards(
    request: Request,
    name: str,
    user: Operator,
    searched: str = "",
    state: str = "",
    holder: str = "",
    batch: str = "",
    order: str = "",
    after: str = "",
    before: str = "",
) -> Response:
    """The process's search page over the cards it acts on; after Search, a page of the cards with a
    check box each."""
    console = console_of(request)
    process = cards_process(console, name, user)
    found: list[Row] = []
    people: dict[str, Row] = {}
    pager = None
    if searched:
        filters = pages.card_filters(state=state, user=holder, batch=batch, processes=process.acts_on)
        with db.reading(console.engine) as connection:
            page = pages.cards(connection, filters, paging.window(after, before, order, "oldest"))
            people = queries.users_by_id(connection, {card["user_id"] for card in page.rows})
        found, pager = page.rows, paging.links(f"/batch/{name}/cards", request.query_params, page)
    states = sorted({s for owner in process.acts_on for s in console.workspace.process(owner).states})
    context = {
        "process": process,
        "search": {"state": state, "holder": holder, "batch": batch},
        "searched": bool(searched),
        "found": found,
        "pager": pager,
        "sorted_by": order or "oldest",
        "people": people,
        "states": states,
        "triggers": list(offers.person_triggers(process).values()),
    }
    return render.page(request, "card_search.html", context)


def _request(form: Any, process: Process, user: Row, *, plan: bool) -> CardRunRequest:
    """The run the form asks for: the ticked cards, the trigger (its button), the reason."""
    cards = tuple(_card_id(value) for value in form.getlist("card"))
    if not cards:
        raise UsageError("Select the check boxes of the cards first.")
    trigger = str(form.get("trigger") or "") or None
    reason = str(form.get("reason") or "").strip() or None
    batch_id = None if plan else str(form.get("batch_id") or "") or None
    selection = CardSelection(cards=cards)
    return CardRunRequest(process.symbolic_name, user["id"], selection, trigger, reason, dry_run=plan, batch_id=batch_id)


def _card_id(value: object) -> int:
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= LARGEST:
        raise UsageError(f"not a card id: {text!r}")
    return int(text)


@router.post("/batch/{name}/cards/confirm", dependencies=[CsrfChecked])
async def confirm_cards(request: Request, name: str, user: Operator) -> Response:
    """The confirmation step: what Next would do to each ticked card (done, or refused and why), nothing written."""
    console = console_of(request)
    process = cards_process(console, name, user)
    run_request = _request(await request.form(), process, user, plan=True)
    # the engine's calls block: in a worker thread, so the server goes on answering meanwhile
    planned = await run_in_threadpool(run_over_cards, console.workspace, console.engine, run_request, console.connector)
    trigger: Trigger = process.triggers[planned.trigger]
    context = {
        "process": process,
        "plan": planned,
        "counts": dict(planned.counts),
        "nothing_to_do": all(result.status == "refused" for result in planned.results),
        "run": run_request,
        "trigger": trigger,
        "batch_id": new_batch_id(),
    }
    return render.page(request, "card_confirm.html", context)


@router.post("/batch/{name}/cards/run", dependencies=[CsrfChecked])
async def run_cards(request: Request, name: str, user: Operator, batch_id: Annotated[str, Form()]) -> Response:
    """Next: run the process over the ticked cards and show the batch's page."""
    console = console_of(request)
    process = cards_process(console, name, user)
    run_request = _request(await request.form(), process, user, plan=False)

    def work(job: Job) -> Any:
        return run_over_cards(console.workspace, console.engine, run_request, console.connector, progress=job.advance)

    total = len(run_request.selection.cards)
    await run_in_threadpool(console.jobs.start, batch_id, total, work, background=False, over_cards=True)
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)
