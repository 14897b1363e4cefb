"""Guards, prerequisites and `--where`: Jinja expression syntax, evaluated by our own closures.

An expression is parsed with Jinja2's parser, then compiled into Python closures over a small,
safe subset: names of known roots, attribute and item lookups on records (never on Python
objects, never `_private`), constants, comparisons, `and`/`or`/`not`, `in`, `x if c else y`,
the tests `defined`/`none`, the filters `length`/`lower`/`upper`/`first`/`date` and the moves of a
time by a duration `plus(D)`/`minus(D)` (`now | plus('P3Y') | date`). There are no calls,
so nothing reaches Python internals. Evaluation records every root attribute it reads (the
decision trace) and is three-valued: a root bound to UNKNOWN folds away at compile time when the
options alone decide the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from engine.definitions.closures import (
    FILTERS,
    MOVES,
    OPERATORS,
    TESTS,
    UNKNOWN,
    Closure,
    Reads,
    Scope,
    applied,
    attribute,
    collect,
    compare,
    conditional,
    index,
    logic,
    negate,
    shifted,
)

ROOTS = ("user", "card", "options", "batch", "actor", "bureau")


_ENV = SandboxedEnvironment()
#: The bounds of an expression: longer or deeper ones are refused (E301) before they are parsed,
#: so neither Jinja's recursive parser nor our closures can run out of stack.
MAX_LENGTH, MAX_DEPTH = 2000, 32


class ExpressionError(Exception):
    """An expression that does not parse or uses a construct outside the subset."""

    def __init__(self, code: str, **fields: Any) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields


@dataclass(frozen=True)
class Compiled:
    """A parsed expression: its source, the names it reads, and the closure evaluating it."""

    source: str
    roots: frozenset[str]
    attributes: frozenset[tuple[str, str]]
    constants: frozenset[Any]
    closure: Closure = field(repr=False, compare=False)

    def evaluate(self, scope: Scope) -> tuple[Any, Reads]:
        """The value of the expression in `scope` and the root attributes it read, in order."""
        reads: Reads = []
        return self.closure(scope, reads), reads

    def truth(self, scope: Scope) -> tuple[bool | Any, Reads]:
        """Like `evaluate`, as a boolean, or UNKNOWN when it depends on an unknown root."""
        value, reads = self.evaluate(scope)
        return (value if value is UNKNOWN else bool(value)), reads


@lru_cache(maxsize=4096)
def parse(source: str) -> Compiled:
    """Parse and compile `source`; raise ExpressionError (E301 syntax or too big, E304 construct)."""
    tree = syntax_tree(source)
    roots: set[str] = set()
    attributes: set[tuple[str, str]] = set()
    try:
        closure = _compile(tree, roots, attributes)
    except RecursionError:
        raise ExpressionError("E301", detail=f"nested more than {MAX_DEPTH} levels deep") from None
    constants = {node.value for node in tree.find_all(nodes.Const) if isinstance(node.value, (str, int, bool))}
    return Compiled(source, frozenset(roots), frozenset(attributes), frozenset(constants), closure)


def syntax_tree(source: str) -> nodes.Expr:
    """The syntax tree of an expression, for `parse` and for checks that read its shape; ExpressionError
    (E301) when it does not parse, or is too long or too deep to (`_check_bounds`)."""
    _check_bounds(source)
    try:
        parser = Parser(_ENV, source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
    except TemplateSyntaxError as error:
        raise ExpressionError("E301", detail=error.message or "syntax error") from None
    except (RecursionError, ValueError, OverflowError) as error:  # a number past int's digit limit, a parser too deep
        raise ExpressionError("E301", detail=f"{type(error).__name__}: {str(error).splitlines()[0][:80]}") from None
    return tree


#: The tests that allow for a record without the attribute they test.
ABSENCE_TESTS = frozenset({"defined", "undefined", "none"})


@lru_cache(maxsize=4096)
def absence_tested(source: str) -> frozenset[tuple[str, str]]:
    """The root attributes a valid expression tests with `is defined` or `is none`: it allows for
    records without them (`user.locale is defined and ...`)."""
    tree = Parser(_ENV, source, state="variable").parse_expression()
    tested = (test.node for test in tree.find_all(nodes.Test) if test.name in ABSENCE_TESTS)
    return frozenset(
        (node.node.name, node.attr) for node in tested if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name)
    )


def _check_bounds(source: str) -> None:
    """Refuse an expression over MAX_LENGTH characters or with brackets (or `not`s) over MAX_DEPTH deep."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError("E301", detail=f"{len(source)} characters; the limit is {MAX_LENGTH}")
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH or source.count("not ") > MAX_DEPTH or source.count(" if ") > MAX_DEPTH:
        raise ExpressionError("E301", detail=f"nested more than {MAX_DEPTH} levels deep")


