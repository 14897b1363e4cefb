"""No quiet answers (issue 19): a guard, prerequisite or template reading a user attribute no user
has refuses the run with a "did you mean" (exit 2), `validate --db` warns of it, and a trigger
whose guards all fail on a card is a refusal with the reason, never `done` to nowhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

from engine.batch.actions import act
from engine.definitions.workspace import load_workspace
from engine.errors import InputProblems, Refused
from engine.outbound.bureau import DropFolder
from engine.store import db

ORDER, ABORT, SYNC = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdProcAbort", "CardsAddonExtProdBatchSync"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
u1,Alice,alice@example.com,active,,Sales
f1,Fredrik,fredrik@example.com,active,,Support
"""
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")


@pytest.fixture
def cf(run: Run, workspace: Path) -> Run:
    """The CLI on a copy of the reference workspace (edited by each test) and a store with three users."""
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0

    def invoke(*args: str) -> Any:
        return run(*args, "--workspace", str(workspace))

    return invoke


def edit(workspace: Path, name: str, old: str, new: str) -> str:
    """Replace `old` (once) by `new` in the workspace file `name`; the location of `new` as FILE:LINE:COL."""
    path = workspace / name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} in {name}"
    text = text.replace(old, new)
    path.write_text(text)
    before = text[: text.index(new)]
    return f"{name}:{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def cards(cf: Run) -> list[dict[str, Any]]:
    result = cf("cards", "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_a_prerequisite_on_an_attribute_nobody_has_refuses_the_run(cf: Run, workspace: Path, stored: StoreUnderTest) -> None:
    """`user.stat == 'active'` refuses the run at its file:line:col with "did you mean 'state'?" (exit 2), writing nothing,
    instead of skipping every user as not active."""
    at = edit(workspace, f"processes/{ORDER}.yaml", "rule: user.state == 'active'", "rule: user.stat == 'active'")
    result = cf("run", ORDER, "--all", "--as", "op1")
    assert result.exit_code == 2
    col = int(at.rsplit(":", 1)[1]) + len("rule: ")
    where = f"{at.rsplit(':', 1)[0]}:{col}"
    expected = f"{where}: the batch prerequisite reads 'user.stat', which no user in the store has (did you mean 'state'?)"
    assert result.stderr.strip().splitlines() == [f"cardflow: {expected}"], result.stderr
    assert cards(cf) == [] and stored.scalar("SELECT count(*) FROM batches") == 0


def test_a_guard_on_an_attribute_nobody_has_refuses_the_run(cf: Run, workspace: Path) -> None:
    """A guard `user.departmnt != 'HR'` refuses the run naming it, with a "did you mean", instead of always holding."""
    guard = "guard: not options.CardsAddonExtProdBatchOrderApproval and options.CardsAddonExtProdQueue"
    edit(workspace, f"processes/{ORDER}.yaml", guard, f"{guard} and user.departmnt != 'HR'")
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "usage" and "the guard reads 'user.departmnt'" in error["message"]
    assert "(did you mean 'department'?)" in error["message"]
    assert cards(cf) == []


def test_a_template_reading_an_attribute_nobody_has_refuses_the_run(cf: Run, workspace: Path) -> None:
    """`{{ holder.departmnt }}` in an email the process sends refuses the run at the template's line; with
    `| default('')` it allows for users without it and the run goes ahead."""
    edit(workspace, "templates/email/card_ordered.text.txt", "Card services", "Card services, {{ holder.departmnt }}")
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF)
    assert result.exit_code == 2
    assert "templates/email/card_ordered.text.txt:14:1: the email template card_ordered reads 'holder.departmnt'" in result.stderr
    assert cards(cf) == []
    edit(workspace, "templates/email/card_ordered.text.txt", "{{ holder.departmnt }}", "{{ holder.departmnt | default('') }}")
    assert cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF).exit_code == 0


