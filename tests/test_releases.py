"""Releases of the workspace in the store under test: published by an admin, live at once with one
admin and after a second admin's approval with two (never the publisher's), compared with their
option changes and where each was set, rolled back, and run by every command that opens the store
unless it is given a workspace; `explain` names the release of each decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from workspace_copies import copy_reference

ORDER, QUEUE = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdQueue"
OPTIONS = "CardsAddonExtProdScriptOptions.yaml"
USERS = """id,name,email,state,roles
ad1,Ada Admin,ad1@example.com,active,admin
ad2,Bo Admin,ad2@example.com,active,admin
op1,Olle Operator,op1@example.com,active,operator
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def set_value(workspace: Path, name: str, value: str) -> None:
    """Give option `name` a `value:` line under its default, as an administrator does."""
    path = workspace / "rules" / OPTIONS
    text = path.read_text()
    end = text.index("\n", text.index("    default: ", text.index(f"  {name}:\n"))) + 1
    path.write_text(text[:end] + f"    value: {value}\n" + text[end:])


@pytest.fixture
def admins(run: Run, stored: StoreUnderTest) -> StoreUnderTest:
    """The store with two admins, an operator and two holders."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return stored


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A second copy of the reference workspace, as shipped."""
    return copy_reference(tmp_path / "reference")


@pytest.fixture
def queue_off(workspace: Path) -> Path:
    """The workspace copy with the queue off: an order goes to the bureau at once (`ordered`, not `processing`)."""
    set_value(workspace, QUEUE, "false")
    return workspace


def releases(run: Run) -> list[dict[str, Any]]:
    return list(ok(run("releases", "--json")))


def order_states(run: Run, *extra: str) -> list[str]:
    """Order a card for u1 as op1 (a dry run) and say where it would go."""
    output = ok(run("run", ORDER, "--user", "u1", "--as", "op1", "--dry-run", "--json", *extra))
    return [result["state"] for result in output["results"]]


def test_with_one_admin_a_release_is_live_at_once_and_the_same_files_are_not_published_twice(
    run: Run, stored: StoreUnderTest, workspace: Path
) -> None:
    (stored.folder / "users.csv").write_text(USERS.replace(",admin\nad2,Bo Admin,ad2@example.com,active,admin", ",admin"))
    assert run("users", "import", "users.csv").exit_code == 0
    published = ok(run("publish", "--workspace", str(workspace), "--as", "ad1", "-m", "first", "--json"))
    assert published["status"] == "live" and published["parent"] is None and published["message"] == "first"
    [listed] = releases(run)
    assert listed == published and set(listed) == {
        "id", "parent", "status", "published_by", "published_at", "approved_by", "message", "fingerprint",
    }  # fmt: skip
    again = run("publish", "--workspace", str(workspace), "--as", "ad1")
    assert again.exit_code == 1 and f"nothing to publish: the workspace is release {published['id']}, live" in again.output
    stored_files = stored.scalar("SELECT count(*) FROM release_files WHERE release_id = :id", id=published["id"])
    assert stored_files == len([p for p in workspace.rglob("*") if p.is_file()])


def test_with_two_admins_a_release_waits_for_the_second_and_never_for_its_publisher(
    run: Run, admins: StoreUnderTest, reference: Path, queue_off: Path
) -> None:
    base = ok(run("publish", "--workspace", str(reference), "--as", "ad1", "--json"))
    assert base["status"] == "pending" and releases(run)[0]["status"] == "pending"
    own = run("release", "approve", base["id"], "--as", "ad1")
    assert own.exit_code == 1 and "ad1 asked for release" in own.output and "four-eyes" in own.output
    operator = run("release", "approve", base["id"][:6], "--as", "op1")
    assert operator.exit_code == 1 and "does not have the admin role" in operator.output
    assert ok(run("release", "approve", "pending", "--as", "ad2", "--json"))["approved_by"] == "ad2"
    change = ok(run("publish", "--workspace", str(queue_off), "--as", "ad2", "-m", "queue off", "--json"))
    assert change["status"] == "pending" and change["parent"] == base["id"]
    assert order_states(run) == ["processing"], "a pending release is not run"
    ok(run("release", "approve", change["id"], "--as", "ad1", "--json"))
    assert [(r["id"], r["status"]) for r in releases(run)] == [(change["id"], "live"), (base["id"], "retired")]
    assert order_states(run) == ["ordered"], "every command over the store runs the live release"
    rolled_back = ok(run("release", "activate", base["id"], "--as", "ad2", "--json"))
    assert rolled_back["status"] == "pending" and order_states(run) == ["ordered"]
    mine = run("release", "approve", base["id"], "--as", "ad2")
    assert mine.exit_code == 1 and "four-eyes" in mine.output, "who asked for the rollback cannot approve it"
    ok(run("release", "approve", base["id"], "--as", "ad1", "--json"))
    assert order_states(run) == ["processing"], "the rollback is live for the next command"


