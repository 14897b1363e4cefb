"""The guard language: what it evaluates, what it records, what it refuses."""

from __future__ import annotations

import pytest

from engine.definitions.closures import UNKNOWN
from engine.definitions.compared import compared_values
from engine.definitions.expressions import ExpressionError, parse, residual, specialize


def test_reads_are_recorded_in_order() -> None:
    """Evaluation returns the value and every root attribute read, with its value."""
    value, reads = parse("user.state == 'active' and options.Q").evaluate({"user": {"state": "active"}, "options": {"Q": True}})
    assert value is True
    assert reads == [("user.state", "active"), ("options.Q", True)]


def test_short_circuit_reads_only_what_decides() -> None:
    """`and` stops at the first false operand, so later attributes are not read."""
    _, reads = parse("options.A and bureau.accepted").evaluate({"options": {"A": False}})
    assert reads == [("options.A", False)]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("options.A and bureau.accepted", UNKNOWN),
        ("not options.A and bureau.accepted", False),
        ("options.A or bureau.accepted", True),
        ("not bureau.accepted", UNKNOWN),
        ("options.A if bureau.accepted else options.A", UNKNOWN),
    ],
)
def test_three_valued_folding(source: str, expected: object) -> None:
    """With only options known, the result is decided or UNKNOWN (Kleene logic)."""
    assert parse(source).truth({"options": {"A": True}})[0] is expected


@pytest.mark.parametrize(
    "source, scope, expected",
    [
        ("user.department|lower == 'sales'", {"user": {"department": "Sales"}}, True),
        ("user.roles|length > 1", {"user": {"roles": ["a", "b"]}}, True),
        ("'approver' in user.roles", {"user": {"roles": ["approver"]}}, True),
        ("user.missing is none", {"user": {}}, True),
        ("user.missing == 'x'", {"user": {}}, False),
        ("user.age >= 18", {"user": {"age": "old"}}, False),
        ("user['state'] != 'active'", {"user": {"state": "inactive"}}, True),
        ("user.tags[0] == 'a'", {"user": {"tags": ["a"]}}, True),
        ("1 < user.n < 3", {"user": {"n": 2}}, True),
    ],
)
def test_evaluation(source: str, scope: dict[str, object], expected: object) -> None:
    """Comparisons, membership, filters, tests and lookups evaluate as written."""
    assert parse(source).truth(scope)[0] is expected


@pytest.mark.parametrize(
    "source, code",
    [
        ("user.state ==", "E301"),
        ("user.state }} {{ 1", "E301"),
        ("''.__class__", "E304"),
        ("user.__class__.__mro__", "E304"),
        ("user['_secret']", "E304"),
        ("range(10)", "E304"),
        ("user.name ~ 'x'", "E304"),
        ("user.name|attr('x')", "E304"),
        ("1 + 1", "E304"),
        ("now|plus('P3X')", "E301"),
        ("now|plus('P1D', 'P2D')", "E304"),
        ("now|plus", "E304"),
    ],
)
def test_refused_constructs(source: str, code: str) -> None:
    """Syntax errors and anything that could reach Python internals are refused at parse time."""
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert caught.value.code == code


NOW = "2026-12-02T18:30:00Z"


@pytest.mark.parametrize(
    "source, scope, expected",
    [
        ("now|plus(options.Validity)", {"options": {"Validity": "P3Y"}}, "2029-12-02T18:30:00Z"),
        ("now|plus(options.Validity)|date", {"options": {"Validity": "P3Y"}}, "2029-12-02"),
        ("card.valid_until|minus('P60D')", {"card": {"valid_until": "2027-03-01"}}, "2026-12-31"),
        ("card.valid_until|minus(7)", {"card": {"valid_until": "2027-03-01"}}, "2027-02-22"),
        ("now|minus('PT12H')", {}, "2026-12-02T06:30:00Z"),
        ("card.valid_until|minus('P7D')", {"card": {}}, None),  # no date: nothing to move
        ("now|plus(options.Validity)", {"options": {"Validity": "three years"}}, None),
        ("now|plus(options.Validity)", {"options": {"Validity": True}}, None),
        ("user.name|date", {"user": {"name": "Alice"}}, None),
    ],
)
def test_times_move_by_durations(source: str, scope: dict[str, object], expected: object) -> None:
    """`plus`/`minus` move a date (a date stays a date) or a time by an ISO 8601 duration or whole
    days; `date` keeps a time's date; what is not a time or a duration gives nothing, never an error."""
    assert parse(source).evaluate({"now": NOW, **scope})[0] == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("options.Days | min", 7),
        ("options.Days | max", 60),
        ("options.Days | min | countdown", [6, 5, 4, 3, 2, 1]),
        ("1 | countdown", []),
        ("5000 | countdown", None),  # past the limit: nothing, never a list of millions
        ("'seven' | countdown", None),
        ("options.Days | min | countdown if options.Daily else []", []),
    ],
)
def test_lists_of_days_for_reminders(source: str, expected: object) -> None:
    """`min`/`max` of a list and `countdown` (the whole numbers below, down to 1) give a timer's days before a date."""
    assert parse(source).evaluate({"options": {"Days": [60, 30, 14, 7], "Daily": False}})[0] == expected


