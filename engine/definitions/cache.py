"""The workspace cache: a workspace that passed its checks, kept on disk, so that the next command
over the same files skips load → validate → check (and importing YAML, cerberus and Jinja for it).

An entry is used only when its key matches everything the result depends on: the bytes of every
file that loading reads (`files.input_files`), the workspace's folder, whether the templates were
rendered, and the code that judged them (this floor, the ground floor and the libraries they use,
by size and modification time, and the Python version). A workspace with errors is never kept, so
an error is always found afresh. Where entries are kept, and how (another user's is ignored, a
cache that cannot be read or written costs only the time it would have saved): `engine.kept`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from engine import effects, kept
from engine.definitions.files import input_files
from engine.definitions.model import Workspace
from engine.kept import cache_folder

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


def entry_name(root: Path, render_templates: bool) -> str:
    """One entry per workspace folder and kind of load (a new load of it replaces the old entry)."""
    folder = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return f"workspace-{folder}{'-rendered' if render_templates else ''}.pickle"


def cache_key(root: Path, render_templates: bool) -> str:
    """The digest of everything a loaded workspace depends on (OSError if an input cannot be read)."""
    kinds = ",".join(effects.KINDS)  # a kind registered at run time (a test's own) judges differently
    digest = kept.code_digest(_code_files(), str(render_templates), str(root.resolve()), kinds)
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
