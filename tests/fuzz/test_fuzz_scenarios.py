"""Fuzz: mutated scenarios give diagnostics or a verdict (exit 0 or 1), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from mutate import ROOT, documents, invoke, kept_promise, shipped

SCENARIOS = shipped("tests/scenarios/*.scenario.yaml") + shipped("tests/diff/*.scenario.yaml")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-scenarios")


@given(text=documents(SCENARIOS))
def test_a_mutated_scenario_is_diagnosed_or_judged(folder: Path, text: str) -> None:
    """`cardflow test FILE` on a mutated scenario answers with diagnostics or a verdict, in time."""
    path = folder / "fuzz.scenario.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    result, elapsed = invoke("test", str(path), "--workspace", str(ROOT))
    kept_promise(result, elapsed)
