"""Lifecycles written once and shared by the processes that create their cards.

    # lifecycles/CardRequest.yaml
    lifecycle: CardRequest
    description: A card request, from its creation to the card's end.
    triggers: {approve: {description: ...}, ...}
    states: {registered: {initial: true, ...}, ...}
    transitions: [...]
    fields: {...}

    # processes/CardsProcRequest.yaml
    lifecycle: CardRequest
    triggers: {start: {description: Create the request of one user.}}
    transitions:            # its own, tried before the lifecycle's (how this process creates a card)
      - {trigger: start, source: registered, dest: requested, guard: options.CardsRequestApproval}

A process naming a lifecycle declares no states or fields of its own; its triggers and transitions
come before the lifecycle's. A lifecycle may include others (`includes: [CardInUse]`: the part of
the life that several lifecycles share, as a card in use after it was issued or produced); it gets
their triggers, states, transitions and fields after its own, and declares none of theirs again.
The merged document keeps every node's place in its own file, so a problem in a lifecycle is
reported in the lifecycle file (once, however many processes share it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from engine.definitions.document import DocPath, Document
from engine.definitions.files import LIFECYCLES
from engine.definitions.load import load_bytes
from engine.definitions.validate import validate
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

#: What a lifecycle gives the processes that name it.
SHARED = ("triggers", "states", "transitions", "fields")


class Lifecycles:
    """The lifecycles of a workspace: those that could be built, and the names of those that could not."""

    def __init__(self, built: Mapping[str, Document], broken: set[str]) -> None:
        self.built = built
        self.broken = broken

    def merged(self, process: Document) -> tuple[Document | None, list[Diagnostic]]:
        """`process` with the lifecycle it names merged in (itself when it names none); None when it
        names one that is unknown or broken, or declares what its lifecycle declares."""
        data = process.data
        name = data.get("lifecycle") if isinstance(data, dict) else None
        if name is None or data.get("kind") == "action":  # an action process names none: validate says so
            return process, []
        if not isinstance(name, str) or name not in self.built:
            if isinstance(name, str) and name in self.broken:
                return None, []  # reported in the lifecycle's file
            known = sorted(self.built) + sorted(self.broken)
            hint = did_you_mean(str(name), known)
            where = process.at(("lifecycle",))
            return None, [diagnostic(where, "E278", name=name, hint=hint, known=", ".join(known) or "none")]
        lifecycle = self.built[name]
        clashes = [
            diagnostic(process.key_at((key,)), "E279", key=key, name=name, what="declares them")
            for key in ("states", "fields")
            if key in data
        ]
        own_triggers = data.get("triggers") if isinstance(data.get("triggers"), dict) else {}
        clashes += [
            diagnostic(process.key_at(("triggers", trigger)), "E279", key=f"trigger '{trigger}'", name=name, what="declares it")
            for trigger in own_triggers
            if trigger in lifecycle.data.get("triggers", {})
        ]
        if clashes:
            return None, clashes
        return _merge(process, lifecycle), []


def read_lifecycles(root: Path) -> tuple[Lifecycles, list[Diagnostic], list[tuple[str, bytes]]]:
    """The lifecycles of `root`/lifecycles/*.yaml (each with those it includes merged in), their
    diagnostics, and each file's shown name and bytes (for the workspace's fingerprint)."""
    built: dict[str, Document] = {}
    broken: set[str] = set()
    found: list[Diagnostic] = []
    read: list[tuple[str, bytes]] = []
    for path in sorted((root / LIFECYCLES).glob("*.yaml")):
        shown, data = f"{LIFECYCLES}/{path.name}", path.read_bytes()
        read.append((shown, data))
        document, problems = load_bytes(data, shown)
        found += problems
        if document is None:
            broken.add(path.stem)
            continue
        shape, buildable = validate(document, "lifecycle")
        found += shape
        name = document.data.get("lifecycle") if isinstance(document.data, dict) else None
        if isinstance(name, str) and name != path.stem:
            found.append(diagnostic(document.at(("lifecycle",)), "E106", detail=f"'{name}' is not the file's name ({path.stem})"))
            buildable = False
        if not buildable or problems:
            broken.add(path.stem)
        else:
            built[path.stem] = document
    resolved: dict[str, Document] = {}
    for name in built:
        found += _resolve(name, built, broken, resolved, ())
    return Lifecycles(resolved, broken), found, read


def _resolve(
    name: str, built: Mapping[str, Document], broken: set[str], resolved: dict[str, Document], trail: tuple[str, ...]
) -> list[Diagnostic]:
    """Put `name` with what it includes merged in into `resolved`, or into `broken` when a problem of its
    `includes` (a name unknown or broken, a loop, a node declared twice) stops it; those problems."""
    if name in resolved or name in broken or name in trail:
        return []
    document = built[name]
    merged, found, whole = document, [], True
    for index, included in enumerate(document.data.get("includes", [])):
        where = document.at(("includes", index))
        if included in (*trail, name):
            found.append(diagnostic(where, "E285", name=name, path=" -> ".join((*trail, name, included))))
        elif included not in built and included not in broken:
            known = sorted(set(built) | broken)
            hint = did_you_mean(included, known)
            found.append(diagnostic(where, "E278", name=included, hint=hint, known=", ".join(known)))
        else:
            found += _resolve(included, built, broken, resolved, (*trail, name))
        if included not in resolved:
            whole = False  # its problem is reported here, in its own file, or where the loop closes
            continue
        clashes = list(_declared_twice(merged, resolved[included], included))
        found += clashes
        whole = whole and not clashes
        merged = _merge(merged, resolved[included]) if not clashes else merged
    if whole:
        resolved[name] = merged
    else:
        broken.add(name)  # its problems are reported once, here
    return found


def _declared_twice(lifecycle: Document, included: Document, name: str) -> Iterator[Diagnostic]:
    """E286 for each trigger, state and field both `lifecycle` and the one it includes declare."""
    for key in ("triggers", "states", "fields"):
        own, theirs = lifecycle.data.get(key) or {}, included.data.get(key) or {}
        for entry in own:
            if entry in theirs:
                where = lifecycle.key_at((key, entry))
                yield diagnostic(where, "E286", key=f"{key[:-1]} '{entry}'", name=name, at=str(included.key_at((key, entry))))


def _merge(process: Document, lifecycle: Document) -> Document:
    """One document: the keys of `process` (a process, or a lifecycle that includes `lifecycle`), its
    transitions first, then the lifecycle's; the triggers, states and fields of both."""
    data = dict(process.data)
    data.pop("includes", None)
    shared = lifecycle.data
    own = data.get("transitions", [])
    shift = len(own) if isinstance(own, list) else 0
    if isinstance(data.get("triggers", {}), dict):
        data["triggers"] = {**shared.get("triggers", {}), **data.get("triggers", {})}
    data["states"] = {**data.get("states", {}), **shared["states"]}
    if isinstance(own, list):  # else the process's own shape is wrong: validate reports it
        data["transitions"] = [*own, *shared["transitions"]]
    if "fields" in shared:
        data["fields"] = {**data.get("fields", {}), **shared["fields"]}
    locations = dict(process.locations)
    key_locations = dict(process.key_locations)
    for source, target in ((lifecycle.locations, locations), (lifecycle.key_locations, key_locations)):
        for path, location in source.items():
            if path and path[0] in SHARED:
                target.setdefault(_shifted(path, shift), location)
    return Document(process.file, data, locations, key_locations)


def _shifted(path: DocPath, shift: int) -> DocPath:
    """A lifecycle's path in the merged document: its transitions come after the process's own."""
    if path[0] == "transitions" and len(path) > 1 and isinstance(path[1], int):
        return ("transitions", path[1] + shift, *path[2:])
    return path
