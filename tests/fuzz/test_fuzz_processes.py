"""Fuzz: mutated process definitions give diagnostics (exit 1) or pass (exit 0), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutate import MATRIX_BUDGET, ROOT, documents, invoke, kept_promise, reference_copy, replaced, shipped

PROCESSES = shipped("processes/*.yaml")
TARGETS = sorted(path.name for path in (ROOT / "processes").glob("*.yaml"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the reference workspace that each example edits and restores."""
    return reference_copy(tmp_path_factory.mktemp("fuzz-processes"))


@given(text=documents(PROCESSES), target=st.sampled_from(TARGETS))
def test_a_mutated_process_definition_is_diagnosed(site: Path, text: str, target: str) -> None:
    """`validate` on a workspace with one mutated process definition answers with diagnostics, in time;
    when it passes, the machine of the order process still compiles (`matrix`)."""
    with replaced(site / "processes" / target, text):
        result, elapsed = invoke("validate", "--workspace", str(site))
        kept_promise(result, elapsed, diagnostics=True)
        if result.exit_code == 0:
            shown, took = invoke("matrix", "CardsAddonExtProdBoProcOrderMultiple", "--workspace", str(site))
            kept_promise(shown, took, budget=MATRIX_BUDGET)
