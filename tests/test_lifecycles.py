"""Lifecycles shared by processes (lifecycles/*.yaml): written once, each process that names one adding
how it creates its cards. The reference's "Request card" and "Request multiple cards" share CardRequest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run, StoreUnderTest

from engine.definitions.workspace import load_workspace

REQUEST_ONE, REQUEST_MANY = "CardsProcRequest", "CardsBoProcRequestMulitple"
LIFECYCLE = Path("lifecycles") / "CardRequest.yaml"
USERS = "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\nap1,Anna,ap1@example.com,active,approver\n"
USERS += "u1,Alice,alice@example.com,active,\nu2,Bertil,bertil@example.com,active,\n"


def edit(workspace: Path, file: Path, old: str, new: str) -> None:
    path = workspace / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(workspace: Path, file: Path, text: str) -> int:
    return next(i for i, line in enumerate((workspace / file).read_text().splitlines(), 1) if text in line)


def errors(workspace: Path) -> list[tuple[str, str, int]]:
    return [(d.code, d.location.file, d.location.line) for d in load_workspace(workspace).diagnostics if d.severity == "error"]


def test_two_processes_naming_one_lifecycle_share_its_states_and_transitions(workspace: Path) -> None:
    """Both have the lifecycle's states and transitions (located in its file), after their own `start`."""
    loaded = load_workspace(workspace)
    assert loaded.ok, loaded.diagnostics
    one, many = loaded.processes[REQUEST_ONE], loaded.processes[REQUEST_MANY]
    assert one.lifecycle == many.lifecycle == "CardRequest"
    assert one.states == many.states and "requested" in one.states
    shared = [t for t in one.transitions if t.trigger != "start"]
    assert shared == [t for t in many.transitions if t.trigger != "start"]
    assert {t.location.file for t in shared} == {str(LIFECYCLE), str(IN_USE)}  # and the lifecycle it includes
    assert [t.trigger for t in one.transitions[:2]] == ["start", "start"]  # its own come first
    guards = {p.symbolic_name: p.transitions[0].guard.text for p in (one, many) if p.transitions[0].guard}
    assert guards == {REQUEST_ONE: "options.CardsRequestApproval", REQUEST_MANY: "options.CardsBatchRequestApproval"}