def test_moved_times_compare_with_now() -> None:
    """A reminder's condition: the validity, moved back 7 days, has passed."""
    expression = parse("card.valid_until|minus('P7D') <= now")
    assert expression.truth({"now": NOW, "card": {"valid_until": "2026-12-09"}})[0] is True
    assert expression.truth({"now": NOW, "card": {"valid_until": "2026-12-10"}})[0] is False


def test_attribute_on_a_plain_value_gives_none() -> None:
    """Attribute lookup works on records only; on a string it yields nothing, never a Python attribute."""
    assert parse("user.name.upper").evaluate({"user": {"name": "x"}})[0] is None


def test_roots_and_attributes_are_known_after_parsing() -> None:
    """The names an expression reads are known without evaluating it (for the checks)."""
    expression = parse("options.A and user.state == 'active' and card.state in ['x']")
    assert expression.roots == {"options", "user", "card"}
    assert expression.attributes == {("options", "A"), ("user", "state"), ("card", "state")}


def test_residual_keeps_only_undecided_conjuncts() -> None:
    """The runtime part of a guard is what remains after the options decide theirs."""
    assert residual("not options.A and options.B and bureau.accepted", {"options": {"A": False, "B": True}}) == "bureau.accepted"
    assert residual("options.B", {"options": {"B": True}}) is None


SPECIALIZED = [
    "user.state == 'active'",
    "options.M or user.open_cards == 0",
    "user.open_cards == 0 or options.M",
    "options.M and user.department",
    "not options.M and user.department == 'Sales'",
    "(options.M and user.open_cards) == 1",
    "user.department if options.M else options.N",
    "options.N in ['a', 'b'] and user.state != 'gone'",
    "actor.id == user.manager or not options.M",
    "options.M",
    "not options.M",
    "bureau.accepted and options.M",
]
USERS = [
    {"state": "active", "open_cards": 0, "department": "Sales", "manager": "op"},
    {"state": "gone", "open_cards": 2, "department": "", "manager": "x"},
    {"state": "active", "open_cards": 1},
]


@pytest.mark.parametrize("source", SPECIALIZED)
def test_specialized_expressions_keep_their_truth(source: str) -> None:
    """With the options and the actor fixed, the specialized closure gives exactly the truth of the
    expression (True, False or UNKNOWN) for every user, option value and bureau state."""
    for m in (True, False, None):
        for n in ("a", "c"):
            known = {"options": {"M": m, "N": n}, "actor": {"id": "op"}}
            specialized = specialize(source, known)
            for user in USERS:
                for bureau in ({"accepted": True}, {"accepted": False}, UNKNOWN):
                    scope = {**known, "user": user, "bureau": bureau}
                    assert specialized.closure({"user": user, "bureau": bureau}, []) is parse(source).truth(scope)[0], (
                        m,
                        n,
                        user,
                        bureau,
                    )


def test_specialized_expressions_read_only_what_is_left() -> None:
    """What the options decide is gone from the specialized expression: it reads only the rest."""
    assert specialize("options.M or user.open_cards == 0", {"options": {"M": True}}).attributes == frozenset()
    kept = specialize("options.M or user.open_cards == 0", {"options": {"M": False}})
    assert kept.attributes == {("user", "open_cards")}
    reads: list[tuple[str, object]] = []
    assert kept.closure({"user": {"open_cards": 0}}, reads) is True
    assert reads == [("user.open_cards", 0)]


@pytest.mark.parametrize(
    "source, compared",
    [
        ("card.state == 'active'", [("state", "active")]),
        ("'active' != card.state", [("state", "active")]),
        ("card.state in ['issued', 'produced']", [("state", "issued"), ("state", "produced")]),
        ("not (card.state not in ('a',)) and user.state == 'active'", [("state", "a")]),
        ("card.pin_channel == 'email' or card.puk_channel == options.Channel", [("pin_channel", "email")]),
        ("card.state in options.States or card.id > 3", []),
    ],
)
def test_the_values_a_card_field_is_compared_with_are_found(source: str, compared: list[tuple[str, object]]) -> None:
    """What E305 checks: the literals a `card` field is compared with, whichever side and however nested."""
    assert compared_values(source) == compared


def test_an_expression_too_deep_to_read_is_e301_for_the_checks_that_read_its_shape_too() -> None:
    """The checks that walk an expression's tree (E305) refuse one too deep as `parse` does, never a RecursionError."""
    deep = "(" * 140 + "card.state == 'x'" + ")" * 140
    for read in (parse, compared_values):
        with pytest.raises(ExpressionError) as raised:
            read(deep)
        assert raised.value.code == "E301"
