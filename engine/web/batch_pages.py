"""BATCH ORDERS, the vendor's steps: choose the process, Search, tick the users, the process's
button, then a confirmation with the plan: Next runs the batch, Cancel closes it writing nothing.

The plan is `cardflow plan` (a dry run with a simulated bureau); Next is `cardflow run` with the
batch id the confirmation chose, so sending the form twice finishes one batch instead of starting
a second. A large selection runs in the background and its page shows the progress (htmx polling).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.batch import offers
from engine.batch.over_cards import CardRun
from engine.batch.request import RunRequest, Selection, new_batch_id, production_types, search_selection
from engine.batch.run import run_batch
from engine.definitions.model import Process
from engine.definitions.options import effective_options
from engine.errors import UsageError
from engine.store import db, queries
from engine.store.queries import Row
from engine.store.search import UserSearch, search_users, users_page
from engine.store.users import USER_STATES
from engine.web import paging, render
from engine.web.auth import CsrfChecked, desk
from engine.web.console import Console, console_of
from engine.web.jobs import KEPT_RESULTS, Job

router = APIRouter(include_in_schema=False)  # pages, not the API
PAGE_SIZE = 50
#: The confirmation shows the counts per outcome and this many users' rows.
CONFIRMATION_ROWS = 50
#: A selection of more users than this (or "every user found") runs in the background.
WAIT_FOR_AT_MOST = 100
Operator = Annotated[Row, Depends(desk("batch"))]


def _batch_order(console: Console, name: str, user: Row) -> Process:
    """The batch order `name`, which the user's roles may start."""
    process = console.workspace.process(name)
    if not offers.is_batch_order(process):
        raise UsageError(f"{name} is not a batch order")
    offers.require_may_start(process, user)
    return process


def _batch_process(console: Console, name: str, user: Row) -> Process:
    """The batch order `name` over users (one that creates cards)."""
    process = _batch_order(console, name, user)
    if offers.acts_on_cards(process):
        raise UsageError(f"{name} acts on cards: choose them on /batch/{name}/cards")
    return process


@router.get("/batch")
def batch_orders(request: Request, user: Operator, cancelled: str = "") -> Response:
    """The BATCH ORDERS page: the batch orders (processes whose start is "Batch order > …") the user may start."""
    processes = offers.batch_orders(console_of(request).workspace, user["roles"])
    return render.page(request, "batch_orders.html", {"processes": processes, "cancelled": bool(cancelled)})


@router.get("/batch/{name}")
def search_page(
    request: Request,
    name: str,
    user: Operator,
    searched: str = "",
    q: Annotated[str, Query(alias="name")] = "",
    department: str = "",
    state: str = "",
    after: str = "",
    before: str = "",
) -> Response:
    """The process's search page; after Search, a page of users with a check box each, found by keyset
    in id order (a batch order over cards searches cards instead)."""
    console = console_of(request)
    if offers.acts_on_cards(_batch_order(console, name, user)):
        return RedirectResponse(f"/batch/{name}/cards", status_code=303)
    process = _batch_process(console, name, user)
    search = UserSearch(q, department, state)
    found: list[Row] = []
    pager = None
    if searched:
        window = replace(paging.window(after, before, "", "oldest", paging.BY_TEXT), size=PAGE_SIZE)
        with db.reading(console.engine) as connection:
            page = users_page(connection, search, window)
        found, pager = page.rows, paging.links(f"/batch/{name}", request.query_params, page)
    types, selectable = production_types(process, effective_options(console.workspace.scripts).for_scripts(process.options))
    context = {
        "process": process,
        "search": search,
        "searched": bool(searched),
        "found": found,
        "pager": pager,
        "states": USER_STATES,
        "types": types if selectable else [],
        "problem": None,
    }
    return render.page(request, "search.html", context)


def _selection(form: Any) -> tuple[Selection, UserSearch]:
    search = UserSearch(str(form.get("name", "")), str(form.get("department", "")), str(form.get("state", "")))
    if form.get("everyone"):
        return search_selection(search.name, search.department, search.state), search
    users = tuple(str(user) for user in form.getlist("user"))
    if not users:
        raise UsageError("Select the check boxes of the users first.")
    return Selection(users=users), search


