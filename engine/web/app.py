"""The console's FastAPI application: security headers, sessions, static files, the routers.

Every response carries a Content-Security-Policy without inline script (and with `frame-ancestors
'none'`), X-Frame-Options, nosniff and a same-origin referrer; every page that is not a static file
is `Cache-Control: no-store`, as pages hold personal data, and so does every error, an unexpected
one too. Errors the engine raises on purpose become a page with the message; under /api/ every
error (the engine's, a missing token, a request FastAPI finds malformed) is JSON of one shape, the
command line's (`engine.errors.error_json`). A path that does not parse (a card id beyond the
store's, `engine.web.bounds`) names nothing: 404. Nothing reaches a user as a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from engine.errors import CardflowError, Refused, error_json
from engine.report.metrics import registry_for
from engine.web import (
    api,
    auth,
    batch_pages,
    bulk_pages,
    card_batch_pages,
    card_pages,
    decide_pages,
    incident_pages,
    operations,
    release_pages,
    render,
)
from engine.web.console import Console

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(console: Console) -> FastAPI:
    """The console and the JSON API for `console`'s workspace and store."""
    app = FastAPI(
        title="cardflow console API",
        description="Run card processes by symbolic name, follow batches, decide and act on cards. "
        "Authenticate with `Authorization: Bearer TOKEN` (`cardflow users token ID`).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.console = console
    app.state.metrics = registry_for(console.engine)
    app.middleware("http")(_security_headers)
    app.add_middleware(
        SessionMiddleware,
        secret_key=console.secret,
        session_cookie="cardflow_session",
        max_age=12 * 60 * 60,
        same_site="lax",
        https_only=console.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (
        operations, auth, batch_pages, bulk_pages, card_batch_pages, decide_pages, card_pages, incident_pages, release_pages, api,
    ):  # fmt: skip
        app.include_router(module.router)
    app.add_exception_handler(CardflowError, _engine_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if not request.url.path.startswith("/static/"):
        await request.app.state.console.follow()
    return _secured(request, await call_next(request))


def _secured(request: Request, response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def _unexpected(request: Request, error: Exception) -> Response:
    """A bug: a 500 with the security headers (it is answered outside the middleware), the traceback only in the log."""
    if _in_api(request):
        return _secured(
            request, JSONResponse(error_json("internal_error", "the console failed; its log says why"), status_code=500)
        )
    return _secured(request, PlainTextResponse("Internal Server Error", status_code=500))


async def _engine_error(request: Request, error: Any) -> Response:
    """A refusal or a usage error from the engine: its message, as JSON under /api/, else as a page."""
    status = 403 if isinstance(error, Refused) else 400
    if _in_api(request):
        return JSONResponse(error.as_json(), status_code=status)
    return render.page(request, "error.html", {"message": error.message}, status_code=status)


async def _http_error(request: Request, error: Any) -> Response:
    """An HTTP error (no token, no such route): under /api/ the one error shape, else FastAPI's answer."""
    if not _in_api(request) or error.status_code < 400:
        return await http_exception_handler(request, error)
    phrase = _phrase(error.status_code)
    message = error.detail if isinstance(error.detail, str) else phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return JSONResponse(error_json(code, message), status_code=error.status_code, headers=error.headers)


async def _invalid_request(request: Request, error: Any) -> Response:
    """A request FastAPI finds malformed: a path that names nothing is a 404; else a 422, under /api/ the one error
    shape with FastAPI's own items as details."""
    details = jsonable_encoder(error.errors())
    if details and all(item["loc"][0] == "path" for item in details):
        return await _http_error(request, HTTPException(404))
    if not _in_api(request):
        return await request_validation_exception_handler(request, error)
    message = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in details) or "invalid request"
    return JSONResponse(error_json("invalid_request", message, details), status_code=422)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code HTTP does not name
        return f"HTTP {status}"


def _in_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")