def test_a_workspace_given_is_run_and_said_not_to_be_the_live_release(
    run: Run, admins: StoreUnderTest, reference: Path, queue_off: Path
) -> None:
    published = ok(run("publish", "--workspace", str(queue_off), "--as", "ad1", "--json"))
    ok(run("release", "approve", published["id"], "--as", "ad2", "--json"))
    given = run("run", ORDER, "--user", "u1", "--as", "op1", "--dry-run", "--workspace", str(reference))
    assert given.exit_code == 0 and "processing" in given.stdout
    assert f"running the workspace {reference}, not the store's live release {published['id']}" in given.stderr
    same = run("run", ORDER, "--user", "u1", "--as", "op1", "--dry-run", "--workspace", str(queue_off))
    assert same.exit_code == 0 and "not the store's live release" not in same.stderr


def test_release_diff_and_the_plan_show_the_option_changes_with_where_each_was_set(
    run: Run, admins: StoreUnderTest, workspace: Path, reference: Path
) -> None:
    base = ok(run("publish", "--workspace", str(reference), "--as", "ad1", "--json"))
    ok(run("release", "approve", base["id"], "--as", "ad2", "--json"))
    assert run("publish", "--plan", "--workspace", str(reference)).exit_code == 0
    set_value(workspace, QUEUE, "false")
    line = (workspace / "rules" / OPTIONS).read_text().splitlines().index("    value: false") + 1
    plan = run("publish", "--plan", "--workspace", str(workspace), "--json")
    assert plan.exit_code == 2
    planned = json.loads(plan.stdout)
    expected = {
        "variable": QUEUE, "left": True, "left_source": "default", "right": False, "right_source": f"rules/{OPTIONS}:{line}",
    }  # fmt: skip
    assert planned["options"] == [expected] and planned["files"]["changed"].keys() == {f"rules/{OPTIONS}"}
    change = ok(run("publish", "--workspace", str(workspace), "--as", "ad1", "--json"))
    diff = run("release", "diff", base["id"], change["id"][:8], "--json")
    assert diff.exit_code == 1 and json.loads(diff.stdout)["options"] == [expected]
    shown = run("release", "diff", "live", "pending")
    assert shown.exit_code == 1 and f"option {QUEUE}: true (default) -> false (rules/{OPTIONS}:{line})" in shown.output
    assert "+    value: false" in shown.output
    assert run("release", "diff", "live", base["id"]).exit_code == 0


def test_explain_names_the_release_of_each_decision(run: Run, admins: StoreUnderTest, queue_off: Path) -> None:
    published = ok(run("publish", "--workspace", str(queue_off), "--as", "ad1", "--json"))
    ok(run("release", "approve", published["id"], "--as", "ad2", "--json"))
    [card] = [r["card"] for r in ok(run("run", ORDER, "--user", "u1", "--as", "op1", "--json"))["results"]]
    story = ok(run("explain", str(card), "--json"))
    assert [move["release"] for move in story["transitions"]] == [published["id"]]
    told = run("explain", str(card))
    assert told.exit_code == 0 and f"release {published['id']}: " in told.output