def _request(form: Any, process: Process, user: Row, *, plan: bool) -> RunRequest:
    selection, _ = _selection(form)
    production_type = str(form.get("production_type") or "") or None
    batch_id = None if plan else str(form.get("batch_id") or "") or None
    return RunRequest(
        process.symbolic_name, user["id"], selection, production_type=production_type, batch_id=batch_id, dry_run=plan
    )


@router.post("/batch/{name}/confirm", dependencies=[CsrfChecked])
async def confirm(request: Request, name: str, user: Operator) -> Response:
    """The confirmation step: what Next would do to each selected user, nothing written."""
    console = console_of(request)
    process = _batch_process(console, name, user)
    form = await request.form()
    selection, search = _selection(form)
    run_request = _request(form, process, user, plan=True)
    # the engine's calls block: in a worker thread, so the server goes on answering meanwhile
    planned = await run_in_threadpool(
        run_batch, console.workspace, console.engine, run_request, console.connector, keep_results=KEPT_RESULTS
    )
    context = {
        "process": process,
        "plan": planned,
        "selection": selection,
        "search": search,
        "production_type": run_request.production_type,
        "batch_id": new_batch_id(),
        "shown": planned.results[:CONFIRMATION_ROWS],
        "nothing_to_do": planned.counts["skipped"] == planned.total,
    }
    return render.page(request, "confirm.html", context)


@router.post("/batch/{name}/run", dependencies=[CsrfChecked])
async def run(request: Request, name: str, user: Operator, batch_id: Annotated[str, Form()]) -> Response:
    """Next: run the batch (in the background when large) and show its page."""
    console = console_of(request)
    process = _batch_process(console, name, user)
    form = await request.form()
    run_request = _request(form, process, user, plan=False)
    users = run_request.selection.users
    background = not users or len(users) > WAIT_FOR_AT_MOST
    total = len(users) if users else await run_in_threadpool(_found, console, form)

    def work(job: Job) -> Any:
        return run_batch(
            console.workspace, console.engine, run_request, console.connector, keep_results=KEPT_RESULTS, progress=job.advance
        )

    await run_in_threadpool(console.jobs.start, batch_id, total, work, background=background)
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


def _found(console: Console, form: Any) -> int:
    _, search = _selection(form)
    with db.reading(console.engine) as connection:
        return search_users(connection, search, page=1, size=1)[1]


@router.get("/batches/{batch_id}")
def batch_page(request: Request, batch_id: str, user: Operator) -> Response:
    """A batch: its id and status, and per user the outcome (while it runs, the progress)."""
    console = console_of(request)
    job = console.jobs.get(batch_id)
    # what the job had done, taken before the store is read: a job that finishes meanwhile is shown
    # running (the page polls again), never finished beside the store's figures from before its end
    running, outcome = job is not None and not job.finished, _outcome(job)
    with db.reading(console.engine) as connection:
        record = queries.get_batch(connection, batch_id)
        cards = queries.find_cards(connection, batch=batch_id, limit=KEPT_RESULTS) if record else []
    if record is None and job is None:
        raise UsageError(f"unknown batch {batch_id}")
    process = console.workspace.named(record["process"]) if record else None
    context = {
        "batch_id": batch_id,
        "record": record,
        "job": job,
        "running": running,
        "cards": cards,
        "outcome": outcome,
        "over_cards": process is not None and offers.acts_on_cards(process),
    }
    return render.page(request, "batch.html", context)


def _outcome(job: Job | None) -> list[dict[str, Any]]:
    """Per user or card, what the console's run did: the card, its state after, the status and why."""
    if job is None or job.result is None:
        return []
    if isinstance(job.result, CardRun):
        return [_row(r.user, r.card, r.dest or r.source, r.status, r.reason) for r in job.result.results]
    return [_row(r.user, r.card, r.state, r.status, r.reason) for r in job.result.results]


def _row(user: str, card: int | None, state: str | None, status: str, reason: str | None) -> dict[str, Any]:
    return {"user": user, "card": card, "state": state, "status": status, "reason": reason}


@router.get("/batches/{batch_id}/progress")
def progress(request: Request, batch_id: str, user: Operator) -> Response:
    """The progress fragment the batch page polls; once the batch is done, htmx reloads the page."""
    job = console_of(request).jobs.get(batch_id)
    response = render.page(request, "_progress.html", {"batch_id": batch_id, "job": job})
    if job is None or job.finished:
        response.headers["HX-Refresh"] = "true"
    return response
