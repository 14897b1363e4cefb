"""The home page ("What do you want to do?": the processes the user's roles may start), and for
approvers the open requests and the "Card approval" form: a button per trigger of the approvers'
processes (the shipped workspace's Approved, Reject with a Reason, Postpone), which fires it through
the engine's `act`, as the command line's shortcut does: the engine refuses a decision on one's own
request (four-eyes) and a decision without the reason its trigger requires."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from engine.batch.actions import act, decision_states
from engine.batch.offers import desks, is_batch_order, startable, triggers_of_roles
from engine.definitions.model import Process
from engine.errors import Refused, UsageError
from engine.report.explain import card_story
from engine.store import db, pages, queries
from engine.store.pages import Page, Window
from engine.store.queries import Row
from engine.web import paging, render
from engine.web.auth import CsrfChecked, SignedIn, desk
from engine.web.bounds import CardInPath
from engine.web.console import Console, console_of

router = APIRouter(include_in_schema=False)  # pages, not the API
Approver = Annotated[Row, Depends(desk("decide"))]


def open_requests(console: Console, window: Window) -> tuple[Page, dict[str, Row]]:
    """A page of the cards waiting for an approver's decision, and the people they name."""
    waiting = decision_states(console.workspace, desks(console.workspace).decide)
    with db.reading(console.engine) as connection:
        found = pages.cards(connection, pages.card_filters(waiting=waiting), window)
        named = {card["user_id"] for card in found.rows} | {card["requested_by"] for card in found.rows}
        people = queries.users_by_id(connection, named)
    return found, people


def start_page(process: Process) -> str:
    """Where a process begins: BATCH ORDERS' search page, or the cards it can act on (then a card's button)."""
    return f"/batch/{process.symbolic_name}" if is_batch_order(process) else f"/cards?action={process.symbolic_name}"


@router.get("/")
def home(request: Request, user: SignedIn) -> Response:
    """The home page, "What do you want to do?": the processes the user's roles may start, the pages
    they may read, and for an approver the requests waiting (a postponed one stays there)."""
    approver = desks(console_of(request).workspace).of(user["roles"])["decide"]
    waiting, people = open_requests(console_of(request), Window(size=10)) if approver else (None, {})
    processes = [(process, start_page(process)) for process in startable(console_of(request).workspace, user["roles"])]
    context = {
        "processes": processes,
        "waiting": waiting.rows if waiting else [],
        "people": people,
    }
    return render.page(request, "home.html", context)


@router.get("/requests")
def requests_page(request: Request, user: Approver, order: str = "", after: str = "", before: str = "") -> Response:
    """The open requests, one row each, a page at a time, oldest first unless asked."""
    found, people = open_requests(console_of(request), paging.window(after, before, order, "oldest"))
    pager = paging.links("/requests", request.query_params, found)
    context = {"requests": found.rows, "people": people, "pager": pager, "sorted_by": order or "oldest"}
    return render.page(request, "requests.html", context)


def _approval_context(request: Request, card_id: int, problem: str | None = None) -> dict[str, object]:
    console = console_of(request)
    with db.reading(console.engine) as connection:
        story = card_story(connection, card_id)
        made_by = story["card"]["requested_by"]  # who made the request being decided
        requester = queries.users_by_id(connection, [made_by]).get(made_by)
        batch = queries.get_batch(connection, story["card"]["batch_id"])
    process = console.workspace.processes.get(story["card"]["process"])
    triggers = list(triggers_of_roles(console.workspace, desks(console.workspace).decide, story["card"]["process"]).values())
    context = {"story": story, "requester": requester, "batch": batch, "process": process, "problem": problem}
    return {**context, "triggers": triggers, "asked": _asked(story, process)}


def _asked(story: dict[str, Any], process: Process | None) -> dict[str, Any]:
    """What the request being decided asks: when the card came into its state (the move that made the
    request, a postponement aside), with which reason, and the state's description from the YAML."""
    card = story["card"]
    moves = [step for step in story["transitions"] if step["dest"] == card["state"] and step["source"] != card["state"]]
    made = moves[-1] if moves else None
    state = process.states.get(card["state"]) if process is not None else None
    return {
        "at": made["at"] if made else card["created_at"],
        "reason": made["reason"] if made else None,
        "what": state.description if state is not None else "",
    }


@router.get("/requests/{card_id}")
def approval_form(request: Request, card_id: CardInPath, user: Approver) -> Response:
    """The "Card approval" form: request, card and requester information, and the three decisions."""
    return render.page(request, "approval.html", _approval_context(request, card_id))


@router.post("/requests/{card_id}", dependencies=[CsrfChecked])
def decide(
    request: Request,
    card_id: CardInPath,
    user: Approver,
    decision: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """A decision (one of the form's buttons); a refusal shows the form again with the engine's reason."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        card = queries.get_cards(connection, [card_id]).get(card_id)
    if card is None:
        raise UsageError(f"unknown card {card_id}")
    offered = triggers_of_roles(console.workspace, desks(console.workspace).decide, card["process"])
    if decision not in offered:
        raise UsageError(f"unknown decision {decision!r}")
    try:
        done = act(console.workspace, console.engine, decision, [card_id], user["id"], console.connector, reason=reason or None)
    except Refused as refusal:
        return render.page(request, "approval.html", _approval_context(request, card_id, refusal.message), status_code=403)
    request.session["flash"] = render.done_sentence(request, render.translator(request)(offered[decision].button), done)
    return RedirectResponse("/requests", status_code=303)
