"""The workspace cache: a workspace that passed its checks, kept on disk, so that the next command
over the same files skips load → validate → check (and importing YAML, cerberus and Jinja for it).

An entry is used only when its key matches everything the result depends on: the bytes of every
file that loading reads (`files.input_files`), whether the templates were rendered, and the code
that judged them (this floor, the ground floor and the libraries they use, by size and modification
time, and the Python version). The folder is not part of it (nothing loaded holds it but `root`,
given back as asked), so a copy of a workspace elsewhere, or a version checked out again, is a hit.
An entry is named by its key; the most recently used `KEPT_ENTRIES` are kept. A workspace with
errors is never kept, so an error is always found afresh. Where entries are kept, and how (another
user's is ignored, a cache that cannot be read or written costs only the time it would have
saved): `engine.kept`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from engine import effects, kept
from engine.definitions.files import input_files
from engine.definitions.model import Workspace
from engine.kept import cache_folder

#: the libraries whose judgement a cached workspace holds (cerberus, Jinja and the YAML parser)
LIBRARIES = ("yaml", "cerberus", "jinja2", "markupsafe")
#: how many loaded workspaces the cache keeps (the least recently used goes first)
KEPT_ENTRIES = 16
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
    entry = folder / entry_name(key)
    cached = _read(entry, key)
    if cached is not None:
        kept.used(entry)
        return dataclasses.replace(cached, root=root)
    workspace = _load(root, render_templates)
    if workspace.ok and _unchanged(root, render_templates, key):  # no file was edited while it loaded
        _write(entry, key, dataclasses.replace(workspace, root=Path()))  # kept without its folder
        kept.keep_newest(folder, f"{ENTRY_PREFIX}*{ENTRY_SUFFIX}", KEPT_ENTRIES)
    return workspace


def _unchanged(root: Path, render_templates: bool, key: str) -> bool:
    try:
        return cache_key(root, render_templates) == key
    except OSError:
        return False


def _load(root: Path, render_templates: bool) -> Workspace:
    from engine.definitions.workspace import load_workspace  # only on a miss: it imports YAML, cerberus and Jinja

    return load_workspace(root, render_templates=render_templates)


ENTRY_PREFIX, ENTRY_SUFFIX = "workspace-", ".pickle"


def entry_name(key: str) -> str:
    """The entry of a key: one per content and kind of load, wherever the workspace's folder is."""
    return f"{ENTRY_PREFIX}{key[:32]}{ENTRY_SUFFIX}"


def cache_key(root: Path, render_templates: bool) -> str:
    """The digest of everything a loaded workspace depends on (OSError if an input cannot be read)."""
    kinds = ",".join(effects.KINDS)  # a kind registered at run time (a test's own) judges differently
    digest = kept.code_digest(_code_files(), str(render_templates), kinds)
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
    """The workspace kept in `entry` under `key` (None: a miss)."""
    found = kept.read(entry, key)
    return found if isinstance(found, Workspace) else None


def _write(entry: Path, key: str, workspace: Workspace) -> None:
    kept.write(entry, key, workspace)
