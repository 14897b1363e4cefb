"""Stage 1, load: YAML text to plain data plus the source location of every node.

Safe by construction: the document is built from parser events, so no tag can construct a Python
object, anchors are shared instead of copied, and size, depth and alias expansion are bounded.
Only `true`/`false` are booleans (`on`, `off`, `yes`, `no` stay strings); timestamps stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import BaseResolver, Resolver

from engine.definitions.document import DocPath, Document
from engine.diagnostics import Diagnostic, Location, diagnostic

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000

_STANDARD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STANDARD + t for t in ("str", "int", "float", "bool", "null")}
_COLLECTION_TAGS = {_STANDARD + "map", _STANDARD + "seq"}
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Resolver(BaseResolver):
    """YAML 1.2-style implicit types: null, true/false, int, float; everything else a string."""


_Resolver.yaml_implicit_resolvers = {}
for _first, _entries in Resolver.yaml_implicit_resolvers.items():
    _kept = [(tag, rx) for tag, rx in _entries if tag.rsplit(":", 1)[-1] in {"int", "float", "null", "merge"}]
    if _kept:
        _Resolver.yaml_implicit_resolvers[_first] = _kept
_Resolver.add_implicit_resolver(_STANDARD + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _Stop(Exception):
    """Loading cannot go on; the diagnostic says why."""

    def __init__(self, found: Diagnostic) -> None:
        self.found = found


@dataclass
class _Frame:
    container: dict[Any, Any] | list[Any]
    path: DocPath
    anchor: str | None
    size: int = 1
    key: Any = None
    key_mark: Any = None
    awaiting_value: bool = False
    first_lines: dict[Any, int] = field(default_factory=dict)


class _Builder:
    """Turns parser events into data and locations, one event at a time (no recursion)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.locations: dict[DocPath, Location] = {}
        self.key_locations: dict[DocPath, Location] = {}
        self.diagnostics: list[Diagnostic] = []
        self.total = 0
        self.root: Any = None
        self.documents = 0
        self.constructor = SafeConstructor()
        self.resolver = _Resolver()

    def loc(self, mark: Any) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Stop(diagnostic(self.loc(event.start_mark), "E007", detail="a file holds one YAML document"))
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self.open(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = self.stack.pop()
            if frame.anchor:
                self.anchors[frame.anchor] = (frame.container, frame.size)
            self.place(frame.container, frame.size, event, is_collection=True)
        elif isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
            self.place(value, 1, event)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise _Stop(diagnostic(self.loc(event.start_mark), "E001", detail=f"unknown alias *{event.anchor}"))
            value, size = self.anchors[event.anchor]
            self.place(value, size, event)

    def next_path(self) -> DocPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        return (*top.path, top.key) if top.awaiting_value else (*top.path, None)

    def open(self, event: Any) -> None:
        if event.tag not in (None, "!") and event.tag not in _COLLECTION_TAGS:
            raise _Stop(diagnostic(self.loc(event.start_mark), "E002", tag=event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise _Stop(diagnostic(self.loc(event.start_mark), "E004", limit=MAX_DEPTH))
        path = self.next_path()
        container: dict[Any, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.locations.setdefault(path, self.loc(event.start_mark))
        self.stack.append(_Frame(container, path, event.anchor))

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag in (None, "!"):
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        elif tag not in _SCALAR_TAGS:
            raise _Stop(diagnostic(self.loc(event.start_mark), "E002", tag=tag))
        kind = tag.rsplit(":", 1)[-1]
        node = yaml.ScalarNode(tag, event.value)
        if kind == "merge":
            raise _Stop(diagnostic(self.loc(event.start_mark), "E007", detail="merge keys (<<) are not supported"))
        if kind == "null":
            return None
        if kind == "bool":
            return event.value.lower() == "true"
        if kind in ("int", "float"):
            try:
                method = self.constructor.construct_yaml_int if kind == "int" else self.constructor.construct_yaml_float
                return method(node)
            except ValueError:
                raise _Stop(diagnostic(self.loc(event.start_mark), "E001", detail=f"not a valid {kind}")) from None
        return event.value

    def place(self, value: Any, size: int, event: Any, is_collection: bool = False) -> None:
        self.total += size
        if self.total > MAX_NODES:
            raise _Stop(diagnostic(self.loc(event.start_mark), "E005", limit=MAX_NODES))
        if not self.stack:
            self.root = value
            if not is_collection:
                self.locations[()] = self.loc(event.start_mark)
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.container, list):
            if not is_collection:
                self.locations[(*top.path, len(top.container))] = self.loc(event.start_mark)
            top.container.append(value)
        elif not top.awaiting_value:
            self.take_key(top, value, event, is_collection)
        else:
            path = (*top.path, top.key)
            if not is_collection:
                self.locations[path] = self.loc(event.start_mark)
            top.container[top.key] = value
            top.awaiting_value = False

    def take_key(self, top: _Frame, key: Any, event: Any, is_collection: bool) -> None:
        mark = self.locations.get((*top.path, None)) or self.loc(event.start_mark)
        if is_collection:
            self.diagnostics.append(diagnostic(mark, "E007", detail="mapping keys must be plain scalars"))
            key = f"<key at line {mark.line}>"
        if key in top.first_lines:
            self.diagnostics.append(diagnostic(mark, "E003", key=key, first=top.first_lines[key]))
        else:
            top.first_lines[key] = mark.line
        self.locations.pop((*top.path, None), None)
        top.key, top.awaiting_value = key, True
        self.key_locations[(*top.path, key)] = mark


def load_text(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Load one YAML document; on a fatal problem return None and the diagnostics."""
    builder = _Builder(file)
    try:
        for event in _events(text):
            builder.feed(event)
    except _Stop as stop:
        return None, [*builder.diagnostics, stop.found]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = builder.loc(mark) if mark else Location(file)
        detail = " ".join(str(part) for part in (error.context, error.problem) if part)
        return None, [*builder.diagnostics, diagnostic(where, "E001", detail=detail)]
    except yaml.YAMLError as error:
        return None, [*builder.diagnostics, diagnostic(Location(file), "E001", detail=str(error).splitlines()[0])]
    document = Document(file, builder.root, builder.locations, builder.key_locations)
    return document, builder.diagnostics


def _events(text: str) -> Iterator[yaml.Event]:
    return yaml.parse(text, Loader=_Parser)


def load_file(path: Path, file: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    """Read and load a YAML file, refusing files that are too large or not UTF-8."""
    shown = file or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, [diagnostic(Location(shown), "E006", size=size, limit=MAX_BYTES)]
        data = path.read_bytes()
    except OSError as error:
        return None, [diagnostic(Location(shown), "E008", detail=str(error))]
    return load_bytes(data, shown)


def load_bytes(data: bytes, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Load a YAML file's bytes, already read (and hashed) by the caller; too large or not UTF-8 is refused."""
    if len(data) > MAX_BYTES:
        return None, [diagnostic(Location(file), "E006", size=len(data), limit=MAX_BYTES)]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return None, [diagnostic(Location(file), "E008", detail=str(error))]
    return load_text(text, file)