def test_mistakes_are_told_in_one_line(run: Run, admins: StoreUnderTest, workspace: Path) -> None:
    assert "no release 'abc'" in run("release", "show", "abc").output
    assert "no release is live" in run("release", "approve", "live", "--as", "ad2").output
    nobody = run("publish", "--workspace", str(workspace), "--as", "zz9")
    assert nobody.exit_code == 2 and "zz9: no such user in the store" in nobody.output
    assert "needs --as ID" in run("publish", "--workspace", str(workspace)).output
    (workspace / "processes" / f"{ORDER}.yaml").write_text("symbolic_name: [\n")
    broken = run("publish", "--workspace", str(workspace), "--as", "ad1")
    assert broken.exit_code == 1 and "run `cardflow validate`" in broken.output
    assert admins.scalar("SELECT count(*) FROM releases") == 0


def test_a_site_that_turned_review_off_has_its_releases_live_at_once(
    run: Run, admins: StoreUnderTest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDFLOW_RELEASE_REVIEW", "off")
    assert ok(run("publish", "--workspace", str(workspace), "--as", "ad1", "--json"))["status"] == "live"


def test_two_admins_approving_at_once_make_one_release_live_once(
    run: Run, admins: StoreUnderTest, workspace: Path, reference: Path, queue_off: Path
) -> None:
    """Two approvals of the pending release at the same moment: one makes it live, the other is refused."""
    import threading

    from engine.errors import Refused
    from engine.releases.publishing import approve
    from engine.store.queries import open_store

    (admins.folder / "third.csv").write_text("id,name,email,state,roles\nad3,Cy Admin,ad3@example.com,active,admin\n")
    assert run("users", "import", "third.csv").exit_code == 0
    base = ok(run("publish", "--workspace", str(reference), "--as", "ad1", "--json"))
    ok(run("release", "approve", base["id"], "--as", "ad2", "--json"))
    waiting = ok(run("publish", "--workspace", str(queue_off), "--as", "ad1", "--json"))["id"]
    engine, start, outcomes = open_store(admins.url), threading.Barrier(2), []

    def approve_as(admin: str) -> None:
        start.wait()
        try:
            outcomes.append(approve(engine, waiting, admin).release["status"])
        except Refused as refused:
            outcomes.append(refused.message)

    threads = [threading.Thread(target=approve_as, args=(admin,)) for admin in ("ad2", "ad3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert len(outcomes) == 2 and outcomes.count("live") == 1, outcomes
    assert admins.rows("SELECT id FROM releases WHERE status = 'live'") == [(waiting,)]
    assert admins.scalar("SELECT count(*) FROM release_log WHERE event = 'approved'") == 2  # base's and this one's


def test_a_batch_resumed_after_another_release_went_live_runs_the_release_it_started_with(
    run: Run, admins: StoreUnderTest, reference: Path, queue_off: Path
) -> None:
    first = ok(run("publish", "--workspace", str(queue_off), "--as", "ad1", "--json"))["id"]
    ok(run("release", "approve", first, "--as", "ad2", "--json"))
    asked = ("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--batch-id", "b1", "--json")
    assert [r["state"] for r in ok(run(*asked))["results"]] == ["ordered", "ordered"]
    second = ok(run("publish", "--workspace", str(reference), "--as", "ad2", "--json"))["id"]
    ok(run("release", "approve", second, "--as", "ad1", "--json"))
    again = run(*asked)
    assert again.exit_code == 0 and "other definitions" not in again.output, again.output
    assert run("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", "b1", "--workspace", str(reference)).exit_code == 2


def test_the_triggers_of_the_live_release_are_commands(run: Run, admins: StoreUnderTest, workspace: Path) -> None:
    """A trigger the live release declares is a command in any folder; one it no longer has is not."""
    import re

    for path in [*(workspace / "processes").glob("*.yaml"), *(workspace / "lifecycles").glob("*.yaml")]:
        path.write_text(re.sub(r"\block\b", "block", path.read_text()))
    published = ok(run("publish", "--workspace", str(workspace), "--as", "ad1", "--json"))
    ok(run("release", "approve", published["id"], "--as", "ad2", "--json"))
    assert run("block", "--help").exit_code == 0
    gone = run("lock", "1", "--as", "op1")
    assert gone.exit_code == 2 and "no such command 'lock'" in gone.output and "block" in gone.output
