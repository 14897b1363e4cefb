"""A release's contents: the files loading a workspace reads, their content address, and a folder
they are written out to so the workspace loader reads a release as it reads any workspace."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from engine.definitions.files import RELEASE_FILE, input_files
from engine.errors import UsageError
from engine.kept import cache_folder

ID_LENGTH = 12  # hex digits of the SHA-256 a release is named by


def workspace_files(root: Path) -> dict[str, bytes]:
    """Every file loading the workspace at `root` reads, and its release.yaml, {path relative to it, with /: bytes}."""
    paths = [*input_files(root), *([root / RELEASE_FILE] if (root / RELEASE_FILE).is_file() else [])]
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def address(files: Mapping[str, bytes]) -> str:
    """The content address of a set of files: the same files, the same release, wherever published."""
    whole = hashlib.sha256()
    for path in sorted(files):
        whole.update(f"{path}\0{len(files[path])}\0".encode() + files[path])
    return whole.hexdigest()[:ID_LENGTH]


def kept(release_id: str) -> Path | None:
    """The folder release `release_id` was written out to before, if it is there (whole, and this user's)."""
    folder = _releases_folder() / release_id
    complete = folder / ".complete"
    return folder if complete.is_file() and complete.stat().st_uid == os.geteuid() else None


def written_out(release_id: str, files: Mapping[str, bytes]) -> Path:
    """A folder holding the files of release `release_id`, written once (whole or not at all) under the
    cache folder, else a temporary folder: a release never changes, so a folder written is kept."""
    found = kept(release_id)
    if found is not None:
        return found
    unsafe = [path for path in files if Path(path).is_absolute() or ".." in Path(path).parts]
    if unsafe:
        raise UsageError(f"release {release_id} holds a file outside its folder ({unsafe[0]}); it cannot be loaded")
    parent = _releases_folder()
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if parent.stat().st_uid != os.geteuid():  # a folder another user made: not one to load rules from
        parent = Path(tempfile.mkdtemp(prefix="cardflow-releases-"))
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{release_id}-"))
    for path, content in files.items():
        target = staging / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (staging / ".complete").write_text(release_id)
    try:
        staging.rename(parent / release_id)
    except OSError:  # another command wrote it first: theirs is the same
        shutil.rmtree(staging, ignore_errors=True)
    return parent / release_id


def _releases_folder() -> Path:
    base = cache_folder()
    return base / "releases" if base is not None else Path(tempfile.gettempdir()) / f"cardflow-releases-{os.geteuid()}"
