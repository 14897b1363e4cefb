"""Fuzz: mutated users files (CSV, JSON, YAML) import whole or are refused (a line each problem), writing nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from mutate import ROOT, SNIPPETS, documents, invoke, kept_promise

SAMPLE_CSV = (ROOT / "engine" / "testing" / "samples" / "users.csv").read_text(encoding="utf-8")
_RECORDS = list(csv.DictReader(io.StringIO(SAMPLE_CSV)))[:12]
SAMPLE_JSON = json.dumps(_RECORDS, indent=1, ensure_ascii=False)
SAMPLE_YAML = yaml.safe_dump(_RECORDS, allow_unicode=True, sort_keys=False)
SHORT_CSV = "\n".join(SAMPLE_CSV.splitlines()[:13]) + "\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the sample users: a refused import must leave them exactly as they were."""
    folder = tmp_path_factory.mktemp("fuzz-users")
    (folder / "users.csv").write_text(SHORT_CSV, encoding="utf-8")
    result, _ = invoke("users", "import", str(folder / "users.csv"), "--db", str(folder / "store.db"))
    assert result.exit_code == 0, result.output
    return folder / "store.db"


def listed(store: Path) -> str:
    result, _ = invoke("users", "list", "--json", "--db", str(store))
    return result.stdout


def deep_json() -> st.SearchStrategy[str]:
    """JSON users with values nested deep, roles of odd types, numbers huge."""
    value = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
        max_leaves=30,
    )
    user = st.fixed_dictionaries(
        {"id": value, "name": value, "email": st.one_of(st.emails(), value), "state": value},
        optional={"roles": value, "dept": value},
    )
    return st.lists(user, max_size=4).map(lambda users: json.dumps(users, ensure_ascii=False))


def _import_and_check(store: Path, name: str, text: str) -> None:
    before = listed(store)
    path = store.parent / name
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    result, elapsed = invoke("users", "import", str(path), "--db", str(store))
    kept_promise(result, elapsed, several=True)
    if result.exit_code != 0:
        assert listed(store) == before, "a refused import changed the store"
    else:
        invoke("users", "import", str(store.parent / "users.csv"), "--db", str(store))  # back to the samples


@given(text=documents([SHORT_CSV]))
def test_a_mutated_csv_file_imports_or_is_refused(store: Path, text: str) -> None:
    """A mutated CSV users file imports whole or is refused, a line each problem, the store untouched."""
    _import_and_check(store, "fuzz.csv", text)


@given(text=st.one_of(documents([SAMPLE_JSON]), deep_json(), st.sampled_from(["[" * 50_000, '{"users": ' * 3000])))
def test_a_mutated_json_file_imports_or_is_refused(store: Path, text: str) -> None:
    """A mutated or generated JSON users file imports whole or is refused, a line each problem, the store untouched."""
    _import_and_check(store, "fuzz.json", text)


@given(text=st.one_of(documents([SAMPLE_YAML]), st.sampled_from(SNIPPETS)))
def test_a_mutated_yaml_file_imports_or_is_refused(store: Path, text: str) -> None:
    """A mutated YAML users file imports whole or is refused, a line each problem, the store untouched."""
    _import_and_check(store, "fuzz.yaml", text)


@given(address=st.one_of(st.emails(), st.text(max_size=30), st.sampled_from(["a@", "@example.com", "a@b@c", "x@[[com"])))
def test_an_address_imports_only_if_mail_can_take_it(store: Path, address: str) -> None:
    """Any address either imports (and then parses as an email header address) or is refused naming the row."""
    from email.headerregistry import Address

    text = f'id,name,email,state\nz1,Zed,"{address.replace(chr(34), chr(34) * 2)}",active\n'
    before = listed(store)
    path = store.parent / "address.csv"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    result, elapsed = invoke("users", "import", str(path), "--db", str(store))
    kept_promise(result, elapsed, several=True)
    if result.exit_code == 0:
        stored = next(u["email"] for u in json.loads(listed(store)) if u["id"] == "z1")
        Address(addr_spec=stored)  # what delivery does with it: must not raise
    else:
        assert listed(store) == before
