"""The values an expression compares a card's closed fields with (its state; a declared card field
that lists its values): each must be one the field can take, so that a prerequisite `card.state in
['issued', 'prodused']` is E305 at its line, not a rule that quietly refuses every produced card."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from jinja2 import nodes

from engine.definitions.expressions import ExpressionError, syntax_tree
from engine.definitions.fields import card_fields
from engine.definitions.model import OptionScript, Process
from engine.definitions.placed import expressions_of
from engine.diagnostics import Diagnostic, diagnostic, did_you_mean

#: Where an expression reads the card (a batch's prerequisite runs before there is one: E303 there).
_READ_CARD = frozenset({"action prerequisite", "guard", "effect condition", "effect value"})
#: The comparisons whose other side is one value, or a list of them (`in`).
_EQUAL, _AMONG = frozenset({"eq", "ne"}), frozenset({"in", "notin"})


class Miscompared(NamedTuple):
    """A value an expression compares a field with that the field never takes, and the values it takes."""

    name: str
    value: Any
    values: list[str]

    @property
    def hint(self) -> str:
        """A ' (did you mean ...?)' for a value close to one the field takes, else ''."""
        return did_you_mean(self.value, self.values) if isinstance(self.value, str) else ""

    def said(self, root: str, where: str = "") -> str:
        """In words, for the field read as `ROOT.NAME` (`where`: of which records it is never the value)."""
        return f"{root}.{self.name} is never {self.value!r}{where}{self.hint} (it is one of: {', '.join(self.values)})"


def check_compared_values(processes: Mapping[str, Process], scripts: Mapping[str, OptionScript]) -> Iterator[Diagnostic]:
    """E305 for a card's state or closed card field compared with a value it cannot take. A `fire`
    effect's `where` reads the holder's other cards, of any process: their states are every process's."""
    every_state = frozenset(state for process in processes.values() for state in process.states)
    for process in processes.values():
        closed = closed_fields(process, processes)
        for placed in expressions_of(process):
            if placed.place not in _READ_CARD:
                continue
            known = {**closed, "state": every_state} if placed.place == "effect value" else closed
            try:
                problems = list(never_compared(placed.source.text, "card", known))
            except ExpressionError:
                continue  # check_expressions says why
            for found in problems:
                said = {"name": found.name, "value": found.value, "hint": found.hint, "known": ", ".join(found.values)}
                yield diagnostic(placed.source.location, "E305", **said)


def never_compared(source: str, root: str, closed: Mapping[str, Collection[Any]]) -> Iterator[Miscompared]:
    """Each value `source` compares `root.FIELD` with that the field never takes; `closed`: the fields
    whose values are known, with them."""
    for name, value in compared_values(source, root):
        known = closed.get(name)
        if known is not None and value not in known:
            yield Miscompared(name, value, sorted(map(str, known)))


def closed_fields(process: Process, processes: Mapping[str, Process]) -> dict[str, Collection[Any]]:
    """The card fields of `process`'s cards whose values are known: the state, and the declared
    fields that list their values (no state while it acts on a process that does not exist: E209)."""
    found: dict[str, Collection[Any]] = {
        name: field.values for name, field in card_fields(process, processes).items() if field.values
    }
    states = _states(process, processes)
    if states is not None:
        found["state"] = states
    return found


def compared_values(source: str, root: str = "card") -> list[tuple[str, Any]]:
    """(field, value) for each value the expression compares a field of `root` with (==, !=, in, not in)."""
    return list(_compared(source, root))


@lru_cache(maxsize=4096)
def _compared(source: str, root: str) -> tuple[tuple[str, Any], ...]:
    """`compared_values`, each expression parsed once (a shared lifecycle's are checked for every process)."""
    found: list[tuple[str, Any]] = []
    tree = syntax_tree(source)
    for compare in [tree] if isinstance(tree, nodes.Compare) else tree.find_all(nodes.Compare):
        left = compare.expr
        for operand in compare.ops:
            right = operand.expr
            if operand.op in _EQUAL:
                found += _pair(root, left, right) + _pair(root, right, left)
            elif operand.op in _AMONG and isinstance(right, (nodes.List, nodes.Tuple)):
                found += [pair for item in right.items for pair in _pair(root, left, item)]
            left = right
    return tuple(found)


def _pair(root: str, field: nodes.Node, value: nodes.Node) -> list[tuple[str, Any]]:
    """[(name, value)] when `field` is `ROOT.NAME` and `value` a literal, else []."""
    read = isinstance(field, nodes.Getattr) and isinstance(field.node, nodes.Name) and field.node.name == root
    if read and isinstance(value, nodes.Const) and isinstance(value.value, (str, int, bool)):
        return [(field.attr, value.value)]  # type: ignore[attr-defined]
    return []


def _states(process: Process, processes: Mapping[str, Process]) -> frozenset[str] | None:
    """The states the cards of `process` can be in: its own, or (an action) those of the processes it acts
    on; None while it acts on one that does not exist (E209 says so)."""
    if process.kind == "batch":
        return frozenset(process.states)
    if any(name not in processes for name in process.acts_on):
        return None
    return frozenset(state for name in process.acts_on for state in processes[name].states)
