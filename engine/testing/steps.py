"""The steps of a scenario, checked against the workspace they run in.

A step does one thing, named by its action key: `run: NAME` (any process: over users for one that
creates cards, over cards for one that acts on them), `queue: run` (the batch sync), `orders: sync`
(the order-status sync), `advance: P3D` (the clock moves on, firing the timers due on the way), or a
trigger that an action process of the workspace lets a person fire (`TRIGGER: [cards]`, as the
command `cardflow TRIGGER` does). The schema knows the fixed keys; a key it does not know is a
trigger of the workspace or a mistake, diagnosed with what it could be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.batch.by_name import KINDS, misplaced, person_triggers
from engine.batch.over_cards import creates_cards
from engine.definitions.document import Document
from engine.definitions.model import Workspace
from engine.definitions.options import type_problem
from engine.definitions.schemas import STEP, STEP_ACTIONS
from engine.definitions.timers import BadDuration, parse_duration
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

#: Per kind of run (True: a process that creates cards, over users; False: one over existing cards),
#: the keys that choose what it is for, and the keys only the other kind takes (the engine's `KINDS`).
RUN_KEYS = {
    creates: ((kind.ids, "all", "where"), tuple(name for name, _ in KINDS[not creates].only if name in STEP))
    for creates, kind in KINDS.items()
}


def step_triggers(workspace: Workspace) -> list[str]:
    """The triggers that are step keys: those a person fires, but for one named like a fixed key (a
    trigger `run` is fired with `run: PROCESS` and `trigger: run`)."""
    return [trigger for trigger in person_triggers(workspace) if trigger not in STEP]


def step_action(entry: Mapping[str, Any], triggers: list[str]) -> str:
    """The action of a step: its first fixed action key, else its first key naming a trigger; '' for none."""
    fixed = (key for key in STEP_ACTIONS if key in entry)
    return next(fixed, next((key for key in entry if key in triggers), ""))


def check_step(
    document: Document, number: int, data: Mapping[str, Any], users: set[str], workspace: Workspace
) -> Iterator[Diagnostic]:
    """Every problem of step `number` (from 1): its keys, its action, the users and options it names."""
    path = ("steps", number - 1)
    triggers = step_triggers(workspace)
    unknown = [key for key in data if key not in STEP and key not in triggers]
    yield from (_unknown_key(document, (*path, key), str(key), triggers) for key in unknown)
    actions = [key for key in data if key in STEP_ACTIONS or key in triggers]
    if len(actions) != 1 and not (unknown and not actions):
        named = f"{', '.join(STEP_ACTIONS)} or a trigger a person fires ({', '.join(triggers)})"
        yield diagnostic(document.at(path), "E602", actions=named, found=", ".join(map(str, actions)) or "none")
        return
    if "run" in actions:
        yield from _check_run(document, path, data, workspace)
    if "advance" in actions:
        try:
            parse_duration(str(data["advance"]))
        except BadDuration as bad:
            yield diagnostic(document.at((*path, "advance")), "E265", key="advance", problem=str(bad))
    refs = ["users", "fail", "cards", *(key for key in actions if key in triggers)]
    for key in (key for key in actions if key in triggers):
        yield from _check_cards(document, (*path, key), data[key])
    yield from _check_user_refs(document, path, data, refs, users)
    if "as" in data and data["as"] not in users:
        yield diagnostic(document.at((*path, "as")), "E601", name=data["as"])
    yield from check_options(document, (*path, "set"), data.get("set") or {}, workspace)


def _unknown_key(document: Document, path: tuple[Any, ...], key: str, triggers: list[str]) -> Diagnostic:
    hint = did_you_mean(key, [*STEP, *triggers])
    return diagnostic(document.key_at(path), "E230", key=key, hint=hint, triggers=", ".join(triggers) or "none")


def _check_run(document: Document, path: tuple[Any, ...], data: Mapping[str, Any], workspace: Workspace) -> Iterator[Diagnostic]:
    """A run step names a process, takes only the keys of its kind of run, selects as it selects, and
    fires only a trigger it declares."""
    name = data["run"]
    process = workspace.named(name)
    if process is None:
        yield diagnostic(document.at((*path, "run")), "E209", name=name, hint=did_you_mean(name, workspace.processes))
        if sum(key in data for key in ("users", "cards", "all", "where")) != 1:
            yield diagnostic(document.at(path), "E603", keys="users, cards, all, where")
        return
    creates = creates_cards(process)
    keys, others = RUN_KEYS[creates]
    wrong = [key for key in others if key in data]
    for key in wrong:  # in the words `cardflow run` and the API use for the same mistake
        yield diagnostic(document.key_at((*path, key)), "E232", problem=misplaced(process, [key]))
    if not {"users", "cards"} & set(wrong) and sum(key in data for key in keys) != 1:
        yield diagnostic(document.at(path), "E603", keys=", ".join(keys))
    offered = [trigger for trigger, spec in process.triggers.items() if spec.bureau_status is None]
    trigger = data.get("trigger")
    if not creates and trigger is not None and trigger not in offered:
        hint = did_you_mean(trigger, offered)
        yield diagnostic(document.at((*path, "trigger")), "E231", name=trigger, process=name, hint=hint, known=", ".join(offered))


def _check_cards(document: Document, path: tuple[Any, ...], value: Any) -> Iterator[Diagnostic]:
    """A trigger step's value: a non-empty list of card ids or user ids (that user's newest card)."""
    if not isinstance(value, list):
        yield diagnostic(document.at(path), "E102", expected="list", actual=_type_name(value))
    elif not value:
        yield diagnostic(document.at(path), "E105")
    for i, ref in enumerate(value if isinstance(value, list) else []):
        if isinstance(ref, bool) or not isinstance(ref, (str, int)):
            yield diagnostic(document.at((*path, i)), "E102", expected="string or integer", actual=_type_name(ref))


def _type_name(value: Any) -> str:
    names = {bool: "boolean", float: "float", dict: "mapping", list: "list", str: "string", int: "integer"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _check_user_refs(
    document: Document, path: tuple[Any, ...], data: Mapping[str, Any], keys: list[str], users: set[str]
) -> Iterator[Diagnostic]:
    """Every user a step names (in its lists of users or cards, and the keys of `status`) is a scenario user."""
    for key in keys:
        refs = data.get(key)
        for i, ref in enumerate(refs if isinstance(refs, list) else []):
            if isinstance(ref, str) and ref not in users:
                yield diagnostic(document.at((*path, key, i)), "E601", name=ref)
    for ref in data.get("status") or {}:
        if ref not in users:
            yield diagnostic(document.key_at((*path, "status", ref)), "E601", name=ref)


def check_options(
    document: Document, path: tuple[Any, ...], options: Mapping[str, Any], workspace: Workspace
) -> Iterator[Diagnostic]:
    """Every option a scenario or a step sets is a declared variable, with a value of its type."""
    variables = {name: var for script in workspace.scripts.values() for name, var in script.variables.items()}
    for name, value in options.items():
        if name not in variables:
            yield diagnostic(document.key_at((*path, name)), "E604", name=name, hint=did_you_mean(name, variables))
            continue
        problem = type_problem(variables[name], value)
        if problem:
            code, detail = problem.split(":", 1)
            fields = {"allowed": detail} if code == "E402" else {"type": detail}
            yield diagnostic(document.at((*path, name)), code, name=name, value=value, **fields)
