"""No quiet failures (issue 11): inactive staff, resumed batches, work left undone, what operators see."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bureau_server import FakeBureau, accept
from conftest import Run, as_at_a_terminal

from engine.outbound.bureau_http import HttpBureau

ORDER, REQUEST = "CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple"
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
op2,Oda Operator,op2@example.com,inactive,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,HR
ap2,Arvid Approver,ap2@example.com,inactive,approver,HR
u1,Alice,alice@example.com,active,,Sales
u2,Bertil,bertil@example.com,active,,Sales
f1,Fredrik,fredrik@example.com,active,,Support
"""
APPROVAL = ("--set", "CardsBatchRequestApproval=true")


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    """The CLI in a folder holding a store with active and inactive staff and three card holders."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return as_json(result)


def refused(result: Any) -> Any:
    """The JSON of a command in which the card bureau refused every order: exit 1, and it says so."""
    assert result.exit_code == 1 and "the card bureau refused every order" in result.stderr, result.output
    return as_json(result)


def card_count(cf: Run) -> int:
    return len(ok(cf("cards", "--json")))


def test_an_inactive_operator_cannot_run_a_batch(cf: Run) -> None:
    """An inactive operator is refused like a missing role: exit 1, the reason, no card and no batch."""
    refused = cf("run", ORDER, "--user", "u1", "--as", "op2")
    assert refused.exit_code == 1
    assert "op2 is inactive; an inactive user cannot run batches" in refused.stderr
    assert card_count(cf) == 0 and ok(cf("batches", "--json")) == []


def test_an_inactive_operator_cannot_abort(cf: Run) -> None:
    """An inactive operator's abort is refused and the card stays queued."""
    (result,) = ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json"))["results"]
    refused = cf("abort", str(result["card"]), "--as", "op2")
    assert refused.exit_code == 1 and "op2 is inactive; an inactive user cannot abort cards" in refused.stderr
    assert [card["state"] for card in ok(cf("cards", "--json"))] == ["processing"]


def test_an_inactive_approver_cannot_approve(cf: Run) -> None:
    """An inactive approver's decision is refused; the request still waits."""
    (result,) = ok(cf("run", REQUEST, "--user", "u1", "--as", "op1", "--json", *APPROVAL))["results"]
    refused = cf("approve", str(result["card"]), "--as", "ap2", *APPROVAL)
    assert refused.exit_code == 1 and "ap2 is inactive; an inactive user cannot approve cards" in refused.stderr
    assert [card["state"] for card in ok(cf("cards", "--json"))] == ["requested"]


