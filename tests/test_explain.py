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
