"""An external call is declared (`invoke: bureau.order`), never implied by reading a value (issue 22):
the two defects as regressions, the call made where it is declared, and `cardflow upgrade-workspace`,
which rewrites a workspace of the old shape."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ORDER_FILE = "lifecycles/CardOrder.yaml"  # the order's states and transitions, but for how each process creates a card
CREATING = [f"processes/{ORDER}.yaml", "processes/CardsAddonExtProdProcOrder.yaml"]
REPO = Path(__file__).resolve().parents[1]
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,IT
u1,Alice,alice@example.com,active,,Sales
u2,Bob,bob@example.com,active,,Support
"""
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
INVOKE = "    invoke: bureau.order\n"


@pytest.fixture
def cf(run: Run, workspace: Path) -> Run:
    """The CLI on a copy of the reference workspace (edited by each test) and a store with four users."""
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0

    def invoke(*args: str) -> Any:
        return run(*args, "--workspace", str(workspace))

    return invoke


def edit(workspace: Path, old: str, new: str) -> None:
    """Replace `old` (once) by `new` in the order process of the workspace."""
    path = workspace / ORDER_FILE
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def old_shape(workspace: Path) -> str:
    """Turn the workspace's order lifecycle and the processes that name it into the old shape (no
    `invoke:`); the lifecycle's text."""
    for name in CREATING:
        path = workspace / name
        path.write_text(path.read_text().replace(INVOKE, ""))
    path = workspace / ORDER_FILE
    text = path.read_text().replace(INVOKE, "")
    path.write_text(text)
    return text


def diagnostics(cf: Run) -> list[tuple[str, str, int]]:
    result = cf("validate", "--json")
    return [(d["code"], d["file"], d["line"]) for d in json.loads(result.stdout)]


def cards(cf: Run) -> list[tuple[str, str]]:
    result = cf("cards", "--json")
    assert result.exit_code == 0, result.output
    return [(card["user"], card["state"]) for card in json.loads(result.stdout)]


def order_files(folder: Path) -> list[str]:
    return sorted(path.name for path in (folder / "orders").glob("*.json")) if (folder / "orders").is_dir() else []


def test_an_order_guard_dropped_is_refused_and_orders_nothing(cf: Run, workspace: Path, stored: StoreUnderTest) -> None:
    """Defect 1: without the `bureau.accepted` guard a refused order would reach `ordered`: validate says so
    (E263), and the batch sync refuses to run, so no card reaches `ordered` without an order."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0  # queued: processing
    edit(workspace, "processing\n    dest: ordered\n    guard: bureau.accepted\n", "processing\n    dest: ordered\n")
    assert ("E263", ORDER_FILE, 108) in diagnostics(cf)
    result = cf("queue", "run")
    assert result.exit_code == 1
    assert cards(cf) == [("u1", "processing")]
    assert order_files(stored.folder) == []


def test_an_order_transition_without_call_or_guard_is_refused(cf: Run, workspace: Path, stored: StoreUnderTest) -> None:
    """Defect 1 with the call dropped too: a transition into `ordered` that makes no call, while the other
    transitions into `ordered` are taken on an accepted order, is refused (E264); nothing is ordered."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0
    accepted = "processing\n    dest: ordered\n    guard: bureau.accepted\n" + INVOKE
    edit(workspace, accepted, "processing\n    dest: ordered\n")
    refused = "  - trigger: order\n    source: processing\n    dest: failed\n    guard: not bureau.accepted\n" + INVOKE
    edit(workspace, refused, "")
    assert ("E264", ORDER_FILE, 107) in diagnostics(cf)
    assert cf("queue", "run").exit_code == 1
    assert cards(cf) == [("u1", "processing")]
    assert order_files(stored.folder) == []


