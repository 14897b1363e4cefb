"""JSON text from an encoder made once is the text `json.dumps` gives for the same value, byte for
byte: keys sorted or not, non-ASCII kept, nested values, and anything JSON has no type for as its str()."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.json_text import compact

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.dates()
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@pytest.mark.parametrize("sort_keys", [False, True])
@given(value=VALUES)
def test_the_text_is_what_json_dumps_gives(sort_keys: bool, value: Any) -> None:
    assert compact(sort_keys=sort_keys)(value) == json.dumps(value, ensure_ascii=False, default=str, sort_keys=sort_keys)


def test_an_encoder_is_used_again_and_again() -> None:
    encode = compact()
    assert [encode({"name": name, "on": date(2026, 12, 5)}) for name in ("Åsa", 'a "b"')] == [
        '{"name": "Åsa", "on": "2026-12-05"}',
        '{"name": "a \\"b\\"", "on": "2026-12-05"}',
    ]
