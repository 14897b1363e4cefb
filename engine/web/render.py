"""Pages from the console's Jinja templates: autoescaped (user data renders as text), with the
signed-in user, their language and the session's CSRF token in every page's context."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from engine.web.i18n import LANGUAGES, translate

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)
TRIGGER_LABELS = {
    "abort": "Abort card order",
    "retry": "Retry",
    "approve": "Approved",
    "reject": "Reject",
    "postpone": "Postpone",
}


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


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    """Render template `name` with `context` plus what every page needs."""
    lang = language(request)
    full = {
        "user": getattr(request.state, "user", None),
        "lang": lang,
        "languages": LANGUAGES,
        "t": lambda text: translate(text, lang),
        "csrf": csrf_token(request),
        "trigger_labels": TRIGGER_LABELS,
        "flash": request.session.pop("flash", None),
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, name, full, status_code=status_code)
