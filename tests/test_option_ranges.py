"""An option variable may declare the least and the most its number (or each number of its list) may
be (`min`, `max`): a `value:` outside is E405 at its line (tests/cases/options_value_out_of_range.yaml),
a `--set` outside is a one-line error, and `min`/`max` where they mean nothing are E404."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run

REQUEST = "CardsBoProcRequestMulitple"
USERS = "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\nu1,Alice,alice@example.com,active,\n"


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("CardsEmailBeforeExpiringDays=[90, 30]", "--set CardsEmailBeforeExpiringDays: [90, 30] is not within 0 to 60"),
        ("CardsApprovalReminderDays=-1", "--set CardsApprovalReminderDays: -1 is not at least 0"),
    ],
)
def test_a_set_outside_the_range_is_refused(run: Run, setting: str, said: str) -> None:
    Path("users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    refused = run("plan", REQUEST, "--user", "u1", "--set", setting)
    assert refused.exit_code == 2 and said in refused.stderr


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("    min: 0\n    max: 60\n", None),
        ("    min: 61\n    max: 60\n", "E404 CardsEmailBeforeExpiringDays: 'max' is less than 'min'"),
    ],
)
def test_validate_checks_the_range_itself(run: Run, workspace: Path, declared: str, expected: str | None) -> None:
    script = workspace / "rules" / "CardsScriptExpiringOptions.yaml"
    text = script.read_text(encoding="utf-8")
    assert "    min: 0\n    max: 60\n" in text
    script.write_text(text.replace("    min: 0\n    max: 60\n", declared), encoding="utf-8")
    checked = run("validate", "--workspace", str(workspace))
    if expected is None:
        assert checked.exit_code == 0, checked.output
    else:
        assert checked.exit_code == 1 and expected in checked.output


def test_a_range_on_a_bool_is_e404(cli: Run, workspace: Path) -> None:
    script = workspace / "rules" / "CardsScriptExpiringOptions.yaml"
    text = script.read_text(encoding="utf-8")
    script.write_text(text.replace("    type: bool\n", "    type: bool\n    max: 3\n", 1), encoding="utf-8")
    checked = cli("validate", "--workspace", str(workspace))
    assert (
        checked.exit_code == 1
        and "E404 CardsEmailBeforeExpiringEachDay: 'max' is only for an int or a list of int" in checked.output
    )