def test_attributes_some_user_has_or_allowed_missing_run(cf: Run, workspace: Path) -> None:
    """An attribute some user has, or one the expression tests with `is defined`, does not stop the run."""
    guard = "guard: not options.CardsAddonExtProdBatchOrderApproval and options.CardsAddonExtProdQueue"
    edit(
        workspace, f"processes/{ORDER}.yaml", guard, f"{guard} and user.department != 'HR' and (user.nick is not defined or true)"
    )
    result = cf("run", ORDER, "--all", "--as", "op1", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["user"] for r in json.loads(result.stdout)["results"] if r["status"] == "created") == ["f1", "op1", "u1"]


def test_an_action_reading_an_attribute_nobody_has_is_refused(cf: Run, workspace: Path) -> None:
    """An action whose prerequisite reads an attribute no user has refuses (exit 2) and leaves the card where it is."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0
    (card,) = cards(cf)
    prerequisite = "  - rule: card.state == 'processing'\n"
    edit(
        workspace,
        f"processes/{ABORT}.yaml",
        prerequisite,
        "  - rule: user.departmnt != 'HR'\n    message: Not HR.\n" + prerequisite,
    )
    result = cf("abort", str(card["id"]), "--as", "op1")
    assert result.exit_code == 2 and "the action prerequisite reads 'user.departmnt'" in result.stderr
    assert "(did you mean 'department'?)" in result.stderr
    assert [c["state"] for c in cards(cf)] == ["processing"]


def test_validate_with_a_store_warns_of_an_attribute_nobody_has(
    cf: Run, workspace: Path, stored: StoreUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`validate --db` gives a W240 warning at the expression (exit 0); without a store it cannot know and says nothing."""
    at = edit(workspace, f"processes/{ORDER}.yaml", "user.state == 'active'", "user.stat == 'active'")
    monkeypatch.delenv("CARDFLOW_DB", raising=False)
    assert "W240" not in cf("validate").stdout
    result = cf("validate", "--db", stored.location, "--json")
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)
    assert (warning["code"], warning["severity"], f"{warning['file']}:{warning['line']}:{warning['col']}") == (
        "W240",
        "warning",
        at,
    )
    assert warning["message"].endswith("(did you mean 'state'?)")


