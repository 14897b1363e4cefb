"""The workspace cache: a workspace that passed its checks, kept on disk, so that the next command
over the same files skips load → validate → check (and importing YAML, cerberus and Jinja for it).

An entry is used only when its key matches everything the result depends on: the bytes of every
file that loading reads (`files.input_files`), the workspace's folder, whether the templates were
rendered, and the code that judged them (this floor, the ground floor and the libraries they use,
by size and modification time, and the Python version). A workspace with errors is never kept, so
an error is always found afresh. The folder is $CARDFLOW_CACHE (`off` turns the cache off), else
$XDG_CACHE_HOME/cardflow, else ~/.cache/cardflow. An entry another user could have written is
ignored; a cache that cannot be read or written costs only the time it would have saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from engine import effects
from engine.definitions.files import input_files
from engine.definitions.model import Workspace

OFF = "off"
#: the libraries whose judgement a cached workspace holds (cerberus, Jinja and the YAML parser)
LIBRARIES = ("yaml", "cerberus", "jinja2", "markupsafe")
_HERE = Path(__file__).resolve().parent


def load_workspace_cached(root: Path, *, render_templates: bool = False) -> Workspace:
    """The workspace at `root`, as `load_workspace` gives it: from the cache when nothing it depends
    on has changed since a command last loaded it without errors, else loaded (and kept if it has none)."""
    folder = cache_folder()
    try:
        key = cache_key(root, render_templates) if folder is not None else None
    except OSError:  # a file that cannot be read: loading it says which, with its diagnostic
        key = None
    if folder is None or key is None:
        return _load(root, render_templates)
    entry = folder / entry_name(root, render_templates)
    cached = _read(entry, key)
    if cached is not None:
        return dataclasses.replace(cached, root=root)
    workspace = _load(root, render_templates)
    if workspace.ok and _unchanged(root, render_templates, key):  # no file was edited while it loaded
        _write(entry, key, workspace)
    return workspace


def _unchanged(root: Path, render_templates: bool, key: str) -> bool:
    try:
        return cache_key(root, render_templates) == key
    except OSError:
        return False


def _load(root: Path, render_templates: bool) -> Workspace:
    from engine.definitions.workspace import load_workspace  # only on a miss: it imports YAML, cerberus and Jinja

    return load_workspace(root, render_templates=render_templates)


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


def entry_name(root: Path, render_templates: bool) -> str:
    """One entry per workspace folder and kind of load (a new load of it replaces the old entry)."""
    folder = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return f"workspace-{folder}{'-rendered' if render_templates else ''}.pickle"


def cache_key(root: Path, render_templates: bool) -> str:
    """The digest of everything a loaded workspace depends on (OSError if an input cannot be read)."""
    kinds = ",".join(effects.KINDS)  # a kind registered at run time (a test's own) judges differently
    digest = hashlib.sha256(f"{sys.version}\0{render_templates}\0{root.resolve()}\0{kinds}\0".encode())
    for path in _code_files():
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for path in input_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _code_files() -> Iterator[Path]:
    """The modules that load and judge a workspace: this floor, the effect kinds, the ground floor, the libraries' packages."""
    yield from sorted(_HERE.glob("*.py"))
    yield from sorted((_HERE.parent / "effects").glob("*.py"))
    yield from sorted(_HERE.parent.glob("*.py"))
    for name in LIBRARIES:
        spec = find_spec(name)
        if spec is not None and spec.origin:
            yield Path(spec.origin)


def _read(entry: Path, key: str) -> Workspace | None:
    """The workspace kept in `entry` under `key`; None when there is none, it is another key's, it
    could have been written by someone else, or it cannot be read back."""
    try:
        with entry.open("rb") as file:
            stat = os.fstat(file.fileno())
            if stat.st_uid != os.geteuid() or stat.st_mode & 0o022:
                return None
            kept_key, workspace = pickle.load(file)
    except FileNotFoundError:
        return None
    except Exception:  # a torn or foreign entry is only a miss: the workspace is loaded again
        return None
    return workspace if kept_key == key and isinstance(workspace, Workspace) else None


def _write(entry: Path, key: str, workspace: Workspace) -> None:
    """Keep `workspace` under `key` in `entry`, whole or not at all (a reader never sees half of it)."""
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=".workspace-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump((key, workspace), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)
