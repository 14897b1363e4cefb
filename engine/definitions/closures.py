"""The closures expressions compile to: three-valued (true, false, UNKNOWN) and recording every read.

`engine.definitions.expressions` builds these from a parsed expression; each takes the scope (the
roots: user, card, options, ...) and a list it appends the root attributes read to, for the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from engine.clock import moment, stamp


class _Unknown:
    """A value not known yet (a runtime root while folding at compile time)."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value")


UNKNOWN: Any = _Unknown()

Reads = list[tuple[str, Any]]
Scope = Mapping[str, Any]
Closure = Callable[[Scope, Reads], Any]


def attribute(record: Any, attr: str) -> Any:
    if type(record) is dict:  # the common case, without the cost of an ABC check
        return record.get(attr)
    if record is UNKNOWN:
        return UNKNOWN
    if isinstance(record, Mapping):
        return record.get(attr)
    return None


def index(base: Closure, index: Closure) -> Closure:
    def lookup(scope: Scope, reads: Reads) -> Any:
        container, key = base(scope, reads), index(scope, reads)
        if container is UNKNOWN or key is UNKNOWN:
            return UNKNOWN
        if isinstance(container, (list, tuple)) and isinstance(key, int) and -len(container) <= key < len(container):
            return container[key]
        return container.get(key) if isinstance(container, Mapping) else None

    return lookup


def collect(values: list[Any]) -> Any:
    return UNKNOWN if any(value is UNKNOWN for value in values) else values


def truth(value: Any) -> Any:
    return value if value is UNKNOWN else bool(value)


def logic(is_and: bool, left: Closure, right: Closure) -> Closure:
    """Kleene's three-valued and/or, short-circuiting like Python."""
    stop = not is_and

    def combine(scope: Scope, reads: Reads) -> Any:
        first = truth(left(scope, reads))
        if first is stop:
            return stop
        second = truth(right(scope, reads))
        if second is stop:
            return stop
        return UNKNOWN if first is UNKNOWN or second is UNKNOWN else not stop

    return combine


def negate(operand: Closure) -> Closure:
    def apply(scope: Scope, reads: Reads) -> Any:
        value = truth(operand(scope, reads))
        return value if value is UNKNOWN else not value

    return apply


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "ne": lambda a, b: bool(a != b),
    "lt": lambda a, b: bool(a < b),
    "lteq": lambda a, b: bool(a <= b),
    "gt": lambda a, b: bool(a > b),
    "gteq": lambda a, b: bool(a >= b),
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def compare(first: Closure, rest: list[tuple[str, Closure]]) -> Closure:
    """A chain `a < b < c` of operators from OPERATORS (the caller checks they are)."""
    if len(rest) == 1:  # the common case, without the loop
        return compare_one(first, *rest[0])

    def compare(scope: Scope, reads: Reads) -> Any:
        left = first(scope, reads)
        for op, operand in rest:
            right = operand(scope, reads)
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            try:
                if not OPERATORS[op](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True

    return compare


def compare_one(first: Closure, op: str, operand: Closure) -> Closure:
    function = OPERATORS[op]

    def compare_one(scope: Scope, reads: Reads) -> Any:
        left, right = first(scope, reads), operand(scope, reads)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            return function(left, right)
        except TypeError:
            return False

    return compare_one


def conditional(test: Closure, yes: Closure, no: Closure) -> Closure:
    def choose(scope: Scope, reads: Reads) -> Any:
        condition = truth(test(scope, reads))
        if condition is UNKNOWN:
            return UNKNOWN
        return yes(scope, reads) if condition else no(scope, reads)

    return choose


def applied(function: Callable[..., Any], *operands: Closure) -> Closure:
    """A filter (or a move of a time) over its operands: UNKNOWN if one is, None where it does not apply
    (`first` of a mapping, `date` of a name, a duration that is none, a time past year 9999)."""

    def apply(scope: Scope, reads: Reads) -> Any:
        values = [operand(scope, reads) for operand in operands]
        if any(value is UNKNOWN for value in values):
            return UNKNOWN
        try:
            return function(*values)
        except (TypeError, AttributeError, IndexError, KeyError, ValueError, OverflowError):
            return None

    return apply


TESTS: dict[str, Callable[[Any], Any]] = {
    "defined": lambda value: value is not None,
    "undefined": lambda value: value is None,
    "none": lambda value: value is None,
}
FILTERS: dict[str, Callable[[Any], Any]] = {
    "length": len,
    "lower": lambda value: value.lower(),
    "upper": lambda value: value.upper(),
    "first": lambda value: value[0],
    "date": lambda value: moment(value).date().isoformat(),
    "min": lambda values: min(values),
    "max": lambda values: max(values),
    "countdown": lambda value: countdown(value),
}
#: The longest list `countdown` makes (a reminder a day for at most this many days).
COUNTDOWN_LIMIT = 1000


def countdown(value: int) -> list[int]:
    """The whole numbers below `value` down to 1 (`7 | countdown`: 6, 5, .. 1); ValueError past the limit."""
    if isinstance(value, bool) or not isinstance(value, int) or value > COUNTDOWN_LIMIT:
        raise ValueError(f"{value!r} is no whole number up to {COUNTDOWN_LIMIT}")
    return list(range(value - 1, 0, -1))


def shifted(at: str, duration: str | int, sign: int) -> str:
    """The ISO 8601 date or time `at` moved by `duration` (ISO 8601, or a whole number of days) forwards
    (`sign` 1) or back (-1): a date stays a date. ValueError when either is not what it should be."""
    import isodate  # imported when an expression moves a time, not when one is parsed

    if isinstance(duration, bool) or not isinstance(duration, (str, int)):
        raise ValueError(f"{duration!r} is not a duration")
    step = timedelta(days=duration) if isinstance(duration, int) else isodate.parse_duration(duration)
    when = moment(at) + step if sign > 0 else moment(at) - step
    return when.date().isoformat() if len(at) == len("2026-12-02") else stamp(when)


#: The filters with one argument: `now | plus('P3Y')`, `card.valid_until | minus(options.Days)`.
MOVES: dict[str, Callable[[Any, Any], Any]] = {
    "plus": lambda at, duration: shifted(at, duration, 1),
    "minus": lambda at, duration: shifted(at, duration, -1),
}
