"""Effect kind `fire`: a transition fires a trigger on the holder's other cards that `where` selects,
in its own transaction, each a transition of its own with its effects; loops and unknown triggers
are diagnostics (tests/fire: activating a card deactivates the holder's other active cards)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ORDER_FILE = f"processes/{ORDER}.yaml"
#: Straight to the bureau, several cards a user.
ORDERING = ("--set", "CardsAddonExtProdQueue=false", "--set", "CardsAddonExtProdMultipleCards=true")
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
op2,Oda Operator,op2@example.com,active,operator
ap1,Anna Approver,ap1@example.com,active,approver
adm,Ada Admin,adm@example.com,active,admin
u1,Alice,alice@example.com,active,
u2,Bertil,bertil@example.com,active,
"""


@pytest.fixture
def cf(run: Run, tmp_path: Path, fire_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The command line over the fire workspace, in a folder holding a store with its people."""
    monkeypatch.setenv("CARDFLOW_WORKSPACE", str(fire_workspace))
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def produced(cf: Run, folder: Path, *users: str) -> list[int]:
    """Order each user a card (a run each), then let the bureau report every new order produced."""
    cards = [ok(cf("run", ORDER, "--user", user, "--as", "op1", "--json", *ORDERING))["results"][0]["card"] for user in users]
    (folder / "orders" / "status").mkdir(exist_ok=True)
    for order in (folder / "orders").glob("*.json"):
        if not (folder / "orders" / "status" / order.name).exists():
            (folder / "orders" / "status" / order.name).write_text(json.dumps({"status": "produced"}))
    assert cf("orders", "sync").exit_code == 0
    return [int(card) for card in cards]


def states(cf: Run) -> dict[int, str]:
    return {card["id"]: card["state"] for card in ok(cf("cards", "--json"))}


def test_activating_a_card_deactivates_the_holders_other_active_cards(cf: Run, tmp_path: Path, stored: StoreUnderTest) -> None:
    """With "Allow multiple active cards" off, `activate` on u1's second card fires `deactivate` on u1's active
    first card (not on u2's): its own audit row with the same actor and batch, the cause as its reason, its own email."""
    first, second, others = produced(cf, tmp_path / "cwd", "u1", "u1", "u2")
    ok(cf("activate", str(first), str(others), "--as", "op1", "--json"))
    ok(cf("activate", str(second), "--as", "op2", "--json"))
    assert states(cf) == {first: "inactive", second: "active", others: "active"}
    rows = stored.rows(
        "SELECT card_id, trigger, actor, batch_id, reason FROM transitions WHERE card_id IN (:a, :b)", a=first, b=second
    )
    (activated,) = [row for row in rows if row[:2] == (second, "activate")]
    (deactivated,) = [row for row in rows if row[1] == "deactivate"]
    assert deactivated == (first, "deactivate", "op2", activated[3], f"fired by card {second}'s activate")
    emails = stored.rows("SELECT template, recipient FROM outbox WHERE template = 'card_deactivated'")
    assert emails == [("card_deactivated", "alice@example.com")]


def test_explain_names_the_card_whose_transition_fired_it(cf: Run, tmp_path: Path) -> None:
    """`explain` of a deactivated card shows the reason its deactivation was fired: the other card's activate."""
    first, second = produced(cf, tmp_path / "cwd", "u1", "u1")
    ok(cf("activate", str(first), "--as", "op1", "--json"))
    ok(cf("activate", str(second), "--as", "op1", "--json"))
    shown = cf("explain", str(first))
    assert shown.exit_code == 0, shown.output
    assert f"fired by card {second}'s activate" in shown.stdout


def test_with_multiple_active_cards_allowed_activating_fires_nothing(cf: Run, tmp_path: Path) -> None:
    """The fire's `when: not options.CardsMultipleActive`: with the option on, both of u1's cards stay active."""
    first, second = produced(cf, tmp_path / "cwd", "u1", "u1")
    allowed = ("--set", "CardsMultipleActive=true")
    ok(cf("activate", str(first), "--as", "op1", "--json", *allowed))
    ok(cf("activate", str(second), "--as", "op1", "--json", *allowed))
    assert states(cf) == {first: "active", second: "active"}


def test_a_batch_over_cards_fires_on_the_other_cards_in_its_transaction(cf: Run, tmp_path: Path) -> None:
    """`run TestBoProcActivateMultiple` over two produced cards of u1: the later activation deactivates the earlier."""
    first, second = produced(cf, tmp_path / "cwd", "u1", "u1")
    result = ok(cf("run", "TestBoProcActivateMultiple", "--card", str(first), "--card", str(second), "--as", "op1", "--json"))
    assert [r["status"] for r in result["results"]] == ["done", "done"]
    assert states(cf) == {first: "inactive", second: "active"}


#: The last transition of the fire workspace's order process: more are added after it.
LAST_TRANSITION = "      - email: card_deactivated\n        to: holder\n"


def more_transitions(workspace: Path, transitions: str) -> None:
    """Add `transitions` (YAML) after the last transition of the order process."""
    path = workspace / ORDER_FILE
    text = path.read_text()
    assert text.count(LAST_TRANSITION) == 1
    path.write_text(text.replace(LAST_TRANSITION, LAST_TRANSITION + transitions))


def test_a_batch_that_creates_cards_fires_on_the_holders_older_cards(cf: Run, fire_workspace: Path) -> None:
    """A new order that aborts the holder's queued ones (`fire: abort` on start -> processing): a second run for
    u1 aborts u1's first card, as its own transition with the cause as reason, and leaves u2's queued card."""
    edit(
        fire_workspace,
        "    dest: processing\n    guard: not options.CardsAddonExtProdBatchOrderApproval and options.CardsAddonExtProdQueue\n",
        "    dest: processing\n    guard: not options.CardsAddonExtProdBatchOrderApproval and options.CardsAddonExtProdQueue\n"
        "    effects:\n      - fire: abort\n        where: \"card.state == 'processing'\"\n",
    )
    several = ("--set", "CardsAddonExtProdMultipleCards=true")
    (first, others) = [
        r["card"] for r in ok(cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", "--json", *several))["results"]
    ]
    (second,) = [r["card"] for r in ok(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json", *several))["results"]]
    assert states(cf) == {first: "aborted", second: "processing", others: "processing"}
    (aborted,) = [step for step in ok(cf("explain", str(first), "--json"))["transitions"] if step["trigger"] == "abort"]
    assert aborted["reason"] == f"fired by card {second}'s start"


def test_a_sync_fires_on_a_card_of_its_own_chunk_in_the_state_the_fire_left(
    cf: Run, tmp_path: Path, fire_workspace: Path
) -> None:
    """The status sync reports both of u1's ordered cards produced, in one chunk; the first one's `fire:
    production_failed` fails the second, which the sync then finds failed (not ordered, as it read it):
    the second keeps its fired transition and state, and is not produced."""
    edit(
        fire_workspace,
        "    source: [ordered, in_production]\n    dest: produced\n",
        "    source: [ordered, in_production]\n    dest: produced\n    effects:\n"
        "      - fire: production_failed\n        where: \"card.state == 'ordered'\"\n",
    )
    first, second = produced(cf, tmp_path / "cwd", "u1", "u1")
    assert states(cf) == {first: "produced", second: "failed"}
    history = [(step["trigger"], step["reason"]) for step in ok(cf("explain", str(second), "--json"))["transitions"]]
    assert history[-1] == ("production_failed", f"fired by card {first}'s produced")


def with_loop_back(workspace: Path) -> None:
    """`activate` also fires `touch` on the other active cards, whose `touch` fires `poke` on theirs:
    the card being activated would be poked (no trigger loops; the cards do)."""
    path = workspace / ORDER_FILE
    text = path.read_text()
    text = text.replace(
        "  deactivate:\n",
        "  touch:\n    description: Touched by another card.\n  poke:\n    description: Poked by another card.\n  deactivate:\n",
    )
    text = text.replace(
        "      - email: card_activated\n",
        "      - fire: touch\n        where: \"card.state == 'active'\"\n      - email: card_activated\n",
        1,
    )
    path.write_text(text)
    more_transitions(
        workspace,
        "  - trigger: touch\n    source: active\n    dest: active\n    effects:\n      - fire: poke\n"
        "  - trigger: poke\n    source: [active, produced]\n    dest: active\n",
    )


def test_a_fire_that_reaches_the_card_being_fired_again_is_refused_and_nothing_changes(
    cf: Run, tmp_path: Path, fire_workspace: Path
) -> None:
    """A chain of fires that comes back to a card already in it refuses the transition that started it, with the chain."""
    first, second = produced(cf, tmp_path / "cwd", "u1", "u1")
    ok(cf("activate", str(first), "--as", "op1", "--json", "--set", "CardsMultipleActive=true"))
    with_loop_back(fire_workspace)
    assert cf("validate").exit_code == 0, cf("validate").output
    refused = cf("activate", str(second), "--as", "op1", "--set", "CardsMultipleActive=true")
    assert refused.exit_code == 1, refused.output
    assert f"fire would reach card {second} again" in refused.stderr, refused.stderr
    assert states(cf) == {first: "active", second: "produced"}


def test_a_run_over_cards_whose_fire_comes_back_refuses_that_card_and_writes_nothing_of_it(
    cf: Run, tmp_path: Path, fire_workspace: Path
) -> None:
    """The same loop in a run over cards, where a chunk's rows are written together: the refused card's
    move and audit row are taken back out of the chunk, the other card is activated."""
    first, second, third = produced(cf, tmp_path / "cwd", "u1", "u1", "u2")
    ok(cf("activate", str(first), "--as", "op1", "--json", "--set", "CardsMultipleActive=true"))
    with_loop_back(fire_workspace)
    cards = ("--card", str(second), "--card", str(third))
    refused = cf("run", "TestProcActivateCard", *cards, "--as", "op1", "--set", "CardsMultipleActive=true")
    assert refused.exit_code == 1, refused.output
    assert states(cf) == {first: "active", second: "produced", third: "active"}
    moved = [line for line in cf("explain", str(second)).stdout.splitlines() if "activate" in line]
    assert moved == [], moved


def validate_json(cf: Run) -> list[dict[str, Any]]:
    result = cf("validate", "--json")
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def line_of(path: Path, text: str, after: int = 0) -> int:
    """The line (1-based) of the first line holding `text` after line `after`."""
    lines = path.read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if i >= after and text in line)


def edit(workspace: Path, old: str, new: str) -> Path:
    path = workspace / ORDER_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_fire_of_a_trigger_no_card_process_declares_is_E281_with_a_close_name(cf: Run, fire_workspace: Path) -> None:
    """`fire: deactivat` is E281 at the effect, with "did you mean 'deactivate'?"."""
    path = edit(fire_workspace, "      - fire: deactivate\n", "      - fire: deactivat\n")
    (found,) = [d for d in validate_json(cf) if d["code"] == "E281"]
    assert (found["file"], found["line"], found["col"]) == (ORDER_FILE, line_of(path, "- fire: deactivat"), 9)
    assert "did you mean 'deactivate'?" in found["message"]


def test_a_fire_of_a_trigger_without_a_transition_is_E282(cf: Run, fire_workspace: Path) -> None:
    """A trigger the process declares that no transition takes (`request_activation`'s own, renamed) is E282 at the fire."""
    path = edit(fire_workspace, "      - fire: deactivate\n", "      - fire: dormant\n")
    edit(fire_workspace, "  deactivate:\n", "  dormant:\n    description: Declared, never taken.\n  deactivate:\n")
    found = [d for d in validate_json(cf) if d["code"] == "E282"]
    assert [(d["line"], d["col"]) for d in found] == [(line_of(path, "- fire: dormant"), 9)]


@pytest.mark.parametrize(
    ("where", "code"),
    [("card.state ==", "E301"), ("batch.id == 'b1'", "E303"), ("card.colour == 'red'", "E303"), ("card.state.__class__", "E304")],
)
def test_a_where_that_does_not_parse_or_reads_beyond_the_other_card_and_holder_is_a_diagnostic(
    cf: Run, fire_workspace: Path, where: str, code: str
) -> None:
    """`where` reads only `card` (the other card) and `user` (the holder): else E301/E303/E304 at it."""
    path = edit(fire_workspace, "        where: \"card.state == 'active'\"\n", f'        where: "{where}"\n')
    (found,) = [d for d in validate_json(cf) if d["code"] == code]
    assert (found["line"], found["col"]) == (line_of(path, f'where: "{where}"'), 16)


def test_a_fire_whose_trigger_fires_it_back_is_a_loop_E283(cf: Run, fire_workspace: Path) -> None:
    """`deactivate` firing `activate` on the other cards, whose `activate` fires `deactivate`: E283 at both fires."""
    path = edit(
        fire_workspace,
        "      - email: card_deactivated\n",
        "      - fire: activate\n      - email: card_deactivated\n",
    )
    found = sorted((d["line"], d["col"]) for d in validate_json(cf) if d["code"] == "E283")
    first = line_of(path, "- fire: deactivate")
    again = line_of(path, "- fire: deactivate", first)
    assert found == sorted([(first, 9), (again, 9), (line_of(path, "- fire: activate"), 9)])


def test_a_chain_of_fires_deeper_than_the_limit_is_E284(cf: Run, fire_workspace: Path) -> None:
    """activate -> deactivate -> a -> b -> c is four fires deep: E284 at activate's fire (at most three)."""
    chain = "".join(
        f"  - trigger: {name}\n    source: inactive\n    dest: inactive\n"
        + (f"    effects:\n      - fire: {after}\n" if after else "")
        for name, after in (("a", "b"), ("b", "c"), ("c", None))
    )
    edit(
        fire_workspace,
        "  deactivate:\n",
        "  a: {description: A.}\n  b: {description: B.}\n  c: {description: C.}\n  deactivate:\n",
    )
    path = edit(fire_workspace, "      - email: card_deactivated\n", "      - fire: a\n      - email: card_deactivated\n")
    more_transitions(fire_workspace, chain)
    found = [d for d in validate_json(cf) if d["code"] == "E284"]
    first = line_of(path, "- fire: deactivate")
    assert (found[0]["line"], found[0]["col"]) == (first, 9)
    assert "activate -> deactivate -> a -> b -> c" in found[0]["message"]


ACTIVATE_SCENARIO = f"""\
name: Activating a card deactivates the holder's other active card
users:
  - {{id: op1, name: Olle Operator, email: op1@example.com, state: active, roles: [operator]}}
  - {{id: adm, name: Ada Admin, email: adm@example.com, state: active, roles: [admin]}}
  - {{id: u1, name: Alice, email: alice@example.com, state: active}}
  - {{id: u2, name: Bertil, email: bertil@example.com, state: active}}
cards:
  - {{user: u1, process: {ORDER}, state: active}}
  - {{user: u2, process: {ORDER}, state: active}}
  - {{user: u1, process: {ORDER}, state: produced}}
options:
  CardsMultipleActive: false
steps:
  - activate: [u1]
    as: op1
expect:
  cards:
    u1: [inactive, active]
    u2: [active]
  emails:
    - {{template: card_deactivated, to: alice@example.com}}
    - {{template: card_activated, to: op1@example.com}}
    - {{template: cards_activated, to: adm@example.com}}
"""


def test_a_scenario_sees_the_fired_deactivation(cf: Run, tmp_path: Path) -> None:
    """A scenario activates u1's newest card: the older active one is deactivated, its holder told; u2's is untouched."""
    path = tmp_path / "fire.scenario.yaml"
    path.write_text(ACTIVATE_SCENARIO)
    result = cf("test", str(path), "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["passed"] == 1
