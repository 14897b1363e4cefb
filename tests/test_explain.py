"""`cardflow explain`: a card's story names the options that routed it and where they were set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


@pytest.fixture
def story(run: Run, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A card requested with the approval step set in the option script, approved, queued and ordered."""
    monkeypatch.setenv("CARDFLOW_NOW", "2026-11-21T09:00:00Z")
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    text = rules.read_text()
    block = text.index("  CardsAddonExtProdBatchOrderApproval:")
    text = text[:block] + text[block:].replace("    default: false\n", "    default: false\n    value: true\n", 1)
    rules.write_text(text)
    (tmp_path / "cwd" / "users.csv").write_text(
        "id,name,email,state,roles\nop1,Olle,op1@example.com,active,operator\nap1,Anna,ap1@example.com,active,approver\n"
        "u1,Alice,alice@example.com,active,\n"
    )
    ws = ["--workspace", str(workspace)]
    assert run("users", "import", "users.csv").exit_code == 0
    assert run("run", ORDER, "--user", "u1", "--as", "op1", "--batch-id", "B1", *ws).exit_code == 0
    assert run("approve", "1", "--as", "ap1", *ws).exit_code == 0
    assert run("queue", "run", *ws).exit_code == 0
    result = run("explain", "1")
    assert result.exit_code == 0
    return result.stdout


def test_explain_names_options_and_where_they_were_set(story: str) -> None:
    """The approval step is named with the file and line that set it; the queue with its default."""
    assert "CardsAddonExtProdBatchOrderApproval is true (set at rules/CardsAddonExtProdScriptOptions.yaml:" in story
    assert "CardsAddonExtProdQueue is true (the default)" in story
    assert "The card bureau (dropfolder) was asked to produce the card and accepted it" in story
    assert "It is now 'ordered'" in story


def test_each_step_names_the_process_that_did_it_in_words(story: str) -> None:
    """A step of the system is told as the system's, by its process's name (the batch sync is not every system step)."""
    assert "'start' by op1 (Order multiple cards, CardsAddonExtProdBoProcOrderMultiple) in batch B1" in story
    assert "'order' by the system (Batch sync of queued card orders, CardsAddonExtProdBatchSync)" in story


def test_explain_golden(story: str, golden: object) -> None:
    """The whole story, word for word."""
    golden("explain_approved_queued_ordered.txt", story)  # type: ignore[operator]


def test_explain_unknown_card(run: Run) -> None:
    """An unknown card is a one-line usage error."""
    from engine.store import db

    db.connect(os.environ.get("CARDFLOW_DB") or "cardflow.db").dispose()  # the store under test, made
    result = run("explain", "99")
    assert result.exit_code == 2 and result.stderr.strip() == "cardflow: unknown card 99"


@pytest.fixture
def approval_off_again(story: str, workspace: Path) -> None:
    """The approval step is switched off after the card ran with it on."""
    rules = workspace / "rules" / "CardsAddonExtProdScriptOptions.yaml"
    rules.write_text(rules.read_text().replace("    default: false\n    value: true\n", "    default: false\n", 1))


def test_the_path_is_drawn_on_the_machine_its_batch_ran_on(approval_off_again: None, run: Run, workspace: Path) -> None:
    """Mermaid: the moves numbered on their edges, the states passed through marked, the card's own
    state current; the approval step is drawn although the options in force no longer have it."""
    result = run("explain", "1", "--format", "mermaid", "--workspace", str(workspace))
    assert result.exit_code == 0, result.stderr
    diagram = result.stdout.splitlines()
    assert diagram[0] == "stateDiagram-v2"
    assert "    registered --> requested : 1 · start" in diagram
    assert "    requested --> processing : 2 · approve" in diagram
    assert "    processing --> ordered : 3 · order [bureau.accepted]" in diagram
    assert "    processing --> aborted : abort" in diagram  # not taken: no number
    marked = [line.split()[1:] for line in diagram if line.startswith("    class ")]
    assert marked == [["registered", "visited"], ["requested", "visited"], ["processing", "visited"], ["ordered", "current"]]
    drawn_now = run("graph", ORDER, "--workspace", str(workspace)).stdout
    assert "requested" not in drawn_now  # the options in force have no approval step


def test_the_story_as_one_page(story: str, run: Run, workspace: Path) -> None:
    """HTML: the path, each move a timeline entry opening on why (the guard and the values it read),
    Mermaid inlined so the page needs nothing else."""
    result = run("explain", "1", "--format", "html", "--workspace", str(workspace))
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert '<pre class="mermaid">stateDiagram-v2' in page and "class ordered current" in page
    assert page.count("<details") == 3 and "<details open><summary>" in page
    assert "because `bureau.accepted` is true" in page.replace("&#96;", "`")
    assert "<script src=" not in page and len(page) > 1_000_000  # the vendored script, inlined


def test_a_format_that_is_not_one_is_a_usage_error(story: str, run: Run) -> None:
    result = run("explain", "1", "--format", "svg")
    assert result.exit_code == 2 and "'svg' is not one of 'text', 'mermaid', 'html'" in result.stderr
