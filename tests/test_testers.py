"""Testers' tools: scenarios and coverage (`test`), `plan`, and `diff` with causes."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Run, StoreUnderTest

Golden = Callable[[str, str], None]

SCENARIOS = ROOT / "tests" / "scenarios"
FIVE = ROOT / "tests" / "diff" / "five_users.scenario.yaml"
EMAILS = ROOT / "tests" / "diff" / "ordered_emails.scenario.yaml"
ORDER = "CardsAddonExtProdBoProcOrderMultiple"


def test_shipped_suite_passes_with_full_coverage(cli: Run, tmp_path: Path) -> None:
    """The shipped scenarios pass and cover every transition and both outcomes of every guard of both processes."""
    junit = tmp_path / "junit.xml"
    result = cli("test", str(SCENARIOS), "--min-coverage", "100", "--junit", str(junit), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 0 and report["passed"] == len(list(SCENARIOS.glob("*.scenario.yaml")))
    coverage = {entry["process"]: entry for entry in report["coverage"]}
    for process in (ORDER, "CardsBoProcRequestMulitple"):
        assert coverage[process]["percent"] == 100.0 and coverage[process]["missing"] == []
    assert coverage[ORDER]["option_values"]["CardsAddonExtProdQueue"] == ["false", "true"]
    cases = ElementTree.parse(junit).getroot().findall("testcase")
    scenarios = [case for case in cases if not case.get("classname", "").startswith("coverage.")]
    assert len(scenarios) == report["passed"] and not any(case.find("failure") is not None for case in cases)
    counted = {(case.get("classname"), case.get("name")) for case in cases} - {
        (c.get("classname"), c.get("name")) for c in scenarios
    }
    assert counted == {(f"coverage.{process}", criterion) for process in coverage for criterion in ("transitions", "guards")}


def flipped_bools() -> list[Any]:
    """Every bool option of the reference workspace: its script file, its name and the value that is not its default."""
    import yaml

    found = []
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        for name, variable in yaml.safe_load(path.read_text())["variables"].items():
            if variable["type"] == "bool":
                found.append(pytest.param(path.name, name, not variable["default"], id=f"{name}={not variable['default']}"))
    return found


def set_value(workspace: Path, script: str, name: str, value: bool) -> None:
    """Give option `name` of `script` in `workspace` a `value:` line under its default, as an administrator does."""
    path = workspace / "rules" / script
    text = path.read_text()
    block = text.index(f"  {name}:\n")
    default = text.index("    default: ", block)
    end = text.index("\n", default) + 1
    path.write_text(text[:end] + f"    value: {'true' if value else 'false'}\n" + text[end:])


@pytest.mark.parametrize("script, name, value", flipped_bools())
def test_shipped_scenarios_pass_on_a_site_that_changed_an_option(
    cli: Run, workspace: Path, script: str, name: str, value: bool
) -> None:
    """The shipped scenarios pin the options they assume: a site that turns any bool option the other way
    (the approval steps on, the queue off, ...) still sees every one of them pass."""
    set_value(workspace, script, name, value)
    assert cli("options", "--workspace", str(workspace), "--json").exit_code == 0
    result = cli("test", str(SCENARIOS), "--workspace", str(workspace), "--json")
    report = json.loads(result.stdout)
    failed = {s["scenario"]: s["failures"] for s in report["scenarios"] if not s["passed"]}
    assert (result.exit_code, failed, report["diagnostics"]) == (0, {}, [])


def test_broken_expectation_fails_at_its_line(cli: Run, tmp_path: Path) -> None:
    """A wrong expected state fails the scenario, reported at the expectation's file:line:col."""
    scenario = tmp_path / "broken.scenario.yaml"
    text = (SCENARIOS / "order_queue_off.scenario.yaml").read_text().replace("u2: [failed]", "u2: [ordered]")
    scenario.write_text(text)
    line = text.splitlines().index("    u2: [ordered]") + 1
    result = cli("test", str(scenario))
    assert result.exit_code == 1
    assert f"FAIL {scenario}" in result.stdout
    assert f"{scenario}:{line}:5: cards of u2: expected ['ordered'], got ['failed']" in result.stdout


