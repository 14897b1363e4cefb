"""Prerequisites remembered per values read decide every user as checking each rule would."""

from __future__ import annotations

import itertools

from conftest import ROOT

from engine.batch.prerequisites import Prerequisites
from engine.definitions.expressions import specialize
from engine.definitions.options import effective_options
from engine.definitions.workspace import load_workspace

OPTIONS = [{}, {"CardsAddonExtProdMultipleCards": True}]
USERS = [
    {"id": f"u{n}", "state": state, "open_cards": open_cards, "department": department}
    for n, (state, open_cards, department) in enumerate(
        itertools.product(["active", "inactive", None], [0, 1, 2, True, False], ["Sales", 1, True])
    )
]


def _by_rule(rules: list[tuple[object, str]], user: dict[str, object]) -> str | None:
    for rule, message in rules:
        if rule.closure({"user": user}, []) is not True:  # type: ignore[attr-defined]
            return message
    return None


def test_remembered_prerequisites_decide_as_every_rule_would() -> None:
    """For every batch process under some options, each user (twice over) gets the message the
    rules checked one by one give, and the shipped rules are remembered by the values they read."""
    workspace = load_workspace(ROOT)
    for process in workspace.processes.values():
        if process.kind != "batch":
            continue
        for overrides in OPTIONS:
            options = effective_options(workspace.scripts, overrides).for_scripts(process.options).as_dict()
            rules = [(specialize(p.rule.text, {"options": options, "actor": {}}), p.message) for p in process.prerequisites]
            checks = Prerequisites(rules)
            assert checks.attributes is not None
            for user in USERS + USERS:
                assert checks.first_failed(user, {}, []) == _by_rule(rules, user), (process.symbolic_name, overrides, user)
            assert 0 < len(checks.decided) <= len(USERS)


def test_a_rule_reading_the_whole_user_is_checked_for_every_user() -> None:
    """A rule that reads the user record itself (not only named attributes) is never remembered."""
    rules = [(specialize("user.state == 'active' and user is defined", {}), "m"), (specialize("user['state'] != 'x'", {}), "n")]
    checks = Prerequisites(rules)
    assert checks.attributes is None
    assert checks.first_failed({"state": "inactive"}, {}, []) == "m"
    assert not checks.decided
    assert Prerequisites(rules[1:]).attributes == ("state",)
