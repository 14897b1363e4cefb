"""Tables and JSON that stream: the same text as the whole-list forms, piece by piece."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.report.tables import json_array, table, table_lines, to_json

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3))
ITEMS = st.dictionaries(st.text() | st.integers() | st.booleans(), VALUES, max_size=5) | VALUES


@given(st.lists(ITEMS, max_size=6))
def test_a_streamed_json_array_is_the_json_of_the_list(items: list[Any]) -> None:
    """`json_array` joined is exactly `to_json` of the whole list, whatever the items."""
    assert "".join(json_array(items, page=2)) == to_json(items)


@pytest.mark.parametrize("count", [0, 1, 2500])
def test_a_streamed_json_array_of_many_rows(count: int) -> None:
    """Rows like a listing's, in pieces of a page: the same text as `to_json`."""
    rows = [{"id": n, "user": f"u{n}", "state": "ordered", "batch": None, "open": n % 2 == 0} for n in range(count)]
    pieces = list(json_array(rows))
    assert "".join(pieces) == to_json(rows)
    assert len(pieces) == max(1, -(-count // 1000))


def test_a_streamed_table_of_one_page_is_the_table() -> None:
    """Up to a page of rows, `table_lines` gives the lines of `table`; later rows keep the first page's widths."""
    rows = [[1, "abc", None], [22, "x", True]]
    assert "\n".join(table_lines(["id", "name", "flag"], rows)) == table(["id", "name", "flag"], rows)
    lines = list(table_lines(["id", "name"], [[1, "a"], [2, "a much longer name"]], page=1))
    assert lines == ["ID  NAME", "1   a", "2   a much longer name"]
