"""Two releases side by side: the files added, removed and changed (a unified diff each), and the
option values that differ, each with where it was set on either side."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.definitions.cache import load_workspace_cached
from engine.definitions.options import effective_options
from engine.releases.contents import written_out
from engine.store.queries import Row


@dataclass(frozen=True)
class Comparison:
    """What differs from release `left` to release `right`."""

    left: str
    right: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # path: its unified diff, a line each
    options: list[Row] = field(default_factory=list)  # {variable, left, left_source, right, right_source}

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.options)

    def as_json(self) -> Row:
        return {
            "left": self.left,
            "right": self.right,
            "files": {"added": self.added, "removed": self.removed, "changed": self.changed},
            "options": self.options,
        }


def compare(left: tuple[str, Mapping[str, bytes]], right: tuple[str, Mapping[str, bytes]]) -> Comparison:
    """Compare two releases, each (id, {path: bytes})."""
    (left_id, before), (right_id, after) = left, right
    changed = {
        path: _unified(path, before[path], after[path])
        for path in sorted(before.keys() & after.keys())
        if before[path] != after[path]
    }
    return Comparison(
        left_id,
        right_id,
        sorted(after.keys() - before.keys()),
        sorted(before.keys() - after.keys()),
        changed,
        option_changes(option_values(left_id, before), option_values(right_id, after)),
    )


def option_values(release_id: str, files: Mapping[str, bytes]) -> dict[str, tuple[Any, str]]:
    """Each option of a release with its value and provenance (a default, or FILE:LINE of its value)."""
    workspace = load_workspace_cached(written_out(release_id, files))
    return {name: (option.value, option.source) for name, option in effective_options(workspace.scripts).values.items()}


def option_changes(left: Mapping[str, tuple[Any, str]], right: Mapping[str, tuple[Any, str]]) -> list[Row]:
    """The options whose value differs (or that one side does not declare), in name order."""
    missing = (None, "undeclared")
    return [
        {"variable": name, "left": was[0], "left_source": was[1], "right": now[0], "right_source": now[1]}
        for name in sorted(left.keys() | right.keys())
        for was, now in [(left.get(name, missing), right.get(name, missing))]
        if was[0] != now[0] or (was[1] == "undeclared") != (now[1] == "undeclared")
    ]


def _unified(path: str, before: bytes, after: bytes) -> list[str]:
    old = before.decode("utf-8", "replace").splitlines()
    new = after.decode("utf-8", "replace").splitlines()
    return list(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm=""))


def comparison_lines(compared: Row) -> list[str]:
    """A comparison (as JSON) for a reader: the files, the options with where each is set, each file's diff."""
    files = compared["files"]
    lines = [f"from {compared['left']} to {compared['right']}:"]
    lines += [f"  added    {path}" for path in files["added"]]
    lines += [f"  removed  {path}" for path in files["removed"]]
    lines += [f"  changed  {path}" for path in files["changed"]]
    for option in compared["options"]:
        was, now = (json.dumps(option[side]) for side in ("left", "right"))
        lines.append(f"  option {option['variable']}: {was} ({option['left_source']}) -> {now} ({option['right_source']})")
    for unified in files["changed"].values():
        lines += ["", *unified]
    return lines
