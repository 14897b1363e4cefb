"""`--json` refusals: a command asked for JSON that refuses prints the one error shape on stdout
({"error": {code, message, details}}, as the API answers) and its one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, StoreUnderTest

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = """id,name,email,state,roles,department
op1,Olle Operator,op1@example.com,active,operator,IT
ap1,Anna Approver,ap1@example.com,active,approver,HR
u1,Alice,alice@example.com,active,,Sales
"""


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    """The CLI in a folder holding a store with an operator, an approver and a card holder."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def refusal(result: Any, exit_code: int) -> dict[str, Any]:
    """The error a refused --json command printed: the one shape on stdout, its message on stderr."""
    assert result.exit_code == exit_code, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message", "details"}
    assert result.stderr.strip().splitlines()[-1].endswith(answer["error"]["message"])
    return answer["error"]  # type: ignore[no-any-return]


def test_run_for_an_unknown_user_prints_the_refusal_as_json(cf: Run) -> None:
    """`run --json` for a user the store lacks: the usage error as JSON, exit 2."""
    error = refusal(cf("run", ORDER, "--user", "nobody", "--as", "op1", "--json"), 2)
    assert error["code"] == "usage" and "nobody" in error["message"]


def test_approve_refused_prints_each_cards_reason_as_details(cf: Run) -> None:
    """`approve --json` of a card not requested: the refusal as JSON, one detail per card, exit 1."""
    card = json.loads(cf("run", ORDER, "--user", "u1", "--as", "op1", "--json").stdout)["results"][0]["card"]
    error = refusal(cf("approve", str(card), "--as", "ap1", "--json"), 1)
    assert error["code"] == "refused"
    assert [(d["card"], d["state"]) for d in error["details"]] == [(card, "processing")]


def test_cards_on_a_missing_store_prints_the_error_as_json(cli: Run) -> None:
    """`cards --json` where there is no store: the error as JSON naming it, exit 2."""
    error = refusal(cli("cards", "--db", "missing.db", "--json"), 2)
    assert error["code"] == "usage" and "missing.db" in error["message"]


def test_users_import_of_a_bad_file_prints_the_error_as_json(run: Run, stored: StoreUnderTest) -> None:
    """`users import --json` of a file with broken rows: the error as JSON (each problem a detail), exit 2;
    `--json` on success tells the count."""
    (stored.folder / "bad.csv").write_text("id,name,email\nu1,Alice,not-an-address\n")
    error = refusal(run("users", "import", "bad.csv", "--json"), 2)
    assert error["code"] == "usage" and any(line.startswith("bad.csv:2: ") for line in error["details"])
    (stored.folder / "good.csv").write_text(USERS)
    assert json.loads(run("users", "import", "good.csv", "--json").stdout) == {"imported": 3, "source": "good.csv"}


def test_a_usage_error_of_click_prints_json_whatever_the_order_of_options(cf: Run) -> None:
    """A missing option or a bad argument (click's own usage errors) is JSON too, even before --json on the line."""
    assert refusal(cf("approve", "1", "--json"), 2)["message"] == "Missing option '--as'."
    assert "not a valid integer" in refusal(cf("approve", "x", "--as", "ap1", "--json"), 2)["message"]


def test_an_invalid_workspace_lists_its_errors_as_details(cf: Run, workspace: Path) -> None:
    """A command on a workspace with errors: workspace_invalid, with the diagnostics as details, exit 1."""
    path = workspace / "processes" / f"{ORDER}.yaml"
    path.write_text(path.read_text().replace("dest: processing", "dest: procesing", 1))
    error = refusal(cf("run", ORDER, "--all", "--as", "op1", "--workspace", str(workspace), "--json"), 1)
    assert error["code"] == "workspace_invalid" and error["details"][0]["code"] == "E203"


def test_a_refusal_after_the_answer_adds_no_second_document(cf: Run, tmp_path: Path) -> None:
    """Work left undone after the JSON answer (orders unanswered) is told on stderr only: stdout stays one document."""
    cf("run", ORDER, "--user", "u1", "--as", "op1")
    (tmp_path / "cwd" / "orders").write_text("a file where the drop folder should be")
    result = cf("queue", "run", "--json")
    assert result.exit_code == 1 and isinstance(json.loads(result.stdout), list)
