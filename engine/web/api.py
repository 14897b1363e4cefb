"""The JSON API under /api/, for scripts: the same requests and answers as the command line's
`--json` (`run`, `batches`, `cards`, `explain`, `approve` … `retry`), authenticated by per-user API
tokens, with the same roles and the same four-eyes rule (the engine's). Documented at /api/docs
(Swagger UI, served by the console) and /api/openapi.json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from engine.batch.actions import act, trigger_roles
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.definitions.options import parse_sets
from engine.errors import Refused, UsageError
from engine.outbound.bureau import Simulated
from engine.report import listings
from engine.report.explain import card_story
from engine.store import db, queries
from engine.store.queries import Row
from engine.web import render
from engine.web.auth import api_role, api_user, has_role
from engine.web.bounds import MAX_IDS, CardId, CardInPath, Limit, StrictJsonRoute
from engine.web.console import console_of


class ErrorBody(BaseModel):
    """An error: a stable code, the one-line message, the details behind it (for a 422, FastAPI's items)."""

    code: str = Field(description="usage, refused, workspace_invalid, unauthorized, not_found, invalid_request, ...")
    message: str
    details: list[Any] = Field(default_factory=list)


class ErrorAnswer(BaseModel):
    """Every error of the API, as `--json` commands print a refusal: {"error": {code, message, details}}."""

    error: ErrorBody


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer, "description": text}
    for status, text in [
        (400, "Unusable request"),
        (401, "No valid token"),
        (403, "Refused"),
        (404, "Not found"),
        (422, "Malformed request"),
    ]
}
router = APIRouter(prefix="/api", tags=["api"], responses=_ERRORS, route_class=StrictJsonRoute)
ApiOperator = Annotated[Row, Depends(api_role("operator"))]
ApiUser = Annotated[Row, Depends(api_user)]
ApiReader = Annotated[Row, Depends(api_role("operator", "approver"))]


class RunBody(BaseModel):
    """What `cardflow run NAME ... --json` is asked for."""

    process: str = Field(description="The symbolic name, e.g. CardsAddonExtProdBoProcOrderMultiple")
    users: list[str] = Field(default_factory=list, max_length=MAX_IDS, description=f"User ids (as --user), at most {MAX_IDS}")
    all: bool = Field(False, description="Every user (as --all)")
    where: str | None = Field(None, description="An expression over `user` (as --where)")
    production_type: str | None = None
    batch_id: str | None = Field(None, description="Name the batch; an existing id resumes it")
    dry_run: bool = False
    strict: bool = False
    set: list[str] = Field(default_factory=list, description="VAR=VALUE overrides (VALUE in YAML flow), as --set")


class ActionBody(BaseModel):
    """What `cardflow approve|reject|postpone|abort|retry CARD... --json` is asked for."""

    cards: list[CardId] = Field(max_length=MAX_IDS, description=f"Card ids, at most {MAX_IDS}")
    reason: str | None = None


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> Response:
    """The API's documentation: Swagger UI over /api/openapi.json, served by the console (no CDN)."""
    return render.TEMPLATES.TemplateResponse(request, "api_docs.html", {})


@router.post("/run")
def run(request: Request, body: RunBody, user: ApiOperator) -> Any:
    """Run a batch process by symbolic name, as the token's user: {batch, process, results}."""
    console = console_of(request)
    if sum((bool(body.users), body.all, body.where is not None)) != 1:
        raise UsageError("choose the users with exactly one of users, all or where")
    selection = Selection(tuple(body.users), body.all, body.where)
    overrides = parse_sets(body.set, console.workspace.scripts)
    run_request = RunRequest(
        body.process, user["id"], selection, overrides, body.production_type, body.batch_id, body.dry_run, body.strict
    )
    bureau = Simulated() if body.dry_run else console.connector
    return run_batch(console.workspace, console.engine, run_request, bureau).as_json()


@router.get("/batches")
def batches(request: Request, user: ApiReader, limit: Limit = 1000) -> Any:
    """Batches as `cardflow batches --json` gives them, in the order they were started (at most `limit`)."""
    with db.reading(console_of(request).engine) as connection:
        return list(listings.batches(connection, limit=limit))


@router.get("/batches/{batch_id}")
def batch_status(request: Request, batch_id: str, user: ApiReader) -> Any:
    """A batch's record: status (running, complete, incomplete), counts, options; and the console's progress."""
    console = console_of(request)
    with db.reading(console.engine) as connection:
        record = queries.get_batch(connection, batch_id)
    job = console.jobs.get(batch_id)
    if record is None and job is None:
        raise UsageError(f"unknown batch {batch_id}")
    progress = {"done": job.done, "total": job.total, "error": job.error} if job else None
    return {"batch": record, "progress": progress}


@router.get("/cards")
def cards(
    request: Request,
    user: ApiReader,
    holder: Annotated[str | None, Query(alias="user")] = None,
    state: str | None = None,
    process: str | None = None,
    batch: str | None = None,
    limit: Limit = 1000,
) -> Any:
    """Cards as `cardflow cards --json` gives them, oldest first (at most `limit`)."""
    with db.reading(console_of(request).engine) as connection:
        return list(listings.cards(connection, user=holder, state=state, process=process, batch=batch, limit=limit).rows)


@router.get("/cards/{card_id}")
def card(request: Request, card_id: CardInPath, user: ApiReader) -> Any:
    """A card's story as `cardflow explain CARD --json` gives it."""
    with db.reading(console_of(request).engine) as connection:
        return card_story(connection, card_id)


@router.post("/{trigger}", openapi_extra={"description": "trigger: approve, reject, postpone, abort or retry"})
def action(request: Request, trigger: str, body: ActionBody, user: ApiUser) -> Any:
    """Fire a trigger on cards (all or none), as the token's user; four-eyes and reasons as on the command line."""
    console = console_of(request)
    if trigger not in ("approve", "reject", "postpone", "abort", "retry"):
        raise UsageError(f"unknown action {trigger!r}")
    roles = trigger_roles(console.workspace, trigger)
    if "any" not in roles and not has_role(user, *roles):
        raise Refused(f"{user['id']} does not have the {' or '.join(sorted(roles))} role needed to {trigger}")
    results = act(console.workspace, console.engine, trigger, body.cards, user["id"], console.connector, reason=body.reason)
    return [result.as_json() for result in results]