@pytest.fixture
def cf(run: Run, stored: StoreUnderTest) -> Run:
    (stored.folder / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def test_each_process_creates_its_cards_its_own_way_and_both_live_the_lifecycle(cf: Run) -> None:
    """Request card waits for an approver (CardsRequestApproval, default true); Request multiple cards
    is approved at once (CardsBatchRequestApproval, default false); the shared `approve` decides the first."""
    one = json.loads(cf("run", REQUEST_ONE, "--user", "u1", "--as", "op1", "--json").stdout)
    many = json.loads(cf("run", REQUEST_MANY, "--user", "u2", "--as", "op1", "--json").stdout)
    assert [r["state"] for r in one["results"]] == ["requested"]
    assert [r["state"] for r in many["results"]] == ["approved"]
    card = one["results"][0]["card"]
    assert cf("approve", str(card), "--as", "ap1").exit_code == 0
    shown = json.loads(cf("cards", "--user", "u1", "--json").stdout)
    assert [(c["process"], c["state"]) for c in shown] == [(REQUEST_ONE, "approved")]


def test_a_problem_in_a_lifecycle_is_reported_once_in_its_file(workspace: Path) -> None:
    """A typo in a shared transition: one E203 at the lifecycle's line, not one a process that names it."""
    edit(workspace, LIFECYCLE, "    dest: rejected\n", "    dest: rejectd\n")
    line = line_of(workspace, LIFECYCLE, "rejectd")
    assert [found for found in errors(workspace) if found[0] == "E203"] == [("E203", str(LIFECYCLE), line)]


def test_a_process_naming_an_unknown_lifecycle_is_E278_with_a_close_name(workspace: Path) -> None:
    edit(workspace, Path("processes") / f"{REQUEST_ONE}.yaml", "lifecycle: CardRequest", "lifecycle: CardRequets")
    (found,) = [d for d in load_workspace(workspace).diagnostics if d.code == "E278"]
    assert "did you mean 'CardRequest'?" in found.message


def test_an_edited_lifecycle_is_read_again_and_changes_the_fingerprint(cf: Run, workspace: Path) -> None:
    """The workspace cache keys on lifecycle files: an edit is seen at once by `validate` and by a run."""
    before = load_workspace(workspace).fingerprint
    assert cf("validate", "--workspace", str(workspace)).exit_code == 0
    edit(workspace, LIFECYCLE, "    dest: rejected\n", "    dest: rejectd\n")
    assert load_workspace(workspace).fingerprint != before
    broken = cf("validate", "--workspace", str(workspace))
    assert broken.exit_code == 1 and f"{LIFECYCLE}:" in broken.stdout


def test_a_lifecycle_that_names_another_file_is_refused(workspace: Path) -> None:
    edit(workspace, LIFECYCLE, "lifecycle: CardRequest\n", "lifecycle: CardOrder\n")
    codes = errors(workspace)
    assert ("E106", str(LIFECYCLE), line_of(workspace, LIFECYCLE, "lifecycle: CardOrder")) in codes
    assert all(file != f"processes/{REQUEST_ONE}.yaml" for _, file, _ in codes)  # reported once, in the lifecycle


def test_an_action_process_naming_a_lifecycle_is_refused(workspace: Path) -> None:
    decide = Path("processes") / "CardsBoProcDecideRequest.yaml"
    edit(workspace, decide, "kind: action\n", "kind: action\nlifecycle: CardRequest\n")
    found = [d for d in load_workspace(workspace).diagnostics if d.code == "E106"]
    assert [d.message for d in found] == ["'lifecycle' does not belong in a process of kind 'action'"]


def test_init_copies_the_lifecycles(cli: Run, tmp_path: Path) -> None:
    target = tmp_path / "site"
    assert cli("init", str(target)).exit_code == 0
    assert (target / LIFECYCLE).is_file()
    assert cli("validate", "--workspace", str(target)).exit_code == 0


IN_USE = Path("lifecycles") / "CardInUse.yaml"
ORDER = Path("lifecycles") / "CardOrder.yaml"
MAKERS = (REQUEST_ONE, REQUEST_MANY, "CardsAddonExtProdProcOrder", "CardsAddonExtProdBoProcOrderMultiple")


def test_a_lifecycle_included_by_two_is_shared_by_every_process_of_both(workspace: Path) -> None:
    """CardInUse, included by CardRequest and CardOrder: the four processes that make cards have its
    states and transitions, each located in its file, after their lifecycle's own."""
    loaded = load_workspace(workspace)
    assert loaded.ok, loaded.diagnostics
    shared = [
        [(t.trigger, t.source, t.dest, t.location) for t in loaded.processes[name].transitions if t.location.file == str(IN_USE)]
        for name in MAKERS
    ]
    assert shared[0] and all(transitions == shared[0] for transitions in shared)
    for name in MAKERS:
        process = loaded.processes[name]
        assert {"active", "inactive", "locked"} <= set(process.states)
        files = [t.location.file for t in process.transitions]
        assert files.index(str(IN_USE)) > max(i for i, file in enumerate(files) if file != str(IN_USE))  # its own first
        assert "valid_until" in process.fields


def test_a_problem_in_an_included_lifecycle_is_reported_once_in_its_file(workspace: Path) -> None:
    edit(workspace, IN_USE, "    dest: locked\n", "    dest: lockd\n")
    assert [found for found in errors(workspace) if found[0] == "E203"] == [
        ("E203", str(IN_USE), line_of(workspace, IN_USE, "lockd"))
    ]


def test_an_unknown_included_lifecycle_is_E278_and_its_processes_are_not_built(workspace: Path) -> None:
    edit(workspace, ORDER, "includes: [CardInUse]", "includes: [CardInUze]")
    loaded = load_workspace(workspace)
    (found,) = [d for d in loaded.diagnostics if d.code == "E278"]
    assert (found.location.file, found.location.line) == (str(ORDER), line_of(workspace, ORDER, "CardInUze"))
    assert "did you mean 'CardInUse'?" in found.message
    assert "CardsAddonExtProdProcOrder" not in loaded.processes and REQUEST_ONE in loaded.processes


def test_lifecycles_that_include_each_other_are_E285_once(workspace: Path) -> None:
    edit(workspace, IN_USE, "lifecycle: CardInUse\n", "lifecycle: CardInUse\nincludes: [CardOrder]\n")
    (loop,) = [d for d in load_workspace(workspace).diagnostics if d.code == "E285"]
    assert "(CardInUse -> CardOrder -> CardInUse)" in loop.message and loop.location.file == str(ORDER)