def test_a_trigger_whose_guards_all_fail_is_refused_with_the_reason(cf: Run, workspace: Path) -> None:
    """An action on a card where no transition of its trigger holds is refused (exit 1) saying which guard failed and on
    what values, and the card stays; it is never reported done with no destination."""
    assert cf("run", ORDER, "--user", "f1", "--as", "op1").exit_code == 0
    (card,) = cards(cf)
    edit(
        workspace,
        "lifecycles/CardOrder.yaml",
        "source: [requested, processing]\n    dest: aborted\n",
        "source: [requested, processing]\n    dest: aborted\n    guard: user.department != 'Support'\n",
    )
    result = cf("abort", str(card["id"]), "--as", "op1", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "refused"
    assert f"card {card['id']} (processing): no transition of 'abort' from 'processing' holds: #" in error["message"]
    assert "`user.department != 'Support'` is false (user.department = 'Support')" in error["message"]
    assert [c["state"] for c in cards(cf)] == ["processing"]


def test_a_sync_whose_guards_all_fail_skips_the_card_with_the_reason(cf: Run, workspace: Path) -> None:
    """The batch sync skips a card none of whose transitions holds, with the reason, instead of reporting it done."""
    assert cf("run", ORDER, "--user", "f1", "--user", "u1", "--as", "op1").exit_code == 0
    for dest, guard in (("ordered", "bureau.accepted"), ("failed", "not bureau.accepted")):
        old = f"trigger: order\n    source: processing\n    dest: {dest}\n    guard: {guard}\n"
        edit(workspace, "lifecycles/CardOrder.yaml", old, old.replace("guard: ", "guard: user.department != 'Support' and "))
    result = cf("queue", "run", "--json")
    assert result.exit_code == 0, result.output
    outcome = {r["card"]: (r["status"], r["to"]) for r in json.loads(result.stdout)}
    by_user = {c["user"]: c["id"] for c in cards(cf)}
    assert outcome == {by_user["u1"]: ("done", "ordered"), by_user["f1"]: ("skipped", None)}
    (skipped,) = [r for r in json.loads(result.stdout) if r["status"] == "skipped"]
    assert skipped["message"].startswith("no transition of 'order' from 'processing' holds: #")


def test_validate_with_a_store_that_is_not_one_yet_checks_the_workspace_alone(cf: Run, tmp_path: Path) -> None:
    """A `--db` naming no cardflow store (not made yet) leaves validate to the workspace, saying the users were not checked."""
    result = cf("validate", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 0, result.output
    assert "the users were not checked (W240)" in result.stderr


def test_a_template_reading_a_listed_holders_attribute_nobody_has_refuses_the_run(cf: Run, workspace: Path) -> None:
    """`{{ entry.holder.departmnt }}` in the approvers' email refuses the run; the loop's own `loop.index` is no user's."""
    edit(
        workspace,
        "templates/email/approval_requested.text.txt",
        "{% for entry in cards %}\n",
        "{% for entry in cards %}\n  {{ loop.index }} {{ entry.holder.departmnt }}\n",
    )
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", "--set", "CardsAddonExtProdBatchOrderApproval=true")
    assert result.exit_code == 2
    assert "templates/email/approval_requested.text.txt:6:1: the email template approval_requested reads" in result.stderr
    assert "'entry.holder.departmnt', which no user in the store has (did you mean 'department'?)" in result.stderr
    assert "loop.index" not in result.stderr and cards(cf) == []


def produced_card(run: Run, workspace: Path) -> int:
    """u1's card of the extended workspace, ordered straight at the bureau and reported produced."""
    assert run("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF, "--workspace", str(workspace)).exit_code == 0
    orders = Path.cwd() / "orders"
    (order,) = orders.glob("*.json")
    (orders / "status").mkdir()
    (orders / "status" / order.name).write_text('{"status": "produced"}')
    assert run("orders", "sync", "--workspace", str(workspace)).exit_code == 0
    (card,) = json.loads(run("cards", "--json").stdout)
    assert card["state"] == "produced"
    return int(card["id"])


def test_a_new_action_reading_an_attribute_nobody_has_is_refused(
    run: Run, extended_workspace: Path, stored: StoreUnderTest
) -> None:
    """An action process added in YAML alone (Activate card) whose prerequisite reads `user.departmnt` is refused
    before any card moves, as the shipped ones are; the attribute fixed, its new trigger moves the card."""
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    card = produced_card(run, extended_workspace)
    rule = "  - rule: card.state == 'produced'\n"
    edit(
        extended_workspace,
        "processes/TestProcActivateCard.yaml",
        rule,
        rule.replace("card.state", "user.departmnt != 'HR' and card.state"),
    )
    engine = db.connect(stored.location)
    try:
        with pytest.raises(InputProblems, match=r"reads 'user.departmnt', .* \(did you mean 'department'\?\)"):
            act(load_workspace(extended_workspace), engine, "activate", [card], "op1", DropFolder(Path.cwd() / "orders"))
        edit(extended_workspace, "processes/TestProcActivateCard.yaml", "user.departmnt", "user.department")
        (done,) = act(load_workspace(extended_workspace), engine, "activate", [card], "op1", DropFolder(Path.cwd() / "orders"))
        assert (done.status, done.dest) == ("done", "active")
    finally:
        engine.dispose()


def test_a_new_trigger_whose_guard_fails_is_refused_not_done(run: Run, extended_workspace: Path, stored: StoreUnderTest) -> None:
    """The extended workspace's new `activate`, given a guard that fails for the holder, is refused with the
    guard and the value it read; the card stays produced."""
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    card = produced_card(run, extended_workspace)
    move = "  - trigger: activate\n    source: produced\n    dest: active\n"
    edit(extended_workspace, f"processes/{ORDER}.yaml", move, move + "    guard: user.department == 'HR'\n")
    engine = db.connect(stored.location)
    try:
        with pytest.raises(
            Refused, match=r"no transition of 'activate' from 'produced' holds: .* is false \(user.department = 'Sales'\)"
        ):
            act(load_workspace(extended_workspace), engine, "activate", [card], "op1", DropFolder(Path.cwd() / "orders"))
    finally:
        engine.dispose()
    assert [c["state"] for c in json.loads(run("cards", "--json").stdout)] == ["produced"]
