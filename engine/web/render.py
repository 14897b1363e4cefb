"""Pages from the console's Jinja templates: autoescaped (user data renders as text), with the
signed-in user, their language and the session's CSRF token in every page's context."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from engine.batch.actions import ActionResult
from engine.batch.offers import desks
from engine.definitions.roles import ADMIN
from engine.report.story_page import TEMPLATES as REPORT_TEMPLATES
from engine.report.story_page import html_environment
from engine.web.console import console_of
from engine.web.i18n import LANGUAGES, translate, workspace_swedish

_ENVIRONMENT = html_environment(Path(__file__).resolve().parent / "templates", REPORT_TEMPLATES)
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def language(request: Request) -> str:
    chosen = request.session.get("lang", "en")
    return chosen if chosen in LANGUAGES else "en"


def translator(request: Request) -> Callable[..., str]:
    """`t(text, **values)`: a catalogue phrase (or a workspace text) in the session's language."""
    lang = language(request)
    texts = workspace_swedish(console_of(request).workspace) if lang == "sv" else {}
    return lambda text, **values: translate(text, lang, texts, **values)


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    """Render template `name` with `context` plus what every page needs."""
    t = translator(request)
    processes = console_of(request).workspace.processes
    user = getattr(request.state, "user", None)
    full = {
        "user": user,
        "desk": {**desks(console_of(request).workspace).of(user["roles"]), "releases": ADMIN in user["roles"]} if user else {},
        "lang": language(request),
        "languages": LANGUAGES,
        "t": t,
        "process_name": lambda symbolic: t(processes[symbolic].name) if symbolic in processes else symbolic,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, name, full, status_code=status_code)


def done_sentence(request: Request, action: str, done: list[ActionResult]) -> str:
    """What a button (`action`, its label in the session's language) did to cards, as a sentence for
    the message after it ("Activate card: card 7 is now active.")."""
    t = translator(request)
    return " ".join(
        t("{action}: card {card} is now {state}.", action=action, card=result.card, state=result.dest)
        if result.dest is not None
        else t("{action}: card {card}: {message}", action=action, card=result.card, message=result.message or "")
        for result in done
    )
