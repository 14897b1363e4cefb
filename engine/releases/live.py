"""Running the store's live release: its files written out once to a folder and loaded as any
workspace is (and cached as any is), for a command, a worker between jobs, or the console between
requests. A batch keeps the release it started with: its row records the workspace's fingerprint,
and the release published with that fingerprint is what its chunks run."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.definitions.cache import load_workspace_cached
from engine.definitions.model import Workspace
from engine.errors import CardflowError, UsageError
from engine.releases.contents import address, kept, workspace_files, written_out
from engine.store import db, queries, releases
from engine.store.releases import LIVE

log = logging.getLogger(__name__)


def live_release(location: str, batch_id: str | None = None) -> tuple[str, Path] | None:
    """The release a command over the store at `location` runs, and the folder its files are in: for
    a batch it resumes (`batch_id`), the release that batch started with; else the live release.
    None when the store does not exist (yet), is of a version before releases, or has no such release."""
    try:
        engine = db.connect(location, mode="read")
    except UsageError:  # no store yet, or an older one: it has no release (a command that writes makes or upgrades it)
        return None
    try:
        with engine.connect() as connection:
            found = _of_batch(connection, batch_id) if batch_id else None
            live = releases.release_with_status(connection, LIVE)
            release_id = found or (live["id"] if live else None)
            return (release_id, release_folder(connection, release_id)) if release_id else None
    finally:
        engine.dispose()


def _of_batch(connection: Connection, batch_id: str) -> str | None:
    """The release batch `batch_id` started with, if it is stored and was started under a release."""
    batch = queries.get_batch(connection, batch_id)
    return release_of(connection, batch["fingerprint"]) if batch else None


def release_of(connection: Connection, fingerprint: str) -> str | None:
    """The release a batch started with, by the fingerprint its row records (`DEFINITIONS:OPTIONS`)."""
    definitions = definitions_of(fingerprint)
    return releases.releases_of_fingerprints(connection, [definitions]).get(definitions)


def definitions_of(fingerprint: str) -> str:
    """The workspace's part of a batch's or a move's fingerprint (`DEFINITIONS:OPTIONS`)."""
    return fingerprint.partition(":")[0]


def release_folder(connection: Connection, release_id: str) -> Path:
    """The folder holding the files of release `release_id` (read from the store the first time only)."""
    return kept(release_id) or written_out(release_id, releases.release_files(connection, release_id))


def release_workspace(connection: Connection, release_id: str) -> Workspace:
    """The workspace of release `release_id`, loaded (from the workspace cache when it can)."""
    return load_workspace_cached(release_folder(connection, release_id))


def differs_from(root: Path, release_id: str) -> bool:
    """Whether the workspace folder at `root` holds other files than release `release_id`."""
    return address(workspace_files(root)) != release_id


class Following:
    """The workspace a long-lived process runs: the store's live release, looked at again on each
    `current()` (one indexed row), loaded once per release; for a batch, the release it started with.
    A store without a live release runs `fallback` (the folder the process was started with); a live
    release this cardflow cannot load (invalid under its checks) is logged, and the last one kept."""

    def __init__(self, engine: Engine, fallback: Workspace) -> None:
        self.engine = engine
        self._loaded: dict[str, Workspace] = {}
        self._fallback = self._last = fallback
        self._lock = threading.Lock()

    def current(self) -> Workspace:
        try:
            with self.engine.connect() as connection:
                live = releases.release_with_status(connection, LIVE)
                if live is None:
                    return self._fallback
                self._last = self._load(connection, live["id"])
        except CardflowError as error:
            log.error("the live release cannot be run (%s); still running the one before", error.message)
        except SQLAlchemyError:  # the store is away: the work itself meets it, and says so
            pass
        return self._last

    def of_batch(self, fingerprint: str) -> Workspace:
        """The workspace a batch started with, by the fingerprint its row records (`DEFINITIONS:OPTIONS`)."""
        definitions = definitions_of(fingerprint)
        held = next((found for found in (*self._loaded.values(), self._fallback) if found.fingerprint == definitions), None)
        if held is not None:
            return held
        with self.engine.connect() as connection:
            release_id = release_of(connection, fingerprint)
            return self._load(connection, release_id) if release_id else self.current()

    def _load(self, connection: Connection, release_id: str) -> Workspace:
        with self._lock:
            found = self._loaded.get(release_id)
            if found is None:
                found = self._loaded[release_id] = load_workspace_cached(release_folder(connection, release_id)).require_valid()
            return found
