"""The workspace's scheduled jobs: schedule.yaml read, each job named by a command or a process the system
runs, each cron expression checked and located; a job naming a process fires that process's triggers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest

from engine.definitions.schedule import cron_problem
from engine.definitions.workspace import init_workspace, load_workspace
from engine.outbound.bureau import DropFolder
from engine.store import db
from engine.work.jobs import Runtime, scheduled_job

ROOT = Path(__file__).resolve().parents[1]
ORDER = "CardsAddonExtProdBoProcOrderMultiple"


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "*/5 * * * *", "0 2 * * mon-fri", "0,30 8-18 1 jan,jul *", "* * * * * */5", "@daily", "15 3 * * 7"],
)
def test_good_cron_expressions_pass(expression: str) -> None:
    """Five fields (or six, seconds last), ranges, steps, lists, names and shorthands are accepted."""
    assert cron_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * *", "4 field(s)"),
        ("60 * * * *", "minute field '60'"),
        ("* 24 * * *", "hour field '24'"),
        ("* * 0 * *", "day of month field '0'"),
        ("* * * foo *", "month field 'foo'"),
        ("*/0 * * * *", "step '0'"),
        ("5-2 * * * *", "runs backwards"),
        ("@sometimes", "unknown shorthand"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expression: str, words: str) -> None:
    """Each bad expression is named with the field that is wrong."""
    problem = cron_problem(expression)
    assert problem is not None and words in problem


def test_the_reference_workspace_schedules_the_four_jobs() -> None:
    """The shipped schedule.yaml schedules the batch sync, outbox delivery, the order-status sync and the calls' retries."""
    assert set(load_workspace(ROOT).schedules) == {"batch-sync", "outbox-send", "orders-sync", "calls-send", "timers-run"}


def test_a_workspace_without_schedule_has_no_scheduled_jobs(workspace: Path) -> None:
    """Without schedule.yaml nothing is scheduled, and nothing is wrong."""
    found = load_workspace(workspace)
    assert found.schedules == {} and found.ok


def test_a_bad_expression_is_located_and_schedules_nothing(workspace: Path) -> None:
    """A bad cron expression is an E701 at its file:line:col, and the workers get no schedule from the file."""
    (workspace / "schedule.yaml").write_text('jobs:\n  batch-sync:\n    schedule: "*/5 * * *"\n')
    found = load_workspace(workspace)
    assert [(d.code, str(d.location)) for d in found.diagnostics] == [("E701", "schedule.yaml:3:15")]
    assert found.schedules == {}


def test_init_copies_the_schedule(tmp_path: Path) -> None:
    """`cardflow init` gives a site the schedule with the rest of the workspace."""
    init_workspace(tmp_path / "site", ROOT)
    assert (tmp_path / "site" / "schedule.yaml").read_bytes() == (ROOT / "schedule.yaml").read_bytes()
    shutil.rmtree(tmp_path / "site")


SYNC, STATUS = "CardsAddonExtProdBatchSync", "CardsAddonExtProdProcUpdateCardOrder"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


def test_a_job_may_name_a_process_the_system_runs(workspace: Path) -> None:
    """A job named by the symbolic name of a process whose actor is `system` is scheduled like a command."""
    (workspace / "schedule.yaml").write_text(
        f'jobs:\n  {SYNC}:\n    schedule: "*/5 * * * *"\n  outbox-send:\n    schedule: "@hourly"\n'
    )
    found = load_workspace(workspace)
    assert found.ok and found.schedules == {SYNC: "*/5 * * * *", "outbox-send": "@hourly"}


