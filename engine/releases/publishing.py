"""Publishing the workspace as a release, approving it, and making an earlier one live again.

Only an active user holding the role `admin` (in the store) publishes, approves or activates. With
more than one admin in the store a release waits, `pending`, until a second admin approves it
(four-eyes: never the one who asked for it to go live); with one admin, or with review turned off
for the site ($CARDFLOW_RELEASE_REVIEW=off), it goes live at once. A new
publish or activation replaces a release still waiting (it is retired, logged `superseded`). The
release that was live is retired when another goes live; `activate` asks for an earlier one again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from engine.clock import now
from engine.definitions.model import Workspace
from engine.definitions.release_moves import read_moves
from engine.definitions.roles import ADMIN
from engine.errors import Refused, UsageError, WorkspaceInvalid
from engine.releases.contents import address, digest, workspace_files
from engine.releases.live import release_workspace
from engine.releases.stranding import Stranded, move_stranded, require_none_left, settle_timers, stranded, timers_changed
from engine.store import queries, releases
from engine.store.queries import Row
from engine.store.releases import LIVE, PENDING, RETIRED

REVIEW_SETTING = "CARDFLOW_RELEASE_REVIEW"


@dataclass(frozen=True)
class Step:
    """What a publish, an approval or an activation did: the release's row after, and the live one before."""

    release: Row
    replaced: str | None = None  # the release that was live before, when this one went live
    superseded: str | None = None  # a release that was waiting and no longer does
    moved: int = 0  # open cards moved as its release.yaml says, when it went live

    @property
    def live(self) -> bool:
        return bool(self.release["status"] == LIVE)


def publish(engine: Engine, workspace: Workspace, actor_id: str, message: str = "", plan: Row | None = None) -> Step:
    """Store the (valid) workspace as a release, as `actor_id`, with the plan made for it (for its
    reviewers); live at once unless a second admin must approve."""
    workspace.require_valid()
    files = workspace_files(workspace.root)
    release_id = address(files)
    with engine.begin() as connection:
        admins = _require_admin(connection, actor_id, "publishes")
        known = _exact(connection, release_id)
        if known is not None:
            raise Refused(_published_already(known))
        live = releases.release_with_status(connection, LIVE)
        require_none_left(
            _stranded(connection, workspace, release_workspace(connection, live["id"]) if live else None), release_id
        )
        row = {
            "id": release_id,
            "parent": live["id"] if live else None,
            "status": PENDING,
            "published_by": actor_id,
            "published_at": now(),
            "requested_by": actor_id,
            "approved_by": None,
            "message": message,
            "fingerprint": workspace.fingerprint,
            "plan": json.dumps(plan) if plan is not None else None,
        }
        superseded = _supersede(connection, actor_id)
        releases.add_release(connection, row, {path: (digest(content), content) for path, content in files.items()})
        if reviewed(admins):
            return Step(row, superseded=superseded)
        return _go_live(connection, row, live, None, superseded, workspace)


def approve(engine: Engine, reference: str, actor_id: str) -> Step:
    """Approve the pending release `reference` as `actor_id`, a second admin: it goes live."""
    with engine.begin() as connection:
        _require_admin(connection, actor_id, "approves")
        release = find_release(connection, reference)
        if release["status"] != PENDING:
            raise Refused(f"release {release['id']} is {release['status']}, not waiting for approval{_what_to_do(release)}")
        if release["requested_by"] == actor_id:
            raise Refused(
                f"{actor_id} asked for release {release['id']} to go live and cannot approve it (four-eyes): "
                "another admin approves it"
            )
        return _go_live(connection, release, releases.release_with_status(connection, LIVE), actor_id, None)


def activate(engine: Engine, reference: str, actor_id: str) -> Step:
    """Ask for an earlier release to be live again (a rollback), as `actor_id`; reviewed like a publish."""
    with engine.begin() as connection:
        admins = _require_admin(connection, actor_id, "activates")
        release = find_release(connection, reference)
        if release["status"] != RETIRED:
            raise Refused(f"release {release['id']} is {release['status']}{_what_to_do(release)}")
        superseded = _supersede(connection, actor_id)
        if not releases.move_release(connection, release["id"], RETIRED, PENDING, requested_by=actor_id, approved_by=None):
            raise Refused(f"release {release['id']} changed meanwhile; try again")
        releases.log(connection, release["id"], "requested", actor_id)
        release = {**release, "status": PENDING, "requested_by": actor_id, "approved_by": None}
        if reviewed(admins):
            return Step(release, superseded=superseded)
        return _go_live(connection, release, releases.release_with_status(connection, LIVE), None, superseded)


def reviewed(admins: list[Row]) -> bool:
    """Whether a release waits for a second admin: when the store has more than one, unless the site
    turned review off ($CARDFLOW_RELEASE_REVIEW=off, the same on every machine)."""
    return len(admins) > 1 and os.environ.get(REVIEW_SETTING, "on") != "off"


