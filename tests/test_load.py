"""The loader: safe, located, bounded, and never a traceback, however broken the input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.definitions.load import MAX_BYTES, load_file, load_text
from engine.definitions.workspace import load_workspace


def codes(text: str) -> list[tuple[str, int, int]]:
    _, found = load_text(text, "f.yaml")
    return [(d.code, d.location.line, d.location.col) for d in found]


def test_on_off_yes_no_stay_strings() -> None:
    """Only true/false are booleans; on/off/yes/no and dates stay text."""
    document, found = load_text("a: on\nb: off\nc: yes\nd: no\ne: true\nf: 2026-01-01\ng: 0x10\n", "f.yaml")
    assert found == []
    assert document is not None
    assert document.data == {"a": "on", "b": "off", "c": "yes", "d": "no", "e": True, "f": "2026-01-01", "g": 16}


def test_locations_of_keys_and_values() -> None:
    """Every node has a 1-based line and column; keys have their own location."""
    document, _ = load_text("top:\n  - name: x\n    list: [1, 2]\n", "f.yaml")
    assert document is not None
    assert (document.at(("top", 0, "name")).line, document.at(("top", 0, "name")).col) == (2, 11)
    assert (document.key_at(("top", 0, "list")).line, document.key_at(("top", 0, "list")).col) == (3, 5)
    assert (document.at(("top", 0, "list", 1)).line, document.at(("top", 0, "list", 1)).col) == (3, 15)
    assert document.at(("top", 0, "missing", "deeper")) == document.at(("top", 0))


def test_python_tag_is_refused_without_constructing() -> None:
    """A Python object tag is a diagnostic, and nothing is constructed."""
    assert codes("a: !!python/object/apply:os.system ['echo hi']\n") == [("E002", 1, 4)]


def test_duplicate_keys_are_all_reported() -> None:
    """Each repeated key is reported at the repeat, with the first line in the message."""
    assert codes("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [("E003", 4, 3), ("E003", 5, 1)]


def test_alias_bomb_is_stopped() -> None:
    """Nested aliases that expand exponentially are stopped at a node budget."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    started = time.perf_counter()
    found = codes("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1.0
    assert [code for code, _, _ in found] == ["E005"]


def test_plain_aliases_still_work() -> None:
    """A small anchor reused twice loads as data."""
    document, found = load_text("a: &x {k: 1}\nb: *x\n", "f.yaml")
    assert found == [] and document is not None and document.data["b"] == {"k": 1}


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")])
def test_thousand_levels_of_nesting(opening: str, closing: str) -> None:
    """1,000 nested levels give one depth diagnostic, no recursion error."""
    found = codes(opening * 1000 + closing * 1000 + "\n")
    assert [code for code, _, _ in found] == ["E004"]


def test_ten_megabyte_file_is_refused_quickly(tmp_path: Path) -> None:
    """A file over the size limit is refused before it is read."""
    path = tmp_path / "big.yaml"
    path.write_text("key: " + "x" * (10 * 1024 * 1024) + "\n")
    started = time.perf_counter()
    document, found = load_file(path, "big.yaml")
    assert time.perf_counter() - started < 1.0
    assert document is None and [d.code for d in found] == ["E006"]
    assert str(MAX_BYTES) in found[0].message


def test_not_utf8_is_a_diagnostic(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give a diagnostic, not an exception."""
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: \xe5\xe4\xf6\n")
    assert [d.code for d in load_file(path)[1]] == ["E008"]


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\n",
        "a: b: c\n",
        "\t- tab\n",
        "a: *nowhere\n",
        "a: 'unterminated\n",
        "\x00\x01\x02",
        "- a\nb: c\n",
        "? [complex]\n: key\n",
        "a: !!int notanumber\n",
        "",
        "---\n...\n---\n",
    ],
)
def test_garbage_never_raises(text: str) -> None:
    """Any text gives data or diagnostics, never an exception."""
    document, found = load_text(text, "f.yaml")
    assert document is not None or found


def test_hostile_files_in_a_workspace_give_diagnostics_quickly(workspace: Path) -> None:
    """A workspace holding a 10 MB file, deep nesting and an alias bomb validates in under a second."""
    (workspace / "processes" / "Big.yaml").write_text("a: " + "x" * (10 * 1024 * 1024))
    (workspace / "processes" / "Deep.yaml").write_text("[" * 1000 + "]" * 1000)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]" for i in range(1, 9)
    ]
    (workspace / "rules" / "Bomb.yaml").write_text("\n".join(bomb))
    started = time.perf_counter()
    found = load_workspace(workspace)
    assert time.perf_counter() - started < 1.0
    by_file = {(d.location.file, d.code) for d in found.diagnostics}
    assert {("processes/Big.yaml", "E006"), ("processes/Deep.yaml", "E004"), ("rules/Bomb.yaml", "E005")} <= by_file