def test_a_postpone_guard_reading_the_bureau_is_refused_and_orders_nothing(
    cf: Run, workspace: Path, stored: StoreUnderTest
) -> None:
    """Defect 2: `bureau.order_id` in a postpone guard would place a real order while the card stays
    `requested`; validate refuses it (E260, naming `cardflow upgrade-workspace`) and postpone writes nothing."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1", "--set", "CardsAddonExtProdBatchOrderApproval=true").exit_code == 0
    (card,) = json.loads(cf("cards", "--json").stdout)
    edit(
        workspace,
        "  - trigger: postpone\n    source: requested\n    dest: requested\n",
        "  - trigger: postpone\n    source: requested\n    dest: requested\n    guard: bureau.order_id\n",
    )
    result = cf("validate")
    assert f"{ORDER_FILE}:89:12: E260" in result.stdout
    assert "cardflow upgrade-workspace" in result.stdout
    assert cf("postpone", str(card["id"]), "--as", "ap1").exit_code == 1
    assert cards(cf) == [("u1", "requested")]
    assert order_files(stored.folder) == []


def test_a_declared_call_is_made_though_no_guard_reads_its_answer(cf: Run, workspace: Path, stored: StoreUnderTest) -> None:
    """A transition taken that declares `invoke: bureau.order` orders the card, even when its guard
    reads only the user (the call is declared, not implied by a read)."""
    assert cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1").exit_code == 0
    accepted = "processing\n    dest: ordered\n    guard: bureau.accepted\n"
    edit(workspace, accepted, "processing\n    dest: ordered\n    guard: user.department != 'Support'\n")
    refused = "processing\n    dest: failed\n    guard: not bureau.accepted\n"
    edit(workspace, refused, "processing\n    dest: failed\n    guard: user.department == 'Support'\n")
    assert [found for found in diagnostics(cf) if found[0].startswith("E")] == []
    assert cf("queue", "run").exit_code == 0
    assert sorted(cards(cf)) == [("u1", "ordered"), ("u2", "failed")]
    assert len(order_files(stored.folder)) == 2


def test_a_firing_whose_transitions_declare_no_call_orders_nothing(cf: Run, stored: StoreUnderTest) -> None:
    """Starting cards into the queue (no transition taken declares a call) places no order."""
    assert cf("run", ORDER, "--all", "--as", "op1").exit_code == 0
    assert {state for _, state in cards(cf)} == {"processing"}
    assert order_files(stored.folder) == []


def test_upgrade_workspace_then_runs_as_the_shipped_workspace(run: Run, cf: Run, workspace: Path, tmp_path: Path) -> None:
    """An old-shape copy, upgraded, validates clean and gives the same cards and orders as the shipped workspace."""
    old = tmp_path / "old"
    subprocess.run(["cp", "-r", str(workspace), str(old)], check=True)
    old_shape(old)
    assert run("validate", "--workspace", str(old)).exit_code == 1
    upgraded = run("upgrade-workspace", "--workspace", str(old))
    assert upgraded.exit_code == 0, upgraded.output
    assert run("validate", "--workspace", str(old)).exit_code == 0
    outcomes = []
    for folder in (workspace, old):  # each in a store of its own (the workspace is under test, not the store)
        store = ("--db", str(tmp_path / f"{folder.name}.db"))
        orders = tmp_path / f"orders-{folder.name}"
        assert run("users", "import", "users.csv", *store).exit_code == 0
        args = ("--workspace", str(folder), *store)
        result = run("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--orders", str(orders), *args)
        assert result.exit_code == 0, result.output
        listed = json.loads(run("cards", "--json", *store).stdout)
        outcomes.append((sorted((c["user"], c["state"]) for c in listed), sorted(p.name for p in orders.glob("*.json"))))
    assert outcomes[0][0] == outcomes[1][0]
    assert len(outcomes[0][1]) == len(outcomes[1][1]) == 4


def test_upgrade_workspace_adds_invoke_after_each_guard_keeping_the_rest(cli: Run, workspace: Path) -> None:
    """The upgrade adds one `invoke: bureau.order` line after each guard reading the bureau, nothing else:
    comments, blank lines and layout stay; it prints each change (--json too)."""
    text = old_shape(workspace)
    result = cli("upgrade-workspace", "--workspace", str(workspace), "--json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)
    assert len(changes) == 10  # two in each process that orders, six in the lifecycle they share (once)
    assert changes[0] == {
        "file": CREATING[0],
        "line": 51,
        "col": 5,
        "transition": "#3 (start: registered -> ordered)",
        "added": "invoke: bureau.order",
    }
    after = (workspace / ORDER_FILE).read_text()
    assert after.replace(INVOKE, "") == text
    for name, count in ((ORDER_FILE, 6), (CREATING[0], 2), (CREATING[1], 2)):
        lines = (workspace / name).read_text().splitlines()
        added = [i for i, line in enumerate(lines) if line == INVOKE.rstrip("\n")]
        assert len(added) == count and sum(change["file"] == name for change in changes) == count
        assert all(lines[i - 1].startswith("    guard: ") for i in added)


def test_upgrade_workspace_twice_changes_nothing_the_second_time(cli: Run, workspace: Path) -> None:
    """A second upgrade finds nothing to change, writes nothing and exits 0."""
    old_shape(workspace)
    assert cli("upgrade-workspace", "--workspace", str(workspace)).exit_code == 0
    before = (workspace / ORDER_FILE).read_bytes()
    again = cli("upgrade-workspace", "--workspace", str(workspace))
    assert again.exit_code == 0
    assert again.stdout == ""
    assert "nothing to change" in again.stderr
    assert (workspace / ORDER_FILE).read_bytes() == before


def test_upgrade_workspace_refuses_a_workspace_with_other_errors(cli: Run, workspace: Path) -> None:
    """A workspace with an error besides the undeclared calls is refused (exit 1) and left as it was."""
    old_shape(workspace)
    edit(workspace, "    source: requested\n    dest: rejected\n", "    source: requested\n    dest: rejectd\n")
    before = (workspace / ORDER_FILE).read_bytes()
    result = cli("upgrade-workspace", "--workspace", str(workspace), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "workspace_invalid"
    assert "E203" in [d["code"] for d in error["details"]]
    assert (workspace / ORDER_FILE).read_bytes() == before


def test_upgrade_workspace_refuses_a_rewrite_that_would_not_validate(cli: Run, workspace: Path) -> None:
    """A bureau read the call would not make valid (a postpone guard: the refused answer leads nowhere)
    is refused with the errors the rewrite would leave, and nothing is written."""
    edit(
        workspace,
        "  - trigger: postpone\n    source: requested\n    dest: requested\n",
        "  - trigger: postpone\n    source: requested\n    dest: requested\n    guard: bureau.order_id\n",
    )
    before = (workspace / ORDER_FILE).read_bytes()
    result = cli("upgrade-workspace", "--workspace", str(workspace))
    assert result.exit_code == 1
    assert "would still have errors" in result.stderr
    (line,) = result.stdout.splitlines()  # the one error the rewrite would leave, where the added `invoke:` would stand
    assert line.startswith(f"{ORDER_FILE}:90:13: E263 ")
    assert (workspace / ORDER_FILE).read_bytes() == before


def test_upgrade_workspace_help_names_what_it_does(cli: Run) -> None:
    """`cardflow upgrade-workspace --help` says what it adds and that it may be run twice."""
    result = cli("upgrade-workspace", "--help")
    assert result.exit_code == 0
    assert "invoke: bureau.order" in result.stdout
    assert "--workspace" in result.stdout
    assert "--json" in result.stdout


def test_upgrade_workspace_edits_flow_style_block_scalars_and_crlf_files(cli: Run, workspace: Path) -> None:
    """A transition in flow style gets `, invoke: ...` inside its braces, a folded guard gets the line
    after its last line, and a file with CRLF line ends keeps them; the result validates."""
    text = old_shape(workspace)
    text = text.replace(
        "  - trigger: order\n    source: processing\n    dest: failed\n    guard: not bureau.accepted\n",
        "  - {trigger: order, source: processing, dest: failed, guard: not bureau.accepted}  # refused\n",
    )
    text = text.replace(
        "    source: failed\n    dest: ordered\n    guard: bureau.accepted\n",
        "    source: failed\n    dest: ordered\n    guard: >-\n      bureau.accepted\n      and true\n    # the answer\n",
    )
    (workspace / ORDER_FILE).write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    assert cli("upgrade-workspace", "--workspace", str(workspace)).exit_code == 0
    after = (workspace / ORDER_FILE).read_bytes().decode("utf-8")
    assert "\n" not in after.replace("\r\n", "")
    assert "guard: not bureau.accepted, invoke: bureau.order}  # refused\r\n" in after
    assert "      and true\r\n    invoke: bureau.order\r\n    # the answer\r\n" in after
    assert cli("validate", "--workspace", str(workspace)).exit_code == 0