def test_a_finished_batch_takes_no_new_users(cf: Run) -> None:
    """Resuming a batch with another selection is refused and says why; its count stays right."""
    ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", "B", "--json"))
    refused = cf("run", ORDER, "--user", "f1", "--as", "op1", "--batch-id", "B")
    assert refused.exit_code == 1
    assert "started for --user u1, not --user f1" in refused.stderr and "original selection only" in refused.stderr
    assert [card["user"] for card in ok(cf("cards", "--json"))] == ["u1"]
    again = ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", "B", "--json"))
    assert [(r["user"], r["status"]) for r in again["results"]] == [("u1", "created")]
    assert [(b["id"], b["status"], b["created"]) for b in ok(cf("batches", "--json"))] == [("B", "complete", 1)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP connector, pointed at a port on 127.0.0.1 where nothing listens."""
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CARDFLOW_BUREAU_URL", f"http://127.0.0.1:{closed_port()}")
    for name in ("CLIENT_ID", "CLIENT_SECRET", "ORG_ID"):
        monkeypatch.setenv(f"CARDFLOW_BUREAU_{name}", "x")
    monkeypatch.setenv("CARDFLOW_BUREAU_TIMEOUT", "1")


@pytest.mark.usefixtures("unreachable")
def test_an_incomplete_batch_exits_1_and_says_how_to_resume(cf: Run) -> None:
    """Queue off and the bureau unreachable: the batch is incomplete, exit 1, and the resume command is given."""
    queue_off = "CardsAddonExtProdQueue=false"
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", "B7", "--set", queue_off, "--connector", "http")
    assert result.exit_code == 1
    assert f"resume with `cardflow run {ORDER} --user u1 --as op1 --batch-id B7 --set {queue_off}" in result.stderr
    assert "--connector http`" in result.stderr
    assert [b["status"] for b in ok(cf("batches", "--json"))] == ["incomplete"]


@pytest.mark.usefixtures("unreachable")
def test_a_queue_run_left_unanswered_exits_1(cf: Run) -> None:
    """A batch sync whose orders got no answer exits 1, with a summary and how to finish."""
    ok(cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json"))
    result = cf("queue", "run", "--connector", "http")
    assert result.exit_code == 1
    assert "queue run: deferred 2" in result.stdout and "run `cardflow calls send" in result.stderr
    assert "calls send --now" in result.stderr and "--connector http` once it answers" in result.stderr


def test_a_bureau_refusal_shows_its_reason_in_queue_run_and_retry(cf: Run) -> None:
    """The bureau's reason for a refusal is in the results of `queue run` and `retry`, not only in `explain`."""
    (result,) = ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json"))["results"]
    Path("orders").mkdir()
    Path("orders/layouts.txt").write_text("premium\n")
    (synced,) = refused(cf("queue", "run", "--json"))
    assert synced["to"] == "failed" and "does not produce layout 'standard'" in synced["message"]
    (retried,) = refused(cf("retry", str(result["card"]), "--as", "op1", "--json"))
    assert retried["to"] == "failed" and "does not produce layout 'standard'" in retried["message"]


def test_a_bureau_refusal_shows_its_reason_in_run(cf: Run) -> None:
    """Queue off, a refused order: the run's result for the user carries the bureau's reason."""
    Path("orders").mkdir()
    Path("orders/layouts.txt").write_text("premium\n")
    output = refused(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", "--set", "CardsAddonExtProdQueue=false"))
    (result,) = output["results"]
    assert result["state"] == "failed" and "does not produce layout 'standard'" in result["reason"]


def test_over_100_results_the_table_says_json(run: Run, tmp_path: Path) -> None:
    """With more than 100 results `run` leaves the table out and says `--json` lists them."""
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
    rows += [f"u{i:03d},User {i},u{i}@example.com,active," for i in range(120)]
    (tmp_path / "cwd" / "users.csv").write_text("\n".join(rows) + "\n")
    assert run("users", "import", "users.csv").exit_code == 0
    result = run("run", ORDER, "--all", "--as", "op1")
    assert result.exit_code == 0 and "121 results: the table shows at most 100 users; --json lists every one" in result.stdout


def test_a_dry_run_names_no_batch(cf: Run) -> None:
    """`--dry-run` writes no batch, so it prints no batch id."""
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", "--dry-run")
    assert result.exit_code == 0 and "batch B" not in result.output
    assert ok(cf("batches", "--json")) == []


def test_a_killed_batch_counts_the_cards_it_made(tmp_path: Path) -> None:
    """`batches` shows a running (killed) batch with the cards made so far, not 0."""
    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.definitions.files import reference_workspace
    from engine.definitions.workspace import load_workspace
    from engine.outbound.bureau import OrderAnswer, OrderRequest
    from engine.store import calls, db
    from engine.store.queries import list_batches, open_store, upsert_users
    from engine.store.users import user_row

    class DiesOnThirdOrder:
        name = "dies"

        def __init__(self) -> None:
            self.orders = 0

        def order(self, request: OrderRequest) -> OrderAnswer:
            self.orders += 1
            if self.orders == 3:
                raise SystemExit("killed")
            return OrderAnswer(True, order_id=request.key)

    engine = open_store(str(tmp_path / "s.db"))
    records = [{"id": "op1", "name": "O", "email": "o@example.com", "state": "active", "roles": ["operator"]}]
    records += [{"id": f"u{i}", "name": "U", "email": f"u{i}@example.com", "state": "active"} for i in range(5)]
    with engine.begin() as connection:
        upsert_users(connection, [user_row("test", record) for record in records])
    request = RunRequest(ORDER, "op1", Selection(all=True), {"CardsAddonExtProdQueue": False}, batch_id="K")
    with pytest.raises(SystemExit):
        run_batch(load_workspace(reference_workspace()), engine, request, DiesOnThirdOrder(), chunk=2)
    with db.reading(engine) as connection:
        # the second chunk's two cards were committed with their calls before the kill: four cards, two calls pending
        assert [(b["id"], b["status"], b["created"]) for b in list_batches(connection)] == [("K", "running", 4)]
        assert [row["status"] for row in calls.listing(connection)] == ["answered", "answered", "pending", "pending"]


def test_ctrl_c_names_the_batch_to_resume(tmp_path: Path) -> None:
    """Ctrl-C during a run ends with exit 1 and the command that resumes the batch, not a bare "Aborted!".
    The bureau holds the first order for a minute, so the run is still under way when Ctrl-C comes."""
    rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
    rows += [f"u{i:05d},User {i},u{i}@example.com,active," for i in range(20)]
    (tmp_path / "users.csv").write_text("\n".join(rows) + "\n")
    subprocess.run([CARDFLOW, "users", "import", "users.csv"], cwd=tmp_path, check=True, capture_output=True)
    queue_off = "CardsAddonExtProdQueue=false"
    command = [CARDFLOW, "run", ORDER, "--all", "--as", "op1", "--batch-id", "B9", "--connector", "http", "--set", queue_off]
    with FakeBureau() as bureau:
        bureau.then(accept(delay=60))
        env = {**os.environ, **bureau.env(), "CARDFLOW_BUREAU_TIMEOUT": "60"}
        with subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=as_at_a_terminal,
        ) as process:
            assert process.stderr is not None
            first = process.stderr.readline()  # "cardflow: batch B9": the batch row is written, the first chunk is under way
            assert "batch B9" in first
            os.kill(process.pid, signal.SIGINT)
            rest = process.stderr.read()
            process.wait(timeout=60)
    assert process.returncode == 1, rest
    assert f"resume with `cardflow run {ORDER} --all --as op1 --batch-id B9 --set {queue_off} --connector http`" in rest


def test_the_vendors_setting_names_are_accepted() -> None:
    """The GO Cards names of smartid.env configure the HTTP connector; ours win when both are set."""
    vendor = {
        "IDM_CAAS_CLIENT_ID": "id",
        "IDM_CAAS_CLIENT_SECRET": "secret",
        "IDM_CAAS_ORGANISATION_ID": "org",
        "IDM_CAAS_HOSTNAME": "caas.example.com",
    }
    bureau = HttpBureau.from_env(vendor)
    assert (bureau.base_url, bureau.client_id, bureau.org_id) == ("https://caas.example.com", "id", "org")
    ours = HttpBureau.from_env({**vendor, "CARDFLOW_BUREAU_CLIENT_ID": "mine", "CARDFLOW_BUREAU_URL": "http://127.0.0.1:1"})
    assert (ours.base_url, ours.client_id) == ("http://127.0.0.1:1", "mine")


def test_where_on_an_attribute_no_user_has_is_an_error(cf: Run) -> None:
    """`--where user.departmnt == ...` is a usage error with "did you mean", and writes no batch."""
    result = cf("run", ORDER, "--where", "user.departmnt == 'Sales'", "--as", "op1")
    assert result.exit_code == 2 and "'user.departmnt'" in result.stderr and "did you mean 'department'" in result.stderr
    assert ok(cf("batches", "--json")) == []


def test_where_reads_open_cards(cf: Run) -> None:
    """`user.open_cards` works in `--where` as it does in guards."""
    ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json"))
    multiple = ("--set", "CardsAddonExtProdMultipleCards=true")
    output = ok(cf("run", ORDER, "--where", "user.open_cards > 0", "--as", "op1", "--json", *multiple))
    assert [r["user"] for r in output["results"]] == ["u1"]


@pytest.mark.parametrize(
    "where",
    ["(" * 200 + "user.id" + ")" * 200, "not " * 500 + "user.id", "user.id == " + "9" * 5000, "user.id|first == 1"],
    ids=["deep", "long", "huge-number", "first-of-text"],
)
def test_where_too_big_or_odd_is_one_line_error(cf: Run, where: str) -> None:
    """Deep, long or odd `--where` expressions give a one-line error (or a plain result), never an internal error."""
    result = cf("run", ORDER, "--where", where, "--as", "op1")
    assert result.exit_code in (0, 2) and "internal error" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2


def test_cards_with_an_unknown_state_or_process_is_an_error(cf: Run) -> None:
    """`cards --state procesing` is a usage error with "did you mean", not an empty table."""
    result = cf("cards", "--state", "procesing")
    assert result.exit_code == 2 and "did you mean 'processing'" in result.stderr
    result = cf("cards", "--process", "CardsBoProcRequestMultiple")
    assert result.exit_code == 2 and f"did you mean '{REQUEST}'" in result.stderr
    assert cf("cards", "--state", "processing").exit_code == 0


@pytest.mark.parametrize("batch_id", ["../escaped", "a/b", ".hidden", "line\nbreak", "x" * 101, " "])
def test_a_batch_id_that_could_name_a_path_elsewhere_is_refused(cf: Run, tmp_path: Path, batch_id: str) -> None:
    """Batch ids are checked: no separators, no leading dot, printable, bounded; nothing is written."""
    result = cf("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", batch_id, "--set", "CardsAddonExtProdQueue=false")
    assert result.exit_code == 2 and "--batch-id" in result.stderr and len(result.stderr.splitlines()) == 1
    assert card_count(cf) == 0 and not (tmp_path / "cwd" / "escaped").exists()


def test_a_scenario_without_a_name_is_a_diagnostic(cli: Run, tmp_path: Path) -> None:
    """A scenario without `name:` gets E103 at its file, never an internal error."""
    scenario = tmp_path / "nameless.scenario.yaml"
    user = "{id: op1, name: O, email: o@example.com, state: active, roles: [operator]}"
    scenario.write_text(f"users:\n  - {user}\nsteps:\n  - {{queue: run}}\n")
    result = cli("test", str(scenario))
    assert result.exit_code == 1 and "E103" in result.output and "internal error" not in result.output


def test_empty_production_types_do_not_validate(cli: Run, workspace: Path) -> None:
    """`CardsAddonExtProdProductionTypes` set to [] is an E404 at the value's line, not a failure at every run."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = rules.read_text()
    rules.write_text(text.replace("    default: [standard]\n", "    default: [standard]\n    value: []\n", 1))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "rules/CardsAddonExtProdScriptOptions.yaml:" in result.stdout
    assert "E404 CardsAddonExtProdProductionTypes" in result.stdout


def test_a_subfolder_of_a_site_uses_the_site(cli: Run, workspace: Path) -> None:
    """From a subfolder of a workspace, commands use that workspace (found walking up), not the shipped one."""
    (workspace / "deep" / "er").mkdir(parents=True)
    os.chdir(workspace / "deep" / "er")
    result = cli("validate")
    assert result.exit_code == 0 and f"in {workspace}" in result.stderr


def test_init_copies_the_scenario_suite(cli: Run, tmp_path: Path) -> None:
    """`init` copies the scenario suite, so `cardflow test` passes in the new site as it is."""
    site = tmp_path / "site"
    assert cli("init", str(site)).exit_code == 0
    assert (site / "tests" / "scenarios" / "order_default.scenario.yaml").is_file()
    os.chdir(site)
    result = cli("test", "--min-coverage", "100")
    assert result.exit_code == 0, result.output


def test_an_empty_processes_folder_is_not_ok(cli: Run, tmp_path: Path) -> None:
    """A workspace whose processes/ holds no definition fails `validate` with E290."""
    (tmp_path / "empty" / "processes").mkdir(parents=True)
    result = cli("validate", "--workspace", str(tmp_path / "empty"))
    assert result.exit_code == 1 and "E290" in result.stdout


def test_an_empty_value_in_an_option_script_is_one_diagnostic(cli: Run, workspace: Path) -> None:
    """An empty `value:` gives its own diagnostic and none of the ones that would follow in other files."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    rules.write_text(rules.read_text().replace("    default: true\n", "    default: true\n    value:\n", 1))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("rules/CardsAddonExtProdScriptOptions.yaml:") and " E102 " in line


def test_a_bad_recipient_is_one_diagnostic(cli: Run, workspace: Path) -> None:
    """A bad `to:` in a process gives its E104 and no "unknown process" in the processes acting on it."""
    process = workspace / "processes" / f"{ORDER}.yaml"
    process.write_text(process.read_text().replace("to: holder", "to: holdr", 1))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"processes/{ORDER}.yaml:") and " E104 " in line


