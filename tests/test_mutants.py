"""Mutation score: mutants of the workspace (guards negated, conditions dropped, destinations
changed, effects removed, options flipped), each run against the scenarios until one fails; the
survivors named at their YAML lines; a flip of an option every scenario sets is equivalent."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, Run

from engine.definitions.workspace import load_workspace
from engine.testing.criteria import split_condition
from engine.testing.equivalent import shadowed, unread_everywhere
from engine.testing.mutants import judge, mutants, score
from engine.testing.scenario import load_scenario

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ROOT / "tests" / "scenarios" / "order_queue_off.scenario.yaml"
PROCESS_FILE = f"processes/{ORDER}.yaml"


def test_a_guard_splits_into_its_top_level_conditions_only() -> None:
    assert split_condition("a and not b and (c or d)") == ("and", ["a", "not b", "(c or d)"])
    assert split_condition("a or b and c") == (None, ["a or b and c"]), "mixed operators: not split"
    assert split_condition("user.name == 'x and y'") == (None, ["user.name == 'x and y'"])


def test_the_mutants_of_a_transition_are_made_where_it_is_written() -> None:
    workspace = load_workspace(ROOT).require_valid()
    at_line = {(m.kind, m.location.line): m for m in mutants(workspace) if m.location.file == PROCESS_FILE}
    assert ("guard negated", 48) in at_line and ("destination changed", 48) in at_line
    dropped = [
        m.what
        for m in mutants(workspace)
        if m.kind == "condition dropped" and (m.location.file, m.location.line) == (PROCESS_FILE, 48)
    ]
    assert dropped == [
        "#3 (start: registered -> ordered): `not options.CardsAddonExtProdBatchOrderApproval` dropped",
        "#3 (start: registered -> ordered): `not options.CardsAddonExtProdQueue` dropped",
        "#3 (start: registered -> ordered): `bureau.accepted` dropped",
    ]
    numbers = [m.number for m in mutants(workspace)]
    assert numbers == list(range(1, len(numbers) + 1)), "numbered once, in YAML order"


def test_a_scenario_kills_the_mutant_it_would_notice_and_not_the_one_it_cannot() -> None:
    workspace = load_workspace(ROOT).require_valid()
    scenario, problems = load_scenario(QUEUE_OFF, workspace)
    assert scenario is not None and not problems
    found = mutants(workspace)
    negated = next(m for m in found if m.kind == "guard negated" and (m.location.file, m.location.line) == (PROCESS_FILE, 48))
    request = "processes/CardsBoProcRequestMulitple.yaml"  # a process the scenario never runs
    unseen = next(m for m in found if m.kind == "guard negated" and m.location.file == request)
    pinned = next(m for m in found if m.option == "CardsAddonExtProdQueue")
    verdicts = {v.mutant.number: v for v in judge(workspace, [scenario], [negated, unseen, pinned], cores=1)}
    assert verdicts[negated.number].killed_by == str(QUEUE_OFF)
    assert verdicts[unseen.number].killed_by is None and verdicts[unseen.number].equivalent is None
    assert verdicts[pinned.number].equivalent == "every scenario sets this option itself or runs no process that reads it"
    assert score(list(verdicts.values())) == 50.0, "the equivalent mutant is not counted"


def test_a_flip_of_an_option_no_process_of_the_scenario_reads_is_equivalent() -> None:
    """The queue-off scenario runs "Order multiple cards" only: no process of it reads the request options."""
    workspace = load_workspace(ROOT).require_valid()
    scenario, _ = load_scenario(QUEUE_OFF, workspace)
    assert scenario is not None
    assert unread_everywhere(workspace, [scenario], "CardsBatchRequestApproval"), "a request option"
    assert not unread_everywhere(workspace, [scenario], "CardsDeactivationApproval"), "read by a deactivation of its cards"
    assert unread_everywhere(workspace, [scenario], "CardsAddonExtProdQueue"), "the scenario sets it"


def test_a_dropped_condition_an_earlier_transition_decides_is_equivalent() -> None:
    """`not options.CardsAddonExtProdQueue` in start -> ordered changes nothing (start -> processing, tried
    before it, holds wherever it would); `bureau.accepted` does (nothing tried before holds then)."""
    workspace = load_workspace(ROOT).require_valid()
    dropped = {m.what: m for m in mutants(workspace) if m.kind == "condition dropped" and m.location.file == PROCESS_FILE}
    queue = dropped["#3 (start: registered -> ordered): `not options.CardsAddonExtProdQueue` dropped"]
    answer = dropped["#3 (start: registered -> ordered): `bureau.accepted` dropped"]
    assert shadowed(workspace, queue.change(workspace))
    assert not shadowed(workspace, answer.change(workspace))


def test_the_command_reports_the_survivors_and_fails_below_the_score_asked(cli: Run, tmp_path: Path) -> None:
    result = cli("test", str(QUEUE_OFF), "--mutants", "--min-mutation-score", "100", "--json")
    assert result.exit_code == 1
    mutation = json.loads(result.stdout)["mutants"]
    assert 0 < mutation["killed"] < mutation["total"] - mutation["equivalent"] and mutation["score"] < 100
    survivors = [v for v in mutation["verdicts"] if v["killed_by"] is None and v["equivalent"] is None]
    assert survivors and all(v["at"].count(":") == 2 for v in survivors), "each survivor at FILE:LINE:COL"
    told = cli("test", str(QUEUE_OFF), "--mutants")
    assert told.exit_code == 0 and "mutation score: " in told.stdout and ": survived: guard negated: " in told.stdout
    assert cli("test", str(QUEUE_OFF), "--min-mutation-score", "50").exit_code == 2