def test_wrong_emails_and_unexpected_refusal_are_failures(cli: Run, tmp_path: Path) -> None:
    """Missing or extra emails, and a step refused when it should not be, fail at their lines."""
    scenario = tmp_path / "emails.scenario.yaml"
    text = (SCENARIOS / "order_queue_off.scenario.yaml").read_text()
    text = text.replace("to: alice@example.com", "to: cecilia@example.com").replace("    as: op1\n", "    as: u1\n")
    scenario.write_text(text)
    result = cli("test", str(scenario), "--json")
    (outcome,) = json.loads(result.stdout)["scenarios"]
    messages = [failure["message"] for failure in outcome["failures"]]
    assert result.exit_code == 1
    assert any(m.startswith("step 1 (run) failed: u1 does not have the operator role") for m in messages)
    assert any("emails differ: missing card_ordered to cecilia@example.com" in m for m in messages)


@pytest.mark.parametrize(
    "edit, code, line",
    [
        (("    users: [u1, u2]\n", "    users: [u1, ghost]\n"), "E601", 19),
        (
            (
                "  - run: CardsAddonExtProdBoProcOrderMultiple\n",
                "  - run: CardsAddonExtProdBoProcOrderMultiple\n    queue: run\n",
            ),
            "E602",
            17,
        ),
        (("    users: [u1, u2]\n", ""), "E603", 17),
        (("  CardsAddonExtProdQueue: false\n", "  CardsAddonExtProdQueu: false\n"), "E604", 12),
        (("    u1: [ordered]\n", "    u1: [ordred]\n"), "E605", 23),
        (("    - {template: card_ordered, to: alice", "    - {template: card_orderd, to: alice"), "E606", 26),
        (
            ("    - {template: card_ordered, to: alice@example.com", "    - {template: card_ordered, to: alice@exmple.com"),
            "E608",
            26,
        ),
        (("    u2: [failed]\n", "    u2: [failed]\n  fields:\n    u1: {pin_chanel: print}\n"), "E607", 26),
        (("  CardsAddonExtProdQueue: false\n", "  CardsAddonExtProdQueue: maybe\n"), "E401", 12),
        (("steps:\n", "stepz:\n"), "E101", 16),
        (("    as: op1\n", "    as: op1\n   as: x\n"), "E001", 19),
    ],
)
def test_malformed_scenarios_give_located_diagnostics(
    cli: Run, tmp_path: Path, edit: tuple[str, str], code: str, line: int
) -> None:
    """A malformed scenario is a diagnostic at file:line:col with a stable code, and the suite fails."""
    scenario = tmp_path / "bad.scenario.yaml"
    text = (SCENARIOS / "order_queue_off.scenario.yaml").read_text()
    assert edit[0] in text
    scenario.write_text(text.replace(edit[0], edit[1], 1))
    result = cli("test", str(scenario), "--json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)["diagnostics"]
    assert (code, line) in {(d["code"], d["line"]) for d in found}, found


def test_a_scenario_with_a_schema_error_is_named_in_the_last_lines(cli: Run, tmp_path: Path) -> None:
    """A scenario file with a schema error is not "0 scenarios: 0 passed, 0 failed": its diagnostic
    (file:line:col: CODE) ends the output above a count of the files not run, and the exit is 1."""
    scenario = tmp_path / "bad.scenario.yaml"
    text = (SCENARIOS / "order_queue_off.scenario.yaml").read_text().replace("u2: [failed]", "u2: failed")
    scenario.write_text(text)
    line = text.splitlines().index("    u2: failed") + 1
    result = cli("test", str(scenario))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{scenario}:{line}:9: E102 must be of type list, not string",
        "0 scenarios: 0 passed, 0 failed, 1 not run (errors above)",
    ]
    assert json.loads(cli("test", str(scenario), "--json").stdout)["not_run"] == 1


