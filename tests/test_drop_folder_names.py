"""The file a drop folder writes for a call or an order key: the key itself, percent-encoded (every
byte outside letters, digits, `_`, `.` and `-`, `%` included), so that no two keys share a file and a
name decodes back to its key; a key too long for a file name keeps its start and a digest."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import example, given
from hypothesis import strategies as st

from engine.outbound.bureau import _file_name

SAFE = re.compile(r"[A-Za-z0-9_.%-]*")


@given(st.text(max_size=60) | st.from_regex(r"[a-z]{1,8}%[a-z]{1,8}%card[0-9]{1,6}\.[0-9]", fullmatch=True))
@example(":::" + "\U00010000" * 16)  # 60 characters at most, and yet a name too long
def test_a_file_name_is_its_key_percent_encoded(key: str) -> None:
    name = _file_name(key)
    if "~" in name:  # encoded, too long a name (four-byte characters are twelve): its start, then a digest
        start, digest = name.split("~")
        assert SAFE.fullmatch(start) and len(start) == 100 and re.fullmatch("[0-9a-f]{64}", digest)
    else:
        assert SAFE.fullmatch(name)
        assert unquote(name, encoding="utf-8", errors="surrogatepass") == key


@given(st.text(max_size=30), st.text(max_size=30))
def test_two_keys_never_share_a_file(first: str, second: str) -> None:
    assert (_file_name(first) == _file_name(second)) == (first == second)


def test_a_key_too_long_for_a_file_name_keeps_its_start_and_a_digest() -> None:
    name = _file_name("printer%print%card" + "7" * 300)
    assert name.startswith("printer%25print%25card777") and "~" in name and len(name) < 255
