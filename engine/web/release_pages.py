"""The Releases page, for admins: the releases of the workspace in the store, what each pending one
changes (its plan, made against the store's cards and users when it was published), and approving
it (never by the admin who asked for it: four-eyes) or making an earlier one live again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from engine.definitions.roles import ADMIN
from engine.errors import Refused
from engine.releases import publishing
from engine.store import db, releases
from engine.store.queries import Row
from engine.web import render
from engine.web.auth import CsrfChecked, SignedIn
from engine.web.console import console_of

router = APIRouter(include_in_schema=False)  # pages, not the API


def admin(user: SignedIn) -> Row:
    """The signed-in user, who must hold the role admin."""
    if ADMIN not in user["roles"]:
        raise Refused(f"{user['id']} does not have the {ADMIN} role: releases are for admins")
    return user


Admin = Annotated[Row, Depends(admin)]


@router.get("/releases")
def releases_page(request: Request, user: Admin) -> Response:
    """Every release, the newest first; a pending one with its plan and, for another admin, Approve."""
    with db.reading(console_of(request).engine) as connection:
        listed = [{**row, "plan": releases.release_plan(connection, row["id"])} for row in releases.release_rows(connection)]
    return render.page(request, "releases.html", {"releases": listed})


@router.post("/releases/{release_id}/approve", dependencies=[CsrfChecked])
def approve(request: Request, release_id: str, user: Admin) -> Response:
    """Approve a pending release: it goes live (its stranded cards moved as its release.yaml says)."""
    step = publishing.approve(console_of(request).engine, release_id, user["id"])
    told = (
        "Release {release} is live; {moved} open cards moved as its release.yaml says."
        if step.moved
        else "Release {release} is live."
    )
    request.session["flash"] = render.translator(request)(told, release=release_id, moved=step.moved)
    return RedirectResponse("/releases", status_code=303)


@router.post("/releases/{release_id}/activate", dependencies=[CsrfChecked])
def activate(request: Request, release_id: str, user: Admin) -> Response:
    """Ask for an earlier release to be live again: it waits for another admin (or goes live with one admin)."""
    step = publishing.activate(console_of(request).engine, release_id, user["id"])
    told = "Release {release} is live." if step.live else "Release {release} waits for another admin."
    request.session["flash"] = render.translator(request)(told, release=release_id)
    return RedirectResponse("/releases", status_code=303)
