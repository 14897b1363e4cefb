"""Fuzz: generated `--where` expressions and guards select users, or are refused in one line; nothing half-written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutate import ROOT, SNIPPETS, invoke, kept_promise, reference_copy, replaced

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ATOMS = [
    "user.id",
    "user.state",
    "user.department",
    "user.departmnt",
    "user.roles",
    "user.open_cards",
    "user.locale",
    "user._private",
    "user.__class__",
    "options.CardsAddonExtProdQueue",
    "options.CardsAddonExtProdProductionTypes",
    "card.state",
    "batch.id",
    "actor.roles",
    "bureau.accepted",
    "'Sales'",
    "'active'",
    "''",
    "0",
    "1",
    "-1",
    "1.5",
    "9" * 5000,
    "true",
    "false",
    "none",
    "[]",
    "[1, 'a']",
    "{'a': 1}",
    "range(10)",
    "user.id()",
    "lipsum",
]
BINARY = [" == ", " != ", " < ", " >= ", " in ", " not in ", " and ", " or ", " + ", " ~ ", " * ", " ** "]


def expressions() -> st.SearchStrategy[str]:
    """Expressions of the guard language and beyond it, some deep or long, some garbage."""
    tree = st.recursive(
        st.sampled_from(ATOMS),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(BINARY), inner).map("".join),
            inner.map(lambda e: f"not {e}"),
            inner.map(lambda e: f"({e})"),
            st.tuples(inner, st.sampled_from(["|length", "|lower", "|upper", "|first", "|attr('x')", "[0]", "['id']", ".x"])).map(
                "".join
            ),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
            st.tuples(inner, st.sampled_from(["defined", "none", "undefined", "odd"])).map(lambda t: f"{t[0]} is {t[1]}"),
        ),
        max_leaves=12,
    )
    deep = st.integers(1, 400).map(lambda n: "(" * n + "user.id == 'u1'" + ")" * n)
    chain = st.integers(1, 2000).map(lambda n: " and ".join(["user.state == 'active'"] * n))
    nots = st.integers(1, 600).map(lambda n: "not " * n + "true")
    return st.one_of(tree, tree, tree, deep, chain, nots, st.text(max_size=40), st.sampled_from(SNIPPETS))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace copy and a store with the sample users, in one folder."""
    root = reference_copy(tmp_path_factory.mktemp("fuzz-where"))
    result, _ = invoke("users", "import", str(ROOT / "engine" / "testing" / "samples" / "users.csv"), "--db", str(root / "s.db"))
    assert result.exit_code == 0
    return root


def batches(site: Path) -> list[object]:
    result, _ = invoke("batches", "--json", "--db", str(site / "s.db"))
    return list(json.loads(result.stdout))


@given(where=expressions())
def test_where_selects_or_is_refused(site: Path, where: str) -> None:
    """`plan --where` answers in time; `run --where` that fails writes no batch."""
    common = ("--workspace", str(site), "--db", str(site / "s.db"))
    planned, took = invoke("plan", ORDER, "--where", where, *common)
    kept_promise(planned, took)
    before = batches(site)
    result, elapsed = invoke("run", ORDER, "--where", where, "--as", "op1", "--connector", "simulated", *common)
    kept_promise(result, elapsed)
    if result.exit_code == 2:
        assert batches(site) == before, "a refused run wrote a batch"


GUARD = re.compile(r"(?m)^(    guard: ).*$")


@given(guard=expressions(), which=st.integers(0, 20))
def test_a_guard_is_checked_or_runs(site: Path, guard: str, which: int) -> None:
    """Any expression as a guard of the order process is diagnosed by `validate`, or plans in time."""
    path = site / "processes" / f"{ORDER}.yaml"
    text = path.read_text(encoding="utf-8")
    guards = list(GUARD.finditer(text))
    chosen = guards[which % len(guards)]
    edited = text[: chosen.start()] + chosen[1] + json.dumps(guard) + text[chosen.end() :]
    with replaced(path, edited):
        result, elapsed = invoke("validate", "--workspace", str(site))
        kept_promise(result, elapsed, diagnostics=True)
        if result.exit_code == 0:
            planned, took = invoke("plan", ORDER, "--all", "--workspace", str(site), "--db", str(site / "s.db"))
            kept_promise(planned, took)
