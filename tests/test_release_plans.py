"""A release planned against the store under test before it goes live: the open cards it would
strand are named and refused, moved by its release.yaml when it declares where they go; a plan kept
in a file is published exactly, and refused once the store changed since."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest
from workspace_copies import copy_reference

REQUEST = "CardsBoProcRequestMulitple"
APPROVAL = ("--set", "CardsBatchRequestApproval=true")
USERS = """id,name,email,state,roles
ad1,Ada Admin,ad1@example.com,active,admin
ad2,Bo Admin,ad2@example.com,active,admin
op1,Olle Operator,op1@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
u3,Cecilia,cecilia@example.com,active,
u4,David,david@example.com,active,
"""
MOVES = f"moves:\n  {REQUEST}:\n    requested: awaiting\n"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def requested(run: Run, stored: StoreUnderTest, tmp_path: Path) -> dict[str, int]:
    """The shipped workspace live, and three requests of u1, u2 and u3 waiting in `requested`: their card ids."""
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    shipped = copy_reference(tmp_path / "shipped")
    live = ok(run("publish", "--workspace", str(shipped), "--as", "ad1", "--json"))
    ok(run("release", "approve", live["id"], "--as", "ad2", "--json"))
    made = ok(run("run", REQUEST, "--user", "u1", "--user", "u2", "--user", "u3", "--as", "op1", *APPROVAL, "--json"))
    assert {result["state"] for result in made["results"]} == {"requested"}
    return {result["user"]: result["card"] for result in made["results"]}


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    """A workspace whose state `requested` is called `awaiting`: the cards waiting in it would be stranded."""
    folder = copy_reference(tmp_path / "renamed")
    for path in [*(folder / "processes").glob("*.yaml"), *(folder / "lifecycles").glob("*.yaml")]:
        path.write_text(re.sub(r"\brequested\b", "awaiting", path.read_text()))
    return folder


def test_a_release_stranding_three_requested_cards_is_refused_naming_them(
    run: Run, requested: dict[str, int], renamed: Path, stored: StoreUnderTest
) -> None:
    refused = run("publish", "--workspace", str(renamed), "--as", "ad1")
    assert refused.exit_code == 1
    assert f"would strand 3 open card(s): 3 card(s) of {REQUEST} in 'requested' (its state is gone)" in refused.output
    assert "release.yaml" in refused.output
    assert stored.scalar("SELECT count(*) FROM releases") == 1, "nothing was published"
    plan = run("publish", "--plan", "--workspace", str(renamed), "--json")
    assert plan.exit_code == 2
    [group] = json.loads(plan.stdout)["stranded"]
    assert group == {"process": REQUEST, "state": "requested", "count": 3, "why": "its state is gone", "to": None}


def test_a_release_that_moves_them_is_published_from_its_plan_and_moves_them_when_it_goes_live(
    run: Run, requested: dict[str, int], renamed: Path, stored: StoreUnderTest, tmp_path: Path
) -> None:
    (renamed / "release.yaml").write_text(MOVES)
    plan_file = tmp_path / "plan.json"
    planned = run("publish", "--plan", "--out", str(plan_file), "--workspace", str(renamed))
    assert planned.exit_code == 2 and f"cards: 3 of {REQUEST} in 'requested' (its state is gone) -> 'awaiting'" in planned.output
    kept = json.loads(plan_file.read_text())
    assert kept["stranded"][0]["to"] == "awaiting" and kept["population"], "each process's outcomes were planned"
    ok(run("run", REQUEST, "--user", "u4", "--as", "op1", *APPROVAL, "--json"))  # the store changes after the plan
    stale = run("publish", "--plan-file", str(plan_file), "--workspace", str(renamed), "--as", "ad1")
    assert stale.exit_code == 1 and "the plan is stale: the store's cards or users changed since" in stale.output
    assert run("publish", "--plan", "--out", str(plan_file), "--workspace", str(renamed)).exit_code == 2
    release = ok(run("publish", "--plan-file", str(plan_file), "--workspace", str(renamed), "--as", "ad1", "--json"))
    assert release["status"] == "pending"
    assert stored.rows("SELECT DISTINCT state FROM cards") == [("requested",)], "nothing moves before it is live"
    shown = ok(run("release", "show", release["id"], "--json"))
    assert shown["plan"]["stranded"][0]["count"] == 4 and "release.yaml" in [f["path"] for f in shown["files"]]
    approved = run("release", "approve", release["id"], "--as", "ad2")
    assert approved.exit_code == 0 and "4 open card(s) moved" in approved.output
    assert stored.rows("SELECT DISTINCT state FROM cards") == [("awaiting",)]
    story = ok(run("explain", str(requested["u1"]), "--json"))
    last = story["transitions"][-1]
    assert (last["trigger"], last["source"], last["dest"], last["release"]) == ("release", "requested", "awaiting", release["id"])
    assert last["actor"] == "ad2" and release["id"] in last["reason"]
    ok(run("approve", str(requested["u2"]), "--as", "ap1", "--json"))  # a moved card goes on under the new release
    assert stored.scalar("SELECT state FROM cards WHERE id = :card", card=requested["u2"]) == "approved"


def test_a_release_yaml_that_moves_cards_nowhere_is_told_at_its_line(run: Run, requested: dict[str, int], renamed: Path) -> None:
    (renamed / "release.yaml").write_text(MOVES.replace("awaiting", "awaitin"))
    told = run("publish", "--plan", "--workspace", str(renamed))
    assert told.exit_code == 2 and "release.yaml:3:16: E203 unknown state 'awaitin' (did you mean 'awaiting'?)" in told.output
    checked = run("validate", "--workspace", str(renamed))
    assert checked.exit_code == 1 and "release.yaml:3:16: E203 unknown state 'awaitin'" in checked.output


def test_cards_in_a_state_that_gains_a_timer_are_planned_and_marked_waiting_with_none(
    run: Run, stored: StoreUnderTest, tmp_path: Path
) -> None:
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    shipped, timed = copy_reference(tmp_path / "shipped"), copy_reference(tmp_path / "timed")
    live = ok(run("publish", "--workspace", str(shipped), "--as", "ad1", "--json"))
    ok(run("release", "approve", live["id"], "--as", "ad2", "--json"))
    ok(run("run", REQUEST, "--user", "u1", "--user", "u2", "--as", "op1", "--json"))  # approved at once: no timers there
    lifecycle = timed / "lifecycles" / "CardRequest.yaml"
    waits = "  approved:\n    description: The card request is approved; the card waits to be issued"
    text = lifecycle.read_text()
    end = text.index("\n", text.index(waits)) + 1
    lifecycle.write_text(text[:end] + "    timers:\n      - after: P30D\n        fire: issue\n" + text[end:])
    planned = json.loads(run("publish", "--plan", "--workspace", str(timed), "--json").stdout)
    assert planned["timers"] == [{"process": REQUEST, "state": "approved", "cards": 2, "before": 0, "after": 1}]
    release = ok(run("publish", "--workspace", str(timed), "--as", "ad1", "--json"))
    assert stored.scalar("SELECT count(*) FROM cards WHERE timerless") == 0
    ok(run("release", "approve", release["id"], "--as", "ad2", "--json"))
    assert stored.scalar("SELECT count(*) FROM cards WHERE timerless AND state = 'approved'") == 2
