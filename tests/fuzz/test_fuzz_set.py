"""Fuzz: `--set VAR=VALUE` with generated names and values applies or is refused in one line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from mutate import RETYPED, SNIPPETS, invoke, kept_promise

VARIABLES = [
    "CardsAddonExtProdQueue",
    "CardsAddonExtProdProductionTypes",
    "CardsAddonExtProdMultipleCards",
    "CardsBatchRequestApproval",
    "CardsAddonExtProdQueu",
]


def names() -> st.SearchStrategy[str]:
    """Variable names, some with a control character or a misspelling, some any text."""
    noise = st.sampled_from(["\n", "\r", "\t", "\x00", "\x1b", " ", "=", "ä", "\u2028"])
    spliced = st.tuples(st.sampled_from(VARIABLES), noise, st.integers(0, 30)).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])
    return st.one_of(st.sampled_from(VARIABLES), spliced, st.text(max_size=30))


def values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(RETYPED + SNIPPETS), st.text(max_size=40), st.sampled_from(["[" * 500, "&a [*a]", "!!set {a}"])
    )


@given(items=st.lists(st.tuples(names(), values()), min_size=1, max_size=3))
def test_set_applies_or_is_refused_in_one_line(items: list[tuple[str, str]]) -> None:
    """`options --set ...` lists the options or refuses in one line (a control character is escaped)."""
    arguments = [part for name, value in items for part in ("--set", f"{name}={value}")]
    result, elapsed = invoke("options", *arguments)
    kept_promise(result, elapsed)
