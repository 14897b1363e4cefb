"""The JSON API under /api/, for scripts: the same requests and answers as the command line's
`--json` (`run NAME` for every process, `batches`, `cards`, `explain`, and each trigger a person
fires on cards: `approve` …), authenticated by per-user API tokens, with the same roles and the same
four-eyes rule (the engine's). Documented at /api/docs (Swagger UI, served by the console) and
/api/openapi.json."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from engine.batch.actions import act
from engine.batch.by_name import NamedRun, check_person_trigger, run_by_name
from engine.definitions.options import parse_sets
from engine.errors import UsageError
from engine.report import listings
from engine.report.explain import card_story
from engine.store import db, queries
from engine.store.pages import CardQuery
from engine.store.queries import Row
from engine.web import render
from engine.web.auth import api_desk, api_user
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
ApiOperator = Annotated[Row, Depends(api_desk("batch"))]
ApiUser = Annotated[Row, Depends(api_user)]
ApiReader = Annotated[Row, Depends(api_desk("cards"))]


class RunBody(BaseModel):
    """What `cardflow run NAME ... --json` is asked for."""

    process: str = Field(description="The symbolic name (`cardflow processes` lists them)")
    users: list[str] = Field(default_factory=list, max_length=MAX_IDS, description=f"User ids (as --user), at most {MAX_IDS}")
    all: bool = Field(False, description="Every user (as --all)")
    where: str | None = Field(None, description="An expression over `user` (as --where)")
    production_type: str | None = None
    batch_id: str | None = Field(None, description="Name the batch; an existing id resumes it")
    dry_run: bool = False
    strict: bool = False
    set: list[str] = Field(default_factory=list, description="VAR=VALUE overrides (VALUE in YAML flow), as --set")


class CardFilters(BaseModel):
    """The filters that find the cards of a bulk action (as `cardflow run NAME --state ...`); `where` narrows them."""

    card_process: str | None = Field(None, max_length=200, description="Only cards of this process (as --card-process)")
    state: str | None = Field(None, max_length=200, description="Only cards in this state (as --state)")
    holder: str | None = Field(None, max_length=200, description="Only this user's cards (as --holder)")
    in_batch: str | None = Field(None, max_length=200, description="Only the cards this batch made (as --in-batch)")
    moved_because: str | None = Field(
        None, max_length=2000, description="The reason of the move into their state (as --moved-because)"
    )
    moved_from: date | None = Field(None, description="Last moved on or after this day (as --moved-from)")
    moved_to: date | None = Field(None, description="Last moved on or before this day (as --moved-to)")

    def query(self) -> CardQuery | None:
        found = CardQuery(
            self.card_process, self.state, self.holder, self.in_batch, self.moved_because, self.moved_from, self.moved_to
        )
        return found or None


class ProcessRunBody(BaseModel):
    """What `cardflow run NAME ... --json` is asked for: users for a process that creates cards, cards
    for one that acts on existing cards."""

    users: list[str] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description=f"User ids (as --user), over users; at most {MAX_IDS}",
    )
    cards: list[CardId] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description=f"Card ids (as --card), over cards; at most {MAX_IDS}",
    )
    all: bool = Field(False, description="Every user, or every card the process acts on (as --all)")
    where: str | None = Field(None, description="An expression over `user`, or over `card` and `user` (as --where)")
    filters: CardFilters | None = Field(None, description="Over cards: the filters that find them (a bulk action)")
    trigger: str | None = Field(None, description="The trigger to fire (as --trigger), where the process declares several")
    reason: str | None = Field(None, description="The reason (as --reason), where the trigger takes one")
    production_type: str | None = None
    batch_id: str | None = Field(None, description="Name the batch; an existing id resumes it")
    dry_run: bool = Field(False, description="Do everything but write; the bureau is simulated")
    strict: bool = Field(False, description="Refuse the whole batch if any user would be skipped (over users)")
    set: list[str] = Field(default_factory=list, description="VAR=VALUE overrides (VALUE in YAML flow), as --set")


class ActionBody(BaseModel):
    """What `cardflow TRIGGER CARD... --json` is asked for (a trigger an action process lets a person fire)."""

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
    overrides = parse_sets(body.set, console.workspace.scripts)
    asked = NamedRun(
        body.process,
        user["id"],
        tuple(body.users),
        all=body.all,
        where=body.where,
        production_type=body.production_type,
        batch_id=body.batch_id,
        dry_run=body.dry_run,
        strict=body.strict,
        overrides=overrides,
    )
    return run_by_name(console.workspace, console.engine, asked, console.connector).as_json()


@router.post("/processes/{name}/run", responses={404: {"model": ErrorAnswer, "description": "No process of that name"}})
def run_process(request: Request, name: str, body: ProcessRunBody, user: ApiUser) -> Any:
    """Run any process by symbolic name as the token's user, with the process's role: the JSON of
    `cardflow run NAME --json` (over users: {batch, process, results: [{user, card, state, status,
    reason}]}; over cards: {batch, process, results: [{card, user, from, to, status, reason}]})."""
    console = console_of(request)
    try:
        console.workspace.process(name)
    except UsageError as unknown:
        raise HTTPException(404, unknown.message) from None
    asked = NamedRun(
        name,
        user["id"],
        tuple(body.users),
        tuple(body.cards),
        body.all,
        body.where,
        body.trigger,
        body.reason,
        body.production_type,
        body.batch_id,
        body.dry_run,
        body.strict,
        overrides=parse_sets(body.set, console.workspace.scripts),
        query=body.filters.query() if body.filters else None,
    )
    return run_by_name(console.workspace, console.engine, asked, console.connector).as_json()


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


@router.post(
    "/{trigger}",
    openapi_extra={"description": "trigger: any trigger an action process of the workspace lets a person fire"},
)
def action(request: Request, trigger: str, body: ActionBody, user: ApiUser) -> Any:
    """Fire a trigger on cards (all or none), as the token's user; four-eyes and reasons as on the command line."""
    console = console_of(request)
    check_person_trigger(console.workspace, trigger, user)
    results = act(console.workspace, console.engine, trigger, body.cards, user["id"], console.connector, reason=body.reason)
    return [result.as_json() for result in results]