def test_a_control_character_in_a_set_name_stays_on_one_line(cli: Run) -> None:
    """`--set` with a line break in the variable's name is refused in one line, the break escaped."""
    result = cli("options", "--set", "CardsAddonExt\nProdQueue=false")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1 and "\\n" in result.stderr


def test_a_control_character_in_a_diagnostic_is_escaped(cli: Run, workspace: Path) -> None:
    """A key holding a tab or a line separator is reported in one `FILE:LINE:COL: CODE message` line."""
    process = workspace / "processes" / f"{ORDER}.yaml"
    process.write_text(process.read_text() + '"bad\\tkey\\u2028here": 1\n')
    result = cli("validate", "--workspace", str(workspace))
    (line,) = result.stdout.splitlines()
    assert " E101 " in line and "\\t" in line and "\\u2028" in line


def test_a_scenario_may_give_a_user_two_existing_cards(cli: Run, tmp_path: Path) -> None:
    """Two existing cards for one user (found by the fuzz suite: a unique-constraint crash) seed and run."""
    scenario = tmp_path / "two.scenario.yaml"
    card = "{user: u3, process: CardsAddonExtProdBoProcOrderMultiple, state: aborted, requester: op1}"
    scenario.write_text(
        "name: two existing cards\n"
        "users:\n"
        "  - {id: op1, name: O, email: op1@example.com, state: active, roles: [operator]}\n"
        "  - {id: u3, name: C, email: c@example.com, state: active}\n"
        f"cards:\n  - {card}\n  - {card}\n"
        f"steps:\n  - {{run: {ORDER}, as: op1, users: [u3]}}\n"
        "expect:\n  cards:\n    u3: [aborted, aborted, processing]\n"
    )
    result = cli("test", str(scenario))
    assert result.exit_code == 0, result.output


def test_a_list_as_the_kind_of_a_process_is_a_diagnostic(cli: Run, workspace: Path) -> None:
    """`kind: []` is a shape error (found by the fuzz suite: "unhashable type: 'list'")."""
    process = workspace / "processes" / "CardsAddonExtProdBatchSync.yaml"
    process.write_text(process.read_text().replace("kind: action", "kind: []"))
    result = cli("validate", "--workspace", str(workspace))
    assert result.exit_code == 1 and "internal error" not in result.output
    assert any(" E10" in line for line in result.stdout.splitlines())


@pytest.mark.parametrize("text", ["?\n", "script: X\n1: a\nnull: b\n"], ids=["null-key", "mixed-keys"])
def test_keys_of_mixed_types_are_diagnosed(cli: Run, workspace: Path, text: str) -> None:
    """Null and number keys beside text ones are diagnosed (found by the fuzz suite: cerberus could not sort them)."""
    (workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml").write_text(text)
    for command in ("validate", "options"):
        result = cli(command, "--workspace", str(workspace))
        assert result.exit_code == 1 and "internal error" not in result.output
