"""Logging in and out, the CSRF check of every form, and the role checks of every page and API call.

The session (a signed, HttpOnly, SameSite=Lax cookie) holds the user's id, language and CSRF token
only; the user is read from the store on every request, so one made inactive loses access at once.
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

from engine.errors import Refused
from engine.store import accounts, db
from engine.store.queries import Row
from engine.web import render
from engine.web.console import Console, console_of
from engine.web.i18n import LANGUAGES, translate
from engine.web.throttle import TooManyAttempts

router = APIRouter(include_in_schema=False)  # pages, not the API
_BEARER = HTTPBearer(auto_error=False, description="An API token from `cardflow users token ID`.")


def signed_in(request: Request) -> Row:
    """The signed-in, active user; anyone else is sent to the log-in page."""
    user_id = request.session.get("user")
    user = None
    if isinstance(user_id, str):
        with db.reading(console_of(request).engine) as connection:
            user = accounts.active_user(connection, user_id)
    if user is None:
        request.session.pop("user", None)
        raise HTTPException(status_code=303, headers={"Location": "/login"})
    request.state.user = user
    return user


SignedIn = Annotated[Row, Depends(signed_in)]


def has_role(user: Row, *roles: str) -> bool:
    return any(role in user["roles"] for role in roles)


def role(*roles: str) -> Callable[[Row], Row]:
    """A dependency: the signed-in user, who must hold one of `roles`."""

    def check(user: SignedIn) -> Row:
        if not has_role(user, *roles):
            raise Refused(f"{user['id']} does not have the {' or '.join(roles)} role this page needs")
        return user

    return check


async def csrf_checked(request: Request) -> None:
    """A dependency of every form's POST: its `csrf` field must be the session's token."""
    sent = (await request.form()).get("csrf")
    kept = request.session.get("csrf")
    if not (isinstance(sent, str) and isinstance(kept, str) and hmac.compare_digest(sent, kept)):
        raise Refused("the form has expired or did not come from this console (CSRF check); reload the page and try again")


CsrfChecked = Depends(csrf_checked)


def api_user(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> Row:
    """The active user an API token belongs to; 401 without a valid token."""
    user = None
    if credentials is not None:
        with db.reading(console_of(request).engine) as connection:
            user = accounts.user_for_token(connection, credentials.credentials)
    if user is None:
        raise HTTPException(status_code=401, detail="a valid API token is needed", headers={"WWW-Authenticate": "Bearer"})
    return user


def api_role(*roles: str) -> Callable[..., Row]:
    """A dependency for the API: the token's user, who must hold one of `roles`."""

    def check(user: Annotated[Row, Depends(api_user)]) -> Row:
        if not has_role(user, *roles):
            raise Refused(f"{user['id']} does not have the {' or '.join(roles)} role")
        return user

    return check


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
    request.session.clear()
    request.session.update(user=outcome.user["id"], lang=language)
    return RedirectResponse("/", status_code=303)


def _log_in(console: Console, name: str, password: str) -> accounts.LogIn:
    with console.engine.begin() as connection:
        return accounts.log_in(connection, name, password)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
