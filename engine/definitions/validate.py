"""Stage 2, validate: the shape of a loaded document, checked by cerberus, errors located in the file."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import cerberus

from engine import effects
from engine.definitions import schemas
from engine.definitions.document import DocPath, Document
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list", dict: "mapping"}


_SCHEMAS: dict[str, schemas.Schema] = {
    "process": schemas.PROCESS,
    "option_script": schemas.OPTION_SCRIPT,
    "scenario": schemas.SCENARIO,
    "schedule": schemas.SCHEDULE,
    "roles": schemas.ROLES,
    "connectors": schemas.CONNECTORS,
    "calendar": schemas.CALENDAR,
    "lifecycle": schemas.LIFECYCLE,
    "release": schemas.RELEASE,
}


@cache
def _validator(kind: str) -> cerberus.Validator:
    return cerberus.Validator(_SCHEMAS[kind], allow_unknown=False)


def validate(document: Document, kind: str) -> tuple[list[Diagnostic], bool]:
    """Diagnostics for every place where `document` does not have the shape of `kind`.

    The flag says whether the document can still be built and checked for meaning: unknown keys
    and problems in descriptive text do not block it; anything structural does.
    """
    if not isinstance(document.data, dict):
        return [diagnostic(document.at(()), "E102", expected="mapping", actual=_type_name(document.data))], False
    validator = _validator(kind)
    try:
        validator.validate(document.data, normalize=False)
    except TypeError:  # keys of mixed types (null, numbers, text): cerberus cannot sort its error paths
        validator.validate(_text_keys(document.data), normalize=False)
    errors = list(_leaves(validator._errors))
    found = [_diagnostic(document, error, kind) for error in errors]
    buildable = all(_harmless(error, kind) for error in errors)
    if kind == "lifecycle":
        effect_problems, effects_buildable = _effects(document)
        found += effect_problems
        buildable = buildable and effects_buildable
    if kind == "process":
        kind_problems = _kind_keys(document)
        effect_problems, effects_buildable = _effects(document)
        found += kind_problems + effect_problems
        buildable = buildable and not kind_problems and effects_buildable
    return found, buildable


def _effects(document: Document) -> tuple[list[Diagnostic], bool]:
    """Each effect entry against its kind's schema (engine.effects): one kind key, then its keys."""
    found: list[Diagnostic] = []
    buildable = True
    for path, entry in _effect_entries(document.data):
        names = effects.kind_keys(entry)
        if len(names) != 1:
            where = document.key_at((*path, names[1])) if names else document.at(path)
            found.append(diagnostic(where, "E270", found=", ".join(map(str, names)) or "none", kinds=", ".join(effects.KINDS)))
            known = effects.known_keys()
            found += [_unknown(document, (*path, key), known) for key in entry if key not in known]
            buildable = False
            continue
        validator = cerberus.Validator(effects.schema_of(names[0]), allow_unknown=False)
        validator.validate(_text_keys(entry), normalize=False)
        for error in _leaves(validator._errors):
            found.append(_diagnostic(document, error, "", prefix=path, known=list(effects.schema_of(names[0]))))
            buildable = buildable and error.code == cerberus.errors.UNKNOWN_FIELD.code
    return found, buildable


def _effect_entries(data: dict[str, Any]) -> Iterator[tuple[DocPath, dict[Any, Any]]]:
    """(path, entry) of every effect entry that is a mapping (the process schema checked the rest)."""
    transitions = data.get("transitions")
    for i, transition in enumerate(transitions if isinstance(transitions, list) else ()):
        entries = transition.get("effects") if isinstance(transition, dict) else None
        for j, entry in enumerate(entries if isinstance(entries, list) else ()):
            if isinstance(entry, dict):
                yield ("transitions", i, "effects", j), entry
    states = data.get("states")
    for name, state in states.items() if isinstance(states, dict) else ():
        timers = state.get("timers") if isinstance(state, dict) else None
        for i, timer in enumerate(timers if isinstance(timers, list) else ()):
            entries = timer.get("effects") if isinstance(timer, dict) else None
            for j, entry in enumerate(entries if isinstance(entries, list) else ()):
                if isinstance(entry, dict):
                    yield ("states", name, "timers", i, "effects", j), entry


def _text_keys(data: Any) -> Any:
    """`data` with every mapping key as text, so that paths of errors compare."""
    if isinstance(data, dict):
        return {str(key): _text_keys(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_text_keys(value) for value in data]
    return data


def _harmless(error: Any, kind: str) -> bool:
    """Whether an error leaves the document buildable (an unknown key, or bad descriptive text)."""
    path = tuple(error.document_path)
    if error.code == cerberus.errors.UNKNOWN_FIELD.code:
        return True
    return len(path) == 1 and path[0] in schemas.DESCRIPTIVE[kind]


def _leaves(errors: Any) -> Iterator[Any]:
    for error in errors:
        if error.is_group_error:
            yield from _leaves(error.child_errors)
        else:
            yield error


def _unknown(document: Document, path: DocPath, known: list[str]) -> Diagnostic:
    key = path[-1]
    return diagnostic(document.key_at(path), "E101", key=key, hint=did_you_mean(str(key), known))


def _diagnostic(document: Document, error: Any, kind: str, *, prefix: DocPath = (), known: list[str] | None = None) -> Diagnostic:
    """The diagnostic of a cerberus error; `prefix` and `known`: of an entry validated on its own (an effect)."""
    path: DocPath = (*prefix, *error.document_path)
    rule = error.rule
    if error.code == cerberus.errors.UNKNOWN_FIELD.code:
        return _unknown(document, path, known if known is not None else _known_keys(error, kind))
    if rule == "required":
        return diagnostic(document.at(path[:-1]), "E103", key=path[-1])
    if rule == "type":
        expected = " or ".join(error.constraint) if isinstance(error.constraint, list) else error.constraint
        return diagnostic(document.at(path), "E102", expected=expected, actual=_type_name(error.value))
    if rule == "nullable":
        return diagnostic(document.at(path), "E102", expected="a value", actual="null")
    if rule == "allowed":
        return diagnostic(document.at(path), "E104", value=error.value, allowed=", ".join(error.constraint))
    if rule == "empty":
        return diagnostic(document.at(path), "E105")
    if rule == "regex":
        where = document.key_at(path) if "keysrules" in error.schema_path else document.at(path)
        return diagnostic(where, "E106", detail=f"'{error.value}' is not a name (letters, digits, _)")
    return diagnostic(document.at(path), "E106", detail=f"{rule} {error.constraint!r} not met")


def _known_keys(error: Any, kind: str) -> list[str]:
    """The keys allowed where the unknown key stands, found by walking the error's schema path."""
    node: Any = _SCHEMAS[kind]
    for step in error.schema_path[:-1]:
        try:
            node = node[step]
        except (KeyError, TypeError, IndexError):
            return []
    if isinstance(node, dict) and isinstance(node.get("schema"), dict):
        node = node["schema"]
    return [key for key in node if isinstance(node.get(key), dict)] if isinstance(node, dict) else []


def _kind_keys(document: Document) -> list[Diagnostic]:
    data = document.data
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in schemas.KIND_KEYS:
        return []
    needed, forbidden = schemas.KIND_KEYS[kind]
    found = [diagnostic(document.at(()), "E103", key=key) for key in needed if key not in data]
    found += [
        diagnostic(document.key_at((key,)), "E106", detail=f"'{key}' does not belong in a process of kind '{kind}'")
        for key in forbidden
        if key in data
    ]
    return found


def _type_name(value: Any) -> str:
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)
