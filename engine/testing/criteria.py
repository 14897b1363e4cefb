"""Coverage criteria beyond transitions and guard outcomes: MC/DC, transition pairs, option pairs.

- **MC/DC** (unique-cause, short-circuit form): a guard with several conditions (the operands of its
  top-level `and` or `or`) covers condition *i* when two of its evaluations differ in the guard's
  outcome and in condition *i*, and agree on every other condition each of them evaluated. The values
  of the conditions are worked out from what the guard read.
- **Transition pairs**: each transition followed by each transition leaving its destination, fired
  one after the other on one card.
- **Option pairs**: each pair of values of two enumerable options a process reads, in force together
  when a card of the process moved (a covering array of strength 2 of the options).

The criteria a command counts are chosen by name (`CRITERIA`); the covering arrays that generation
runs under come from covertable.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from covertable import make

from engine.definitions.expressions import Compiled, ExpressionError, parse, top_level
from engine.definitions.model import Process

if TYPE_CHECKING:
    from engine.store.queries import Row

#: every criterion by name, in the order reports show them; `all` names them all
CRITERIA = ("transitions", "guards", "mcdc", "transition-pairs", "option-pairs")
#: what `cardflow test` counts unless told otherwise (what the hand-written suites are held to)
BASIC = ("transitions", "guards")

Vector = tuple[Any, ...]  # one evaluation of a guard: each condition's value (None: not evaluated), then the outcome
OptionPair = tuple[tuple[str, str], tuple[str, str]]


def chosen(names: Iterable[str]) -> tuple[str, ...]:
    """The criteria `names` stand for (`all`: every one), in report order."""
    wanted = set(names)
    return CRITERIA if "all" in wanted else tuple(name for name in CRITERIA if name in wanted)


def conditions(guard: str) -> list[str]:
    """The conditions of a guard: the operands of its top-level `and` or `or` (one operator only)."""
    return split_condition(guard)[1]


def split_condition(text: str) -> tuple[str | None, list[str]]:
    """A guard's top-level operands when they are joined by one operator (`and` or `or`) outside any
    parentheses or quotes: ('and', [a, b, c]); (None, [text]) otherwise (one operand, or both operators)."""
    joined = {operator: top_level(text, operator) for operator in ("and", "or")}
    split = [operator for operator, parts in joined.items() if len(parts) > 1]
    return (split[0], joined[split[0]]) if len(split) == 1 else (None, [text])


class Conditions:
    """The conditions of each guard with several, parsed once, and the values they take in an evaluation."""

    def __init__(self, process: Process) -> None:
        self.of: dict[int, list[str]] = {}
        self.parsed: dict[int, list[Compiled]] = {}
        for transition in process.transitions:
            parts = conditions(transition.guard.text) if transition.guard else []
            if len(parts) > 1:
                try:
                    self.parsed[transition.index + 1] = [parse(part) for part in parts]
                except ExpressionError:
                    continue
                self.of[transition.index + 1] = parts

    def targets(self) -> list[tuple[int, int]]:
        return [(index, i) for index, parts in self.of.items() for i in range(len(parts))]

    def vector(self, index: int, reads: Sequence[Row], result: bool) -> Vector:
        """Each condition's value in an evaluation that read `reads` (None where it read too little to know)."""
        scope: dict[str, Any] = {}
        for read in reads:
            root, _, attr = str(read["name"]).partition(".")
            if attr:
                scope.setdefault(root, {})[attr] = read["value"]
        values = []
        for condition in self.parsed[index]:
            known = all(attr in scope.get(root, {}) for root, attr in condition.attributes)
            value = condition.truth(scope)[0] if known else None
            values.append(value if isinstance(value, bool) else None)
        return (*values, result)


def independent(vectors: Iterable[Vector], i: int) -> tuple[Vector, Vector] | None:
    """Two evaluations that show condition `i` deciding the outcome on its own, or None."""
    seen = list(vectors)
    for a, b in itertools.combinations(seen, 2):
        if a[-1] == b[-1] or a[i] is None or b[i] is None or a[i] == b[i]:
            continue
        others = (j for j in range(len(a) - 1) if j != i)
        if all(a[j] is None or b[j] is None or a[j] == b[j] for j in others):
            return a, b
    return None


def transition_pairs(process: Process) -> list[tuple[int, int]]:
    """Every pair of transitions (numbered from 1) where the second leaves the state the first enters."""
    return [
        (first.index + 1, second.index + 1)
        for first in process.transitions
        for second in process.transitions
        if first.dest in second.source
    ]


def option_pairs(domains: Mapping[str, Sequence[Any]]) -> list[OptionPair]:
    """Every pair of values of two options, as the text a tester reads (`true`, `false`, a value)."""
    return [
        ((a, shown_value(x)), (b, shown_value(y)))
        for a, b in itertools.combinations(sorted(domains), 2)
        for x in domains[a]
        for y in domains[b]
    ]


def pairs_in(values: Mapping[str, Any], domains: Mapping[str, Sequence[Any]]) -> Iterator[OptionPair]:
    """The option pairs one combination of values holds."""
    names = sorted(name for name in domains if name in values)
    for a, b in itertools.combinations(names, 2):
        yield (a, shown_value(values[a])), (b, shown_value(values[b]))


def covering_rows(domains: Mapping[str, Sequence[Any]], strength: int | None) -> list[dict[str, Any]]:
    """Combinations of the option values in which every `strength` of them meet in each of their
    values at least once (covertable's covering array; the same for the same domains); every
    combination when `strength` is None or not below the number of options."""
    names = sorted(domains)
    if strength is None or strength >= len(names):
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*(domains[n] for n in names))]
    return [{name: row[name] for name in names} for row in make({name: list(domains[name]) for name in names}, strength=strength)]


def shown_value(value: Any) -> str:
    """An option value as a tester reads it: true and false in YAML's words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
