"""Releases of the workspace in the store: rows, their files (each file's bytes once, by digest) and
their log. The rules of publishing and approving are `engine.releases`; here is the SQL alone.

At most one release is `live` and at most one `pending` (two unique partial indexes), and every
change of status is a compare-and-set on the status read, so two admins approving at once, or a
publish beside an approval, never leave two live releases: the second finds the row moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from sqlalchemy import Connection, func, select, update

from engine.clock import now
from engine.store import db, queries, timers
from engine.store.queries import Row

PENDING, LIVE, RETIRED = "pending", "live", "retired"
COLUMNS = ("id", "parent", "status", "published_by", "published_at", "requested_by", "approved_by", "message", "fingerprint")


def add_release(connection: Connection, row: Row, files: Mapping[str, tuple[str, bytes]]) -> None:
    """Store a new release: its row, and its files as {path: (digest, bytes)}, each blob once."""
    connection.execute(db.releases.insert().values(**row))
    digests = {digest: content for digest, content in files.values()}
    known = set(connection.scalars(select(db.release_blobs.c.digest).where(db.release_blobs.c.digest.in_(list(digests)))))
    fresh = [{"digest": digest, "content": content} for digest, content in digests.items() if digest not in known]
    if fresh:
        connection.execute(db.release_blobs.insert(), fresh)
    paths = [{"release_id": row["id"], "path": path, "digest": digest} for path, (digest, _) in sorted(files.items())]
    connection.execute(db.release_files.insert(), paths)
    log(connection, row["id"], "published", row["published_by"])


def release_rows(connection: Connection) -> list[Row]:
    """Every release, the newest first."""
    columns = [db.releases.c[name] for name in COLUMNS]
    entries = db.release_log.c
    published = (entries.release_id == db.releases.c.id) & (entries.event == "published")
    query = select(*columns).join(db.release_log, published).order_by(entries.id.desc())  # in the order published
    return [dict(row._mapping) for row in connection.execute(query)]


def releases_starting(connection: Connection, prefix: str) -> list[Row]:
    """The releases whose id starts with `prefix` (an id may be shortened, as git's may)."""
    columns = [db.releases.c[name] for name in COLUMNS]
    query = select(*columns).where(db.releases.c.id.startswith(prefix, autoescape=True)).order_by(db.releases.c.id)
    return [dict(row._mapping) for row in connection.execute(query)]


def release_with_status(connection: Connection, status: str) -> Row | None:
    """The live or the pending release, if there is one."""
    columns = [db.releases.c[name] for name in COLUMNS]
    found = connection.execute(select(*columns).where(db.releases.c.status == status)).first()
    return dict(found._mapping) if found is not None else None


def release_files(connection: Connection, release_id: str) -> dict[str, bytes]:
    """The files of a release, {path: bytes}, in path order."""
    files, blobs = db.release_files.c, db.release_blobs.c
    query = (
        select(files.path, blobs.content)
        .join(db.release_blobs, blobs.digest == files.digest)
        .where(files.release_id == release_id)
        .order_by(files.path)
    )
    return {path: bytes(content) for path, content in connection.execute(query)}


def move_release(connection: Connection, release_id: str, was: str, status: str, **values: str | None) -> bool:
    """Set a release's status from `was` to `status` (with `values`); False when it no longer was `was`."""
    query = update(db.releases).where(db.releases.c.id == release_id, db.releases.c.status == was)
    return connection.execute(query.values(status=status, **values)).rowcount == 1


def log(connection: Connection, release_id: str, event: str, actor: str | None) -> None:
    connection.execute(db.release_log.insert().values(release_id=release_id, event=event, actor=actor, at=now()))


def release_plan(connection: Connection, release_id: str) -> Row | None:
    """The plan a release was published with, if any."""
    kept = connection.scalar(select(db.releases.c.plan).where(db.releases.c.id == release_id))
    return json.loads(kept) if kept else None


def release_log(connection: Connection, release_id: str) -> list[Row]:
    """What happened to a release, oldest first."""
    entries = db.release_log.c
    query = select(entries.event, entries.actor, entries.at).where(entries.release_id == release_id).order_by(entries.id)
    return [dict(row._mapping) for row in connection.execute(query)]


def releases_of_fingerprints(connection: Connection, fingerprints: list[str]) -> dict[str, str]:
    """For each workspace fingerprint, the newest release published with it."""
    return {fingerprint: release_id for fingerprint, release_id, _ in published_with(connection, fingerprints)}


def published_with(connection: Connection, fingerprints: list[str]) -> list[tuple[str, str, str]]:
    """(fingerprint, release id, published at) of the releases published with these workspace fingerprints, oldest first."""
    columns = db.releases.c
    query = (
        select(columns.fingerprint, columns.id, columns.published_at)
        .where(columns.fingerprint.in_(fingerprints))
        .order_by(columns.published_at, columns.id)
    )
    return [(fingerprint, release_id, at) for fingerprint, release_id, at in connection.execute(query)]


def open_cards(connection: Connection) -> list[tuple[str, str, int]]:
    """(process, state, count) of the open cards (those that can still move), by process and state."""
    columns = (db.cards.c.process, db.cards.c.state)
    query = select(*columns, func.count()).where(db.cards.c.open).group_by(*columns).order_by(*columns)
    return [(process, state, count) for process, state, count in connection.execute(query)]


def open_card_ids(connection: Connection, process: str, state: str) -> list[int]:
    """The ids of the open cards of `process` in `state`."""
    cards = db.cards.c
    return list(connection.scalars(select(cards.id).where(cards.process == process, cards.state == state, cards.open)))


def move_cards(connection: Connection, process: str, was: str, to: Row, audit: Row) -> list[int]:
    """Move the open cards of `process` in state `was` to state `to` ({state, open}), each with an audit
    row (`audit`: trigger, actor, at, fingerprint, reason, trace); their armed timers are dropped.
    Returns the ids of the cards moved."""
    cards = db.cards.c
    ids = open_card_ids(connection, process, was)
    if not ids:
        return []
    trace = json.dumps(audit["trace"], sort_keys=True)
    decision = queries.decision_id_of(trace)
    if connection.execute(select(db.decisions.c.id).where(db.decisions.c.id == decision)).first() is None:
        connection.execute(db.decisions.insert().values(id=decision, trace=trace))
    moved = {key: audit[key] for key in ("trigger", "actor", "at", "fingerprint", "reason")}
    step = {"process": process, "source": was, "dest": to["state"], "decision_id": decision, **moved}
    rows = [{"card_id": card, **step} for card in ids]
    connection.execute(db.transitions.insert(), rows)
    kept_key = cards.open_key if to["open"] else None
    for start in range(0, len(ids), 1000):
        changed = update(db.cards).where(cards.id.in_(ids[start : start + 1000]), cards.state == was)
        values = {"state": to["state"], "open": to["open"], "open_key": kept_key, "updated_at": audit["at"]}
        connection.execute(changed.values(**values, timerless=False))
    timers.drop(connection, ids)
    return ids


def store_mark(connection: Connection) -> str:
    """A mark of the store's cards and users as they are: a plan made against them is stale once it changes."""
    cards, users, moves = db.cards.c, db.users.c, db.transitions.c
    figures = [
        connection.scalar(select(func.count()).select_from(db.cards)),
        connection.scalar(select(func.max(cards.updated_at))),
        connection.scalar(select(func.max(moves.id))),
        connection.scalar(select(func.count()).select_from(db.users)),
        connection.scalar(select(func.max(users.updated_at))),
    ]
    return hashlib.sha256(json.dumps(figures, default=str).encode()).hexdigest()[:16]