def test_a_folder_without_scenario_files_is_a_usage_error(cli: Run, tmp_path: Path) -> None:
    """A folder holding no *.scenario.yaml is exit 2 naming it, not an empty suite that passes."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "typo.scenario.yml").write_text((SCENARIOS / "order_queue_off.scenario.yaml").read_text())
    result = cli("test", str(tmp_path / "scenarios"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == f"cardflow: no scenario files (*.scenario.yaml) in {tmp_path / 'scenarios'}"


def test_min_coverage_fails_a_partial_suite(cli: Run) -> None:
    """One scenario alone covers less than 100%, so --min-coverage 100 fails and says which process."""
    result = cli("test", str(SCENARIOS / "order_queue_off.scenario.yaml"), "--min-coverage", "100")
    assert result.exit_code == 1
    assert f"coverage of {ORDER} is" in result.stdout and "never:" in result.stdout


def test_coverage_names_the_processes_no_scenario_ran_in_one_line(cli: Run) -> None:
    """One scenario of one process: its gaps listed one a line, each process it never ran in one line."""
    result = cli("test", str(SCENARIOS / "order_queue_off.scenario.yaml"))
    coverage = result.stdout.split("Coverage:\n", 1)[1].splitlines()
    request = coverage.index(next(line for line in coverage if line.startswith("  CardsBoProcRequestMulitple ")))
    assert coverage[request + 1].startswith("    no scenario ran it (") and "targets: --json lists them)" in coverage[request + 1]
    assert not coverage[request + 2].startswith("    never:")
    order = coverage.index(next(line for line in coverage if line.startswith(f"  {ORDER} ")))
    assert any(line.startswith("    never:") for line in coverage[order:request])


def test_missing_scenario_path(cli: Run) -> None:
    """A path that does not exist is a usage error."""
    assert cli("test", "no/such/folder").exit_code == 2


@pytest.fixture
def populated(run: Run, tmp_path: Path) -> Run:
    """A store with 200 active users and an operator, in the current folder."""
    rows = ["id,name,email,state,roles,department", "op1,Olle,op1@example.com,active,operator,IT"]
    rows += [
        f"u{i:03d},User {i},u{i}@example.com,{'inactive' if i % 10 == 0 else 'active'},,{'Sales' if i % 2 else 'Support'}"
        for i in range(200)
    ]
    (tmp_path / "cwd" / "users.csv").write_text("\n".join(rows) + "\n")
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def test_plan_writes_nothing_and_agrees_with_run(populated: Run, stored: StoreUnderTest) -> None:
    """plan leaves every row of the store as it was, and the following run does what it said."""
    args = [ORDER, "--where", "user.department == 'Sales'", "--set", "CardsAddonExtProdQueue=false"]
    assert populated("run", ORDER, "--user", "u001", "--as", "op1").exit_code == 0
    before = stored.snapshot()
    planned = json.loads(populated("plan", *args, "--json").stdout)
    assert stored.snapshot() == before
    assert not Path("orders").exists() or [p.name for p in Path("orders").glob("*.json")] == []
    done = json.loads(populated("run", *args, "--as", "op1", "--json").stdout)
    assert [(r["user"], r["state"], r["status"]) for r in planned["results"]] == [
        (r["user"], r["state"], r["status"]) for r in done["results"]
    ]
    assert planned["summary"] == {"ordered": 99, "skipped": 1}  # the 100 Sales users; u001 already has an open card
    ordered = next(r for r in planned["results"] if r["user"] == "u003")
    assert ordered["emails"] == [{"template": "card_ordered", "to": "u3@example.com"}] and ordered["orders"] == [
        {"accepted": True}
    ]


def test_diff_queue_off_changes_five_users(cli: Run) -> None:
    """Five users go from processing to ordered when the queue is off; the option and its source are named; exit 1."""
    result = cli("diff", str(FIVE), "--left", str(ROOT), "--set", "CardsAddonExtProdQueue=false")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == (
        "5 users: processing -> ordered (emails: card_ordered), because CardsAddonExtProdQueue true -> false (--set)"
    )
    report = json.loads(cli("diff", str(FIVE), "--left", str(ROOT), "--set", "CardsAddonExtProdQueue=false", "--json").stdout)
    assert (report["same"], report["changed"]) == (False, 5)
    user = report["users"][0]
    assert user["options"] == [{"name": "CardsAddonExtProdQueue", "left": True, "right": False, "where": "--set"}]
    flipped = {(g["transition"], g["left"], g["right"]) for g in user["guards"]}
    assert flipped == {(2, True, False), (3, False, True)}
    assert all(g["at"].startswith(f"processes/{ORDER}.yaml:") for g in user["guards"])


def test_diff_same_side_twice_is_the_same(cli: Run) -> None:
    """The same configuration on both sides gives no difference and exit 0."""
    result = cli("diff", str(FIVE), "--left", str(ROOT), "--right", str(ROOT))
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == "6 users compared, 0 changed"


def test_diff_two_workspaces_names_the_line_that_set_the_value(cli: Run, workspace: Path) -> None:
    """A right workspace whose option script sets `value:` is named by file and line."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = rules.read_text()
    block = text.index("  CardsAddonExtProdQueue:")
    text = text[:block] + text[block:].replace("    default: true\n", "    default: true\n    value: false\n", 1)
    rules.write_text(text)
    line = text.splitlines().index("    value: false") + 1
    result = cli("diff", str(FIVE), "--left", str(ROOT), "--right", str(workspace))
    assert result.exit_code == 1
    assert f"because CardsAddonExtProdQueue true -> false (rules/CardsAddonExtProdScriptOptions.yaml:{line})" in result.stdout


