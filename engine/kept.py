"""What commands keep on disk between runs to start faster: the cache folder and its entries.

An entry is a pickled (key, value) pair; it is used only under the key it was written with (a
digest of everything the value depends on), only if this user wrote it (another user's, or one
others may write, is ignored), and a torn or missing one is only a miss. The folder is
$CARDFLOW_CACHE (`off` turns caching off), else $XDG_CACHE_HOME/cardflow, else ~/.cache/cardflow.
Users: the workspace cache (`engine.definitions.cache`) and the statements a read command keeps
(`engine.store.prepared`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OFF = "off"


def cache_folder() -> Path | None:
    """Where entries are kept: $CARDFLOW_CACHE (None when it is `off`), else the user's cache folder."""
    chosen = os.environ.get("CARDFLOW_CACHE")
    if chosen == OFF:
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "cardflow"
    try:
        return Path.home() / ".cache" / "cardflow"
    except RuntimeError:  # no home folder: no cache
        return None


def code_digest(files: Iterable[Path], *salt: str) -> hashlib._Hash:
    """A digest of the code a kept value was made by (each file by its path, size and modification
    time), of Python's version and of `salt`; callers may add their inputs to it."""
    digest = hashlib.sha256("\0".join((sys.version, *salt, "")).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest


def read(entry: Path, key: str) -> Any:
    """The value kept in `entry` under `key`; None when there is none, it is another key's, it could
    have been written by someone else, or it cannot be read back."""
    try:
        with entry.open("rb") as file:
            stat = os.fstat(file.fileno())
            if stat.st_uid != os.geteuid() or stat.st_mode & 0o022:
                return None
            kept_key, value = pickle.load(file)
    except Exception:  # missing, torn or foreign: only a miss
        return None
    return value if kept_key == key else None


def write(entry: Path, key: str, value: Any) -> None:
    """Keep `value` under `key` in `entry`, whole or not at all (a reader never sees half of it); a
    folder that cannot be written costs only the time the entry would have saved."""
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.stem}-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump((key, value), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def used(entry: Path) -> None:
    """Mark `entry` as just used, so that `keep_newest` keeps it longest."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def keep_newest(folder: Path, pattern: str, count: int) -> None:
    """Remove all but the `count` most recently used entries of `folder` matching `pattern` (an entry
    another command removes first, or one it is reading, is only a miss for it)."""
    try:
        found = [(entry.stat().st_mtime_ns, entry) for entry in folder.glob(pattern)]
    except OSError:
        return
    for _, entry in sorted(found, reverse=True)[count:]:
        with contextlib.suppress(OSError):
            entry.unlink()