@pytest.mark.parametrize(
    ("job", "hint"),
    [
        ("CardsAddonExtProdBatchSynk", f" (did you mean '{SYNC}'?)"),
        ("CardsAddonExtProdBoProcOrderMultiple", ""),
        ("batch_sync", ""),
    ],
)
def test_a_job_naming_no_command_or_system_process_is_located(workspace: Path, job: str, hint: str) -> None:
    """A job that names neither a command nor a process the system runs (a typo, a process an operator runs)
    is an E241 at its key, with a close name when there is one, and schedules nothing of it."""
    (workspace / "schedule.yaml").write_text(f'jobs:\n  {job}:\n    schedule: "@daily"\n')
    found = load_workspace(workspace)
    assert [(d.code, str(d.location)) for d in found.diagnostics] == [("E241", "schedule.yaml:2:3")]
    assert found.diagnostics[0].message.startswith(
        f"scheduled job '{job}' is neither a command nor a process the system runs{hint} ("
    )
    assert found.schedules == {}


def test_a_job_naming_a_system_process_fires_its_triggers_alone(run: Run, workspace: Path, stored: StoreUnderTest) -> None:
    """The job of the batch-sync process orders the queued cards; the job of the order-status process moves
    ordered cards as the bureau reports them, and orders nothing."""
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    assert run("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--workspace", str(workspace)).exit_code == 0
    orders = Path.cwd() / "orders"
    runtime = Runtime(load_workspace(workspace), db.connect(stored.location), DropFolder(orders))
    scheduled_job(runtime, STATUS)(runtime)
    assert states(run) == {"u1": "processing", "u2": "processing"}
    scheduled_job(runtime, SYNC)(runtime)
    assert states(run) == {"u1": "ordered", "u2": "ordered"}
    (order,) = [path for path in orders.glob("*.json") if ".u1." in path.name]
    (orders / "status").mkdir()
    (orders / "status" / order.name).write_text('{"status": "produced"}')
    scheduled_job(runtime, STATUS)(runtime)
    assert states(run) == {"u1": "produced", "u2": "ordered"}
    runtime.engine.dispose()


def states(run: Run) -> dict[str, str]:
    result = run("cards", "--json")
    assert result.exit_code == 0, result.output
    return {card["user"]: card["state"] for card in json.loads(result.stdout)}


NIGHTLY = """symbolic_name: TestProcActivateNightly
name: Activate produced cards at night
package: Cards
component: Identity Manager scheduled job
start: Scheduled job > Activate produced cards
description: As the system I activate every produced card.
outcome: [active]
kind: action
actor: system
acts_on: [CardsAddonExtProdBoProcOrderMultiple]
triggers:
  activate:
    description: Activate the produced card.
prerequisites:
  - rule: card.state == 'produced'
    message: Only a produced card is activated.
"""


def test_a_job_naming_a_process_added_in_yaml_alone_fires_its_new_trigger(
    run: Run, extended_workspace: Path, stored: StoreUnderTest
) -> None:
    """A system process the code has never heard of, scheduled by its symbolic name, fires its trigger (the
    extended workspace's new `activate`) on the cards waiting for it."""
    (extended_workspace / "processes" / "TestProcActivateNightly.yaml").write_text(NIGHTLY)
    (extended_workspace / "schedule.yaml").write_text('jobs:\n  TestProcActivateNightly:\n    schedule: "@daily"\n')
    found = load_workspace(extended_workspace)
    assert found.ok and found.schedules == {"TestProcActivateNightly": "@daily"}, found.diagnostics
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    users = ("--user", "u1", "--user", "u2", "--set", "CardsAddonExtProdQueue=false")
    assert run("run", ORDER, *users, "--as", "op1", "--workspace", str(extended_workspace)).exit_code == 0
    orders = Path.cwd() / "orders"
    (order,) = [path for path in orders.glob("*.json") if ".u1." in path.name]
    (orders / "status").mkdir()
    (orders / "status" / order.name).write_text('{"status": "produced"}')
    assert run("orders", "sync", "--workspace", str(extended_workspace)).exit_code == 0
    runtime = Runtime(found, db.connect(stored.location), DropFolder(orders))
    scheduled_job(runtime, "TestProcActivateNightly")(runtime)
    assert states(run) == {"u1": "active", "u2": "ordered"}
    runtime.engine.dispose()