def test_diff_population_changes_nothing(populated: Run, stored: StoreUnderTest) -> None:
    """diff --population plans every user on both sides; every row of the store stays as it was."""
    before = stored.snapshot()
    result = populated("diff", "--population", ORDER, "--left", str(ROOT), "--set", "CardsAddonExtProdQueue=false", "--json")
    assert stored.snapshot() == before
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["compared"] == 201
    (group,) = report["groups"]
    assert (group["count"], group["left"], group["right"]) == (
        181,
        "processing",
        "ordered (emails: card_ordered)",
    )  # 180 active + op1
    same = populated("diff", "--population", ORDER, "--left", str(ROOT))
    assert same.exit_code == 0


def test_diff_needs_scenarios_or_population(cli: Run, tmp_path: Path) -> None:
    """diff without scenarios or --population, or with both, is a usage error."""
    assert cli("diff", "--left", str(ROOT)).exit_code == 2
    assert cli("diff", str(FIVE), "--population", ORDER, "--left", str(ROOT)).exit_code == 2
    shutil.copy(FIVE, tmp_path / "x.scenario.yaml")
    assert cli("diff", str(tmp_path), "--left", str(tmp_path)).exit_code == 2


def reword_emails(workspace: Path) -> Path:
    """Reword the "card ordered" email (its English subject, its Swedish text) and the approvers' email."""
    folder = workspace / "templates" / "email"
    edits = [
        ("card_ordered.subject.txt", "Your card has been ordered", "Your new card is on its way"),
        ("sv/card_ordered.text.txt", "Du behöver inte göra något nu.", "Du behöver inte göra något alls."),
        ("approval_requested.text.txt", "Regards,", "Kind regards,"),
    ]
    for name, old, new in edits:
        text = (folder / name).read_text(encoding="utf-8")
        assert old in text
        (folder / name).write_text(text.replace(old, new), encoding="utf-8")
    return workspace