def specialize(source: str, known: Mapping[str, Mapping[str, Any]]) -> Compiled:
    """`source` compiled for a scope whose `known` roots are fixed (a batch's options, its actor):
    their attributes become constants and the `and`/`or`/`not` they decide fold away. Only the
    truth of the result is kept: the closure returns True, False or UNKNOWN, as `truth` of the
    unspecialized expression would (reads of the known roots are not recorded). Prerequisites,
    checked once per user, are compiled this way."""
    compiled = parse(source)
    tree = Parser(_ENV, source, state="variable").parse_expression()
    folded = _boolean(_fold(tree, known))
    roots: set[str] = set()
    attributes: set[tuple[str, str]] = set()
    closure = _compile(folded, roots, attributes)
    return Compiled(source, frozenset(roots), frozenset(attributes), compiled.constants, closure)


_PLAIN = (bool, int, float, str, type(None))


def _fold(node: Any, known: Mapping[str, Mapping[str, Any]]) -> Any:
    """The tree with known attributes as constants and the logic they decide folded."""
    if isinstance(node, (nodes.Getattr, nodes.Getitem)) and isinstance(node.node, nodes.Name) and node.node.name in known:
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        value = known[node.node.name].get(attr) if isinstance(attr, str) and not attr.startswith("_") else UNKNOWN
        return nodes.Const(value) if isinstance(value, _PLAIN) else node
    for name in node.fields:
        child = getattr(node, name)
        if isinstance(child, nodes.Node):
            setattr(node, name, _fold(child, known))
        elif isinstance(child, list):
            setattr(node, name, [_fold(item, known) if isinstance(item, nodes.Node) else item for item in child])
    if isinstance(node, nodes.Not) and isinstance(node.node, nodes.Const):
        return nodes.Const(not node.node.value)
    if isinstance(node, (nodes.And, nodes.Or)):
        stop = isinstance(node, nodes.Or)
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(side, nodes.Const):
                return nodes.Const(stop) if bool(side.value) is stop else _boolean(other)
    return node


def _boolean(node: Any) -> Any:
    """`node`, made to give True, False or UNKNOWN like `and`/`or` do (its truth, not its value)."""
    if isinstance(node, nodes.Const):
        return nodes.Const(bool(node.value))
    if isinstance(node, (nodes.Compare, nodes.Not, nodes.And, nodes.Or)):
        return node
    return nodes.Not(nodes.Not(node))