def find_release(connection: Connection, reference: str) -> Row:
    """The release named by `reference`: its id or a unique start of it, or `live` or `pending`."""
    if reference in (LIVE, PENDING):
        found = releases.release_with_status(connection, reference)
        if found is None:
            raise UsageError(f"no release is {reference}: `cardflow releases` lists them")
        return found
    matches = releases.releases_starting(connection, reference) if reference else []
    if not matches:
        raise UsageError(f"no release {reference!r} in the store: `cardflow releases` lists them")
    if len(matches) > 1:
        raise UsageError(f"{reference!r} starts {len(matches)} releases ({', '.join(m['id'] for m in matches)}); give more of it")
    return matches[0]


def _go_live(
    connection: Connection,
    release: Row,
    live: Row | None,
    approver: str | None,
    superseded: str | None,
    after: Workspace | None = None,
) -> Step:
    """Retire the live release and make `release` (pending) live, moving the cards it would strand as
    its release.yaml says (refused when it strands others); refused when either moved meanwhile.
    `after` is the release's workspace when the caller holds it (a publish), else it is loaded."""
    after = (after or release_workspace(connection, release["id"])).require_valid()  # as this cardflow judges it now
    before = release_workspace(connection, live["id"]) if live else None
    found = _stranded(connection, after, before)
    require_none_left(found, release["id"])
    if live is not None and not releases.move_release(connection, live["id"], LIVE, RETIRED):
        raise Refused(f"release {live['id']} is no longer live: another admin acted meanwhile; look again (`cardflow releases`)")
    if live is not None:
        releases.log(connection, live["id"], "retired", approver or release["requested_by"])
    if not releases.move_release(connection, release["id"], PENDING, LIVE, approved_by=approver):
        raise Refused(f"release {release['id']} is no longer waiting: another admin acted meanwhile")
    if approver is not None:
        releases.log(connection, release["id"], "approved", approver)
    actor = approver or release["requested_by"]
    releases.log(connection, release["id"], "live", actor)
    moved = move_stranded(connection, found, after, release, actor, now())
    settle_timers(connection, timers_changed(connection, before, after) if before else [])
    return Step({**release, "status": LIVE, "approved_by": approver}, live["id"] if live else None, superseded, moved)


def _stranded(connection: Connection, after: Workspace, before: Workspace | None) -> list[Stranded]:
    """The open cards `after` would strand, after `before` (the live release), with where its release.yaml moves them."""
    moves, problems = read_moves(after.root, after)
    if problems:
        raise WorkspaceInvalid("; ".join(map(str, problems)))
    return stranded(connection, before, after, moves)


def _supersede(connection: Connection, actor_id: str) -> str | None:
    """Retire the release waiting for approval, if any (a newer request replaces it); its id."""
    waiting = releases.release_with_status(connection, PENDING)
    if waiting is None:
        return None
    if not releases.move_release(connection, waiting["id"], PENDING, RETIRED):
        raise Refused(f"release {waiting['id']} changed meanwhile; try again")
    releases.log(connection, waiting["id"], "superseded", actor_id)
    return str(waiting["id"])


def _require_admin(connection: Connection, actor_id: str, doing: str) -> list[Row]:
    """The store's active admins, `actor_id` among them, else why not."""
    actor = queries.users_by_id(connection, [actor_id]).get(actor_id)
    if actor is None:
        raise UsageError(f"--as {actor_id}: no such user in the store (import users first)")
    if actor.get("state") != "active":
        raise Refused(f"{actor_id} is {actor.get('state')}; an inactive user cannot act on releases")
    if ADMIN not in actor["roles"]:
        raise Refused(f"{actor_id} does not have the {ADMIN} role: an {ADMIN} {doing} releases")
    return queries.users_with_role(connection, ADMIN)


def _exact(connection: Connection, release_id: str) -> Row | None:
    return next((row for row in releases.releases_starting(connection, release_id) if row["id"] == release_id), None)


def _published_already(release: Row) -> str:
    """Why the same files are not published twice, and what to do instead."""
    if release["status"] == LIVE:
        return f"nothing to publish: the workspace is release {release['id']}, live"
    named = f"the workspace is release {release['id']}"
    if release["status"] == PENDING:
        return f"{named}, already waiting for a second admin (`cardflow release approve {release['id']} --as ID`)"
    return f"{named}, retired: `cardflow release activate {release['id']} --as ID` makes it live again"


def _what_to_do(release: Row) -> str:
    if release["status"] == LIVE:
        return ": it is live already"
    if release["status"] == PENDING:
        return f": a second admin approves it (`cardflow release approve {release['id']} --as ID`)"
    return f": `cardflow release activate {release['id']} --as ID` asks for it again"