def test_diff_shows_emails_rendered_differently_over_scenarios(cli: Run, workspace: Path, golden: Golden) -> None:
    """Reworded templates (en and sv) are a difference over scenarios, though no outcome changed: exit 1,
    counted per template and locale, each shown as a text diff of one sample email; golden text and JSON."""
    reword_emails(workspace)
    result = cli("diff", str(EMAILS), "--left", str(ROOT), "--right", str(workspace))
    assert result.exit_code == 1
    golden("diff_emails.txt", result.stdout)
    report = json.loads(cli("diff", str(EMAILS), "--left", str(ROOT), "--right", str(workspace), "--json").stdout)
    assert (report["same"], report["changed"], report["emails_changed"]) == (False, 0, 4)
    found = {(e["template"], e["locale"]): (e["count"], e["parts"], e["sample"]["recipient"]) for e in report["emails"]}
    assert found == {
        ("approval_requested", None): (1, ["text"], "ap1@example.com"),
        ("card_ordered", None): (2, ["subject"], "alice@example.com"),
        ("card_ordered", "sv"): (1, ["text"], "bertil@example.com"),
    }
    assert cli("diff", str(EMAILS), "--left", str(ROOT), "--right", str(ROOT)).exit_code == 0


def test_diff_population_shows_emails_rendered_differently(populated: Run, workspace: Path) -> None:
    """Over --population too, reworded templates are a difference (exit 1) with a sample diff; same templates, exit 0."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = rules.read_text()
    block = text.index("  CardsAddonExtProdQueue:")
    rules.write_text(text[:block] + text[block:].replace("    default: true\n", "    default: true\n    value: false\n", 1))
    left = workspace.parent / "left"
    shutil.copytree(workspace, left)
    reword_emails(workspace)
    assert (
        populated(
            "users", "import", "-", "--format", "csv", input="id,name,email,state,locale\nsv1,Sven,sv1@example.com,active,sv\n"
        ).exit_code
        == 0
    )
    result = populated("diff", "--population", ORDER, "--left", str(left), "--right", str(workspace), "--json")
    report = json.loads(result.stdout)
    assert (result.exit_code, report["changed"], report["emails_changed"]) == (1, 0, 182)  # 180 active + op1 + sv1
    found = {(e["template"], e["locale"]): e for e in report["emails"]}
    assert (found["card_ordered", None]["count"], found["card_ordered", "sv"]["count"]) == (181, 1)
    assert "+Subject: Your new card is on its way (standard)" in found["card_ordered", None]["diff"]
    assert found["card_ordered", "sv"]["sample"] == {"user": "sv1", "recipient": "sv1@example.com", "card": None}
    shown = populated("diff", "--population", ORDER, "--left", str(left), "--right", str(workspace)).stdout
    assert "182 emails rendered differently: card_ordered 181 emails, card_ordered (sv) 1 email" in shown.splitlines()
    assert populated("diff", "--population", ORDER, "--left", str(left), "--right", str(left)).exit_code == 0


def test_diff_set_applies_to_the_right_side_only_and_says_so(cli: Run) -> None:
    """With --left and --right, --set changes the right side alone; the output, the JSON and --help say so."""
    args = ["diff", str(FIVE), "--left", str(ROOT), "--right", str(ROOT), "--set", "CardsAddonExtProdQueue=false"]
    result = cli(*args)
    assert result.exit_code == 1
    assert "--set CardsAddonExtProdQueue=false: applied to the right side only" in result.stdout.splitlines()
    report = json.loads(cli(*args, "--json").stdout)
    assert report["set"] == {"side": "right", "values": {"CardsAddonExtProdQueue": False}}
    assert report["users"][0]["left"]["cards"] == ["processing"]
    assert "on the right side only" in " ".join(cli("diff", "--help").stdout.split())


def test_a_gate_of_100_fails_at_9999_and_never_says_100() -> None:
    """Coverage is never rounded up: one target missed of 10,000 is 99.9%, below a gate of 100."""
    from engine.definitions.workspace import load_workspace
    from engine.testing.coverage import ProcessCoverage
    from engine.testing.suite import Suite

    process = load_workspace(ROOT).process(ORDER)

    class Wide(ProcessCoverage):
        goals = 10_000  # as wide as a big workspace's targets
        reached = 9_999

    entry = Wide(process)
    assert 99.98 < entry.percent < 100 and Suite(coverage=[entry]).below(100) == [entry]
    assert entry.shown == "99.9% (9999 of 10000 targets)" and entry.as_json()["percent"] == 99.9
    assert Suite(coverage=[entry]).below(99.99) == []
