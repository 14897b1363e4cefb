"""The check of `exclusive:`, a process's exclusivity group (E250, E251).

`exclusive: EXPR` means the group named after the process itself; `exclusive: {group: NAME, when:
EXPR}` names a group that other processes may name too. While a process's `when` holds (always
without one), a user gets no new open card of it while they have an open card of any process of
its group, and the store keeps one keyed open card per user and group. The processes of a group
may differ in `when`: each decides by its own condition whether its new cards join the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.definitions.document import Document
from engine.definitions.model import OptionScript, Process
from engine.definitions.schemas import NAME
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

KEYS = ("group", "when")
_KINDS = {list: "a list", int: "a number", float: "a number", bool: "a boolean"}
_SHAPE = "write `exclusive: EXPR` or `exclusive: {group: NAME, when: EXPR}`"


def check_exclusive(processes: Mapping[str, Process], scripts: Mapping[str, OptionScript]) -> Iterator[Diagnostic]:
    """`exclusive` is an expression, or a mapping with a group name and an optional `when` expression."""
    for process in processes.values():
        data = process.document.data
        if isinstance(data, dict) and "exclusive" in data:
            yield from _problems(process.document, data["exclusive"])


def _problems(document: Document, value: Any) -> Iterator[Diagnostic]:
    where = document.at(("exclusive",))
    if isinstance(value, str):
        if not value.strip():
            yield diagnostic(where, "E250", problem="the expression is empty", shape=_SHAPE)
        return
    if not isinstance(value, dict):
        kind = _KINDS.get(type(value), type(value).__name__)
        yield diagnostic(where, "E250", problem=f"{kind} is neither an expression nor a mapping", shape=_SHAPE)
        return
    for key in value:
        if key not in KEYS:
            hint = did_you_mean(str(key), KEYS)
            yield diagnostic(document.key_at(("exclusive", key)), "E250", problem=f"unknown key '{key}'{hint}", shape=_SHAPE)
    if "group" not in value:
        yield diagnostic(where, "E250", problem="the group is missing", shape=_SHAPE)
    elif not isinstance(value["group"], str) or not re.fullmatch(NAME, value["group"]):
        yield diagnostic(document.at(("exclusive", "group")), "E251", name=value["group"])
    when = value.get("when", "true")
    if not isinstance(when, str) or not when.strip():
        yield diagnostic(document.at(("exclusive", "when")), "E250", problem="`when` must be an expression", shape=_SHAPE)
