"""Logging in and out, the CSRF check of every form, and the role checks of every page and API call.

The session cookie (signed, HttpOnly, SameSite=Lax) holds a session id, the language and the CSRF
token only; the session itself is in the store (`engine.store.sessions`), read on every request with
its user, so log-out, a new password, a changed role or a user made inactive end it at once, even
for a copy of the cookie.
The API takes no cookies: only `Authorization: Bearer TOKEN`, so a page elsewhere cannot act through it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from engine.batch.offers import desks
from engine.errors import Refused
from engine.store import accounts, db, sessions
from engine.store.queries import Row
from engine.web import render
from engine.web.console import Console, console_of
from engine.web.i18n import LANGUAGES, translate
from engine.web.throttle import TooManyAttempts

router = APIRouter(include_in_schema=False)  # pages, not the API
_BEARER = HTTPBearer(auto_error=False, description="An API token from `cardflow users token ID`.")


def signed_in(request: Request) -> Row:
    """The user of a live session; anyone else is sent to the log-in page (a dead session is ended)."""
    session_id = request.session.get("session")
    user = None
    if isinstance(session_id, str):
        engine = console_of(request).engine
        with db.reading(engine) as connection:
            user = sessions.user_of(connection, session_id)
        if user is None:
            with engine.begin() as connection:
                sessions.end(connection, session_id)
    if user is None:
        request.session.pop("session", None)
        raise HTTPException(status_code=303, headers={"Location": "/login"})
    request.state.user = user
    return user


SignedIn = Annotated[Row, Depends(signed_in)]


def desk(part: str) -> Callable[..., Row]:
    """A dependency: the signed-in user, who must hold a role of that part of the console
    (`engine.batch.offers.desks`: "batch", "decide" or "cards"), read from the workspace's processes."""

    def check(request: Request, user: SignedIn) -> Row:
        return _at_desk(request, user, part)

    return check


def api_desk(part: str) -> Callable[..., Row]:
    """`desk` for the API: the token's user."""

    def check(request: Request, user: Annotated[Row, Depends(api_user)]) -> Row:
        return _at_desk(request, user, part)

    return check


def _at_desk(request: Request, user: Row, part: str) -> Row:
    roles: frozenset[str] = getattr(desks(console_of(request).workspace), part)
    if not roles & set(user["roles"]):
        raise Refused(f"{user['id']} does not have the {' or '.join(sorted(roles)) or 'needed'} role this needs")
    return user


async def csrf_checked(request: Request) -> None:
    """A dependency of every form's POST: its `csrf` field must be the session's token."""
    sent = (await request.form()).get("csrf")
    kept = request.session.get("csrf")
    if not (isinstance(sent, str) and isinstance(kept, str) and hmac.compare_digest(sent, kept)):
        raise Refused("the form has expired or did not come from this console (CSRF check); reload the page and try again")


CsrfChecked = Depends(csrf_checked)


def api_user(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> Row:
    """The active user an API token belongs to; 401 without a valid token, saying so when it expired."""
    found = accounts.LogIn(None, "a valid API token is needed")
    if credentials is not None:
        with db.reading(console_of(request).engine) as connection:
            found = accounts.check_token(connection, credentials.credentials)
    if found.user is None:
        raise HTTPException(status_code=401, detail=found.problem, headers={"WWW-Authenticate": "Bearer"})
    return found.user


@router.get("/login")
def login_page(request: Request) -> Response:
    return render.page(request, "login.html", {"problem": None, "typed": ""})


@router.post("/login", dependencies=[CsrfChecked])
async def login(
    request: Request,
    user: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    lang: Annotated[str, Form()] = "en",
) -> Response:
    """Check the password; on success a fresh session (new CSRF token) in the chosen language.

    The throttle's wait is awaited, holding no worker; only the password check runs in one."""
    console, name = console_of(request), user.strip()
    client = request.client.host if request.client else ""
    language = lang if lang in LANGUAGES else "en"
    try:
        with console.throttle.attempt(client, name) as delay:
            outcome = await run_in_threadpool(_log_in, console, name, password)
            console.throttle.record(client, name, outcome.user is not None)
            if wait := max(delay, outcome.delay):
                await console.sleep(wait)
    except TooManyAttempts:
        problem = translate("too many log-in attempts at once; try again in a moment", language)
        return render.page(request, "login.html", {"problem": problem, "typed": user}, status_code=429)
    if outcome.user is None:
        problem = translate("wrong user or password", language)
        return render.page(request, "login.html", {"problem": problem, "typed": user}, status_code=401)
    with console.engine.begin() as connection:
        session_id = sessions.start(connection, outcome.user)
    request.session.clear()
    request.session.update(session=session_id, lang=language)
    return RedirectResponse("/", status_code=303)


def _log_in(console: Console, name: str, password: str) -> accounts.LogIn:
    with console.engine.begin() as connection:
        return accounts.log_in(connection, name, password)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    """End the session in the store (a copy of the cookie is worth nothing after) and forget the cookie."""
    session_id = request.session.get("session")
    if isinstance(session_id, str):
        with console_of(request).engine.begin() as connection:
            sessions.end(connection, session_id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
