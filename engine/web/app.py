"""The console's FastAPI application: security headers, sessions, static files, the routers.

Every response carries a Content-Security-Policy without inline script (and with `frame-ancestors
'none'`), X-Frame-Options, nosniff and a same-origin referrer; every page that is not a static file
is `Cache-Control: no-store`, as pages hold personal data. Errors the engine raises on purpose
become a page (or, under /api/, JSON) with the message; nothing else reaches a user as a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from engine.errors import CardflowError, Refused
from engine.web import api, auth, batch_pages, card_pages, decide_pages, render
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
    for module in (auth, batch_pages, decide_pages, card_pages, api):
        app.include_router(module.router)
    app.add_exception_handler(CardflowError, _engine_error)
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def _engine_error(request: Request, error: Any) -> Response:
    """A refusal or a usage error from the engine: its message, as JSON under /api/, else as a page."""
    status = 403 if isinstance(error, Refused) else 400
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": error.message}, status_code=status)
    return render.page(request, "error.html", {"message": error.message}, status_code=status)
