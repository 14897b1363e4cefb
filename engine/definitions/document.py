"""A loaded YAML document: plain data and where each node of it stands (no YAML library needed to hold one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.diagnostics import Location

DocPath = tuple[Any, ...]


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: its data and where each node of it stands in the file."""

    file: str
    data: Any
    locations: Mapping[DocPath, Location] = field(repr=False)
    key_locations: Mapping[DocPath, Location] = field(repr=False)

    def at(self, path: DocPath) -> Location:
        """The location of the node at `path`, or of its nearest located ancestor."""
        path = tuple(path)
        while path not in self.locations and path:
            path = path[:-1]
        return self.locations.get(path, Location(self.file))

    def key_at(self, path: DocPath) -> Location:
        """The location of the key naming `path` (for mapping entries), else of the node."""
        return self.key_locations.get(tuple(path)) or self.at(path)
