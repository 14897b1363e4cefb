"""Fuzz: mutated option scripts give diagnostics (exit 1) or pass (exit 0), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutate import MATRIX_BUDGET, ROOT, documents, invoke, kept_promise, reference_copy, replaced, shipped

SCRIPTS = shipped("rules/*.yaml")
TARGETS = sorted(path.name for path in (ROOT / "rules").glob("*.yaml"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the reference workspace that each example edits and restores."""
    return reference_copy(tmp_path_factory.mktemp("fuzz-options"))


@given(text=documents(SCRIPTS), target=st.sampled_from(TARGETS))
def test_a_mutated_option_script_is_diagnosed(site: Path, text: str, target: str) -> None:
    """`validate` on a workspace with one mutated option script answers with diagnostics, in time;
    when it passes, the machine of the order process still compiles (`matrix`)."""
    with replaced(site / "rules" / target, text):
        result, elapsed = invoke("validate", "--workspace", str(site))
        kept_promise(result, elapsed, diagnostics=True)
        if result.exit_code == 0:
            shown, took = invoke("matrix", "CardsAddonExtProdBoProcOrderMultiple", "--workspace", str(site))
            kept_promise(shown, took, budget=MATRIX_BUDGET)


@given(text=documents(SCRIPTS), target=st.sampled_from(TARGETS))
def test_a_mutated_option_script_is_shown_or_refused(site: Path, text: str, target: str) -> None:
    """`options` on a workspace with one mutated option script lists them or refuses in one line."""
    with replaced(site / "rules" / target, text):
        result, elapsed = invoke("options", "--workspace", str(site))
        kept_promise(result, elapsed)