def _compile(node: nodes.Node, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    builder = _BUILDERS.get(type(node))
    if builder is None:
        raise ExpressionError("E304", construct=_construct_name(node))

    def sub(child: nodes.Node) -> Closure:
        return _compile(child, roots, attributes)

    return builder(node, sub, roots, attributes)


Sub = Callable[[nodes.Node], Closure]


def _const(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    value = node.value
    return lambda scope, reads: value


def _sequence(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    items = [sub(item) for item in node.items]
    return lambda scope, reads: collect([item(scope, reads) for item in items])


def _name(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    roots.add(node.name)
    name = node.name
    return lambda scope, reads: scope.get(name, UNKNOWN)


def _getattr(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    return _lookup(node.node, node.attr, sub, roots, attributes)


def _getitem(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return _lookup(node.node, node.arg.value, sub, roots, attributes)
    return index(sub(node.node), sub(node.arg))


def _and_or(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    return logic(isinstance(node, nodes.And), sub(node.left), sub(node.right))


def _negation(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    return negate(sub(node.node))


def _comparison(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    for operand in node.ops:
        if operand.op not in OPERATORS:
            raise ExpressionError("E304", construct=f"the operator '{operand.op}'")
    return compare(sub(node.expr), [(op.op, sub(op.expr)) for op in node.ops])


def _condexpr(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    if node.expr2 is None:
        raise ExpressionError("E304", construct="'x if c' without 'else'")
    return conditional(sub(node.test), sub(node.expr1), sub(node.expr2))


def _test_or_filter(node: Any, sub: Sub, roots: set[str], attributes: set[tuple[str, str]]) -> Closure:
    if isinstance(node, nodes.Filter) and node.name in MOVES and len(node.args) == 1 and not node.kwargs and node.node:
        _check_duration(node.args[0])
        return applied(MOVES[node.name], sub(node.node), sub(node.args[0]))
    table = TESTS if isinstance(node, nodes.Test) else FILTERS
    if node.name not in table or node.args or node.kwargs or node.node is None:
        raise ExpressionError("E304", construct=_construct_name(node))
    return applied(table[node.name], sub(node.node))


def _check_duration(argument: nodes.Node) -> None:
    """Refuse a written duration that is none (`plus('P3X')`); one read from a root is checked where it is set."""
    if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
        try:
            shifted("2000-01-01", argument.value, 1)
        except ValueError:
            detail = f"'{argument.value}' is not an ISO 8601 duration (as P3Y, P60D, PT12H)"
            raise ExpressionError("E301", detail=detail) from None


def _construct_name(node: nodes.Node) -> str:
    if isinstance(node, (nodes.Filter, nodes.Test)):
        kind = "filter" if isinstance(node, nodes.Filter) else "test"
        return f"the {kind} '{node.name}'" + (" with arguments" if node.args else "")
    names = {"Call": "a function call", "Concat": "string concatenation (~)"}
    return names.get(type(node).__name__, f"'{type(node).__name__}'")


def _lookup(
    base_node: nodes.Node, attr: str, sub: Callable[[nodes.Node], Closure], roots: set[str], attributes: set[tuple[str, str]]
) -> Closure:
    if attr.startswith("_"):
        raise ExpressionError("E304", construct=f"the private attribute '{attr}'")
    base = sub(base_node)
    if isinstance(base_node, nodes.Name):
        name = base_node.name
        attributes.add((name, attr))
        dotted = f"{name}.{attr}"

        def read_root(scope: Scope, reads: Reads) -> Any:
            record = scope.get(name, UNKNOWN)
            value = record.get(attr) if type(record) is dict else attribute(record, attr)
            reads.append((dotted, value))
            return value

        return read_root
    return lambda scope, reads: attribute(base(scope, reads), attr)


def reads_only_attributes(source: str, root: str) -> bool:
    """Whether `source` uses `root` only as `root.name` or `root['name']` (never the whole record),
    so that its value is decided by the values of the attributes it names."""
    tree = Parser(_ENV, source, state="variable").parse_expression()
    lookups: Any = tree.find_all((nodes.Getattr, nodes.Getitem))
    named = {
        id(node.node)
        for node in lookups
        if isinstance(node.node, nodes.Name) and (isinstance(node, nodes.Getattr) or isinstance(node.arg, nodes.Const))
    }
    return all(id(name) in named for name in tree.find_all(nodes.Name) if name.name == root)


def residual(source: str, scope: Scope) -> str | None:
    """The conjuncts of `source` still undecided in `scope` (None when the options decide it all).

    Only a top-level `a and b and c` chain is split; anything else is returned whole when undecided.
    """
    parts = _split_and(source)
    undecided = [part for part in parts if _undecided(part, scope)] if len(parts) > 1 else parts
    if len(parts) == 1 and not _undecided(source, scope):
        return None
    return " and ".join(undecided) if undecided else None


def _undecided(part: str, scope: Scope) -> bool:
    try:
        return parse(part).truth(scope)[0] is UNKNOWN
    except ExpressionError:
        return True


def _split_and(source: str) -> list[str]:
    parts = top_level(source, "and")
    if " or " in source and len(parts) > 1:
        return [source]
    return parts


def top_level(source: str, operator: str) -> list[str]:
    """The operands `source` joins with `operator` (`and`, `or`) outside parentheses and quotes;
    [source] when it joins none that way."""
    parts, depth, quote, start, i, word = [], 0, "", 0, 0, f" {operator} "
    while i < len(source):
        char = source[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and source.startswith(word, i):
            parts.append(source[start:i].strip())
            start = i = i + len(word)
            continue
        i += 1
    parts.append(source[start:].strip())
    return parts if depth == 0 else [source]


_BUILDERS: dict[type, Callable[[Any, Sub, set[str], set[tuple[str, str]]], Closure]] = {
    nodes.Const: _const,
    nodes.List: _sequence,
    nodes.Tuple: _sequence,
    nodes.Name: _name,
    nodes.Getattr: _getattr,
    nodes.Getitem: _getitem,
    nodes.And: _and_or,
    nodes.Or: _and_or,
    nodes.Not: _negation,
    nodes.Compare: _comparison,
    nodes.CondExpr: _condexpr,
    nodes.Test: _test_or_filter,
    nodes.Filter: _test_or_filter,
}
