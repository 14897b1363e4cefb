"""Users into the store: `cardflow users import FILE` (CSV, JSON, YAML) and `cardflow users list --json`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Run, StoreUnderTest

CSV_USERS = (
    "id,name,email,state,roles,department,locale\n"
    "op1,Olle Operator,op1@example.com,active,operator,IT,sv\n"
    "ap1,Anna Approver,ap1@example.com,active,approver;operator,HR,en\n"
    "ad1,Adam Admin,ad1@example.com,inactive,admin approver,Security,de\n"
)

EXPECTED_CSV_USERS = [
    {
        "id": "ad1",
        "name": "Adam Admin",
        "email": "ad1@example.com",
        "state": "inactive",
        "roles": ["admin", "approver"],
        "department": "Security",
        "locale": "de",
    },
    {
        "id": "ap1",
        "name": "Anna Approver",
        "email": "ap1@example.com",
        "state": "active",
        "roles": ["approver", "operator"],
        "department": "HR",
        "locale": "en",
    },
    {
        "id": "op1",
        "name": "Olle Operator",
        "email": "op1@example.com",
        "state": "active",
        "roles": ["operator"],
        "department": "IT",
        "locale": "sv",
    },
]

DOCUMENT_USERS = [
    {"id": 42, "name": "Nils Numeric", "email": "n42@example.com", "state": "active", "roles": ["operator"], "locale": "sv"},
    {
        "id": "ap2",
        "name": "Agnes Approver",
        "email": "ap2@example.com",
        "state": "inactive",
        "roles": ["approver", "admin"],
        "department": "HR",
        "cost_center": 7001,
    },
]

EXPECTED_DOCUMENT_USERS = [
    {"id": "42", "name": "Nils Numeric", "email": "n42@example.com", "state": "active", "roles": ["operator"], "locale": "sv"},
    {
        "id": "ap2",
        "name": "Agnes Approver",
        "email": "ap2@example.com",
        "state": "inactive",
        "roles": ["admin", "approver"],
        "department": "HR",
        "cost_center": 7001,
    },
]


def write(path: Path, text: str) -> Path:
    """Write `text` to `path` as UTF-8, byte for byte (no newline translation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """Write rows (the header first) as a CSV file the way a spreadsheet would, quoting where needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def listed(run: Run, store: str | Path) -> list[dict[str, Any]]:
    """The users of the store as `cardflow users list --json` prints them."""
    result = run("users", "list", "--json", "--db", str(store))
    assert result.exit_code == 0, result.stderr
    users: list[dict[str, Any]] = json.loads(result.stdout)
    return users


def imported(run: Run, file: Path, store: str | Path) -> None:
    """Import `file` into `store`, which must succeed."""
    result = run("users", "import", str(file), "--db", str(store))
    assert (result.exit_code, result.stderr) == (0, "")


# formats


def test_csv_import_lists_back_every_field(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A CSV file imports; ids, names, emails, states, roles and extra columns come back from `users list --json`."""
    store = stored.location
    file = write(tmp_path / "in" / "users.csv", CSV_USERS)
    result = run("users", "import", str(file), "--db", str(store))
    assert result.exit_code == 0
    assert f"imported 3 user(s) from {file}\n" == result.stdout
    assert listed(run, store) == EXPECTED_CSV_USERS


def test_users_list_shows_the_attributes(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """The `users list` table shows each attribute (department, locale) after the fields, by name."""
    imported(run, write(tmp_path / "in" / "users.csv", CSV_USERS), stored.location)
    lines = run("users", "list", "--db", str(stored.location)).stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "EMAIL", "STATE", "ROLES", "DEPARTMENT", "LOCALE"]
    assert lines[1].split()[-2:] == ["Security", "de"]


def test_users_list_columns_chooses_them_and_refuses_an_attribute_nobody_has(
    run: Run, stored: StoreUnderTest, tmp_path: Path
) -> None:
    """`--columns id,department` shows those (the JSON too); an attribute no user has is a usage error with a hint."""
    store = str(stored.location)
    imported(run, write(tmp_path / "in" / "users.csv", CSV_USERS), store)
    lines = run("users", "list", "--columns", "id,department", "--db", store).stdout.splitlines()
    assert [line.split() for line in lines] == [["ID", "DEPARTMENT"], ["ad1", "Security"], ["ap1", "HR"], ["op1", "IT"]]
    rows = json.loads(run("users", "list", "--columns", "id,department", "--json", "--db", store).stdout)
    assert rows[0] == {"id": "ad1", "department": "Security"}
    refused = run("users", "list", "--columns", "id,departmnt", "--db", store)
    assert refused.exit_code == 2 and "(did you mean 'department'?)" in refused.stderr


@pytest.mark.parametrize("separator", [" ", ";", "; ", " ; "])
def test_csv_roles_are_separated_by_spaces_or_semicolons(
    run: Run, stored: StoreUnderTest, tmp_path: Path, separator: str
) -> None:
    """CSV roles split on spaces and semicolons alike, and come back as a sorted list."""
    store = stored.location
    file = write_csv(
        tmp_path / "in" / "users.csv",
        [["id", "name", "email", "state", "roles"], ["u1", "Ulla", "u1@example.com", "active", f"operator{separator}admin"]],
    )
    imported(run, file, store)
    assert [user["roles"] for user in listed(run, store)] == [["admin", "operator"]]


def test_json_list_imports(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A JSON list of users imports; numeric ids become strings and other attributes keep their values."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "users.json", json.dumps(DOCUMENT_USERS)), store)
    assert listed(run, store) == EXPECTED_DOCUMENT_USERS


def test_json_mapping_with_users_imports(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A JSON mapping with `users:` imports like a bare list."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "users.json", json.dumps({"users": DOCUMENT_USERS})), store)
    assert listed(run, store) == EXPECTED_DOCUMENT_USERS


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_list_imports(run: Run, stored: StoreUnderTest, tmp_path: Path, suffix: str) -> None:
    """A YAML list of users (.yaml or .yml) imports; numeric ids become strings."""
    store = stored.location
    imported(run, write(tmp_path / "in" / f"users{suffix}", yaml.safe_dump(DOCUMENT_USERS)), store)
    assert listed(run, store) == EXPECTED_DOCUMENT_USERS


def test_yaml_mapping_with_users_and_role_string_imports(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A YAML mapping with `users:` imports, and roles may be given as one space-separated string."""
    store = stored.location
    text = (
        "users:\n"
        "  - id: 7\n"
        "    name: Sven Seven\n"
        "    email: s7@example.com\n"
        "    state: active\n"
        "    roles: operator approver\n"
        "    department: IT\n"
    )
    imported(run, write(tmp_path / "in" / "users.yaml", text), store)
    expected = [
        {
            "id": "7",
            "name": "Sven Seven",
            "email": "s7@example.com",
            "state": "active",
            "roles": ["approver", "operator"],
            "department": "IT",
        }
    ]
    assert expected == listed(run, store)


def test_numeric_id_zero_imports_as_a_string(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A numeric id 0 is an id like any other: it imports and lists back as "0" (not "missing id")."""
    store = stored.location
    users = [{"id": 0, "name": "Zero", "email": "zero@example.com", "state": "active"}]
    result = run("users", "import", str(write(tmp_path / "in" / "users.json", json.dumps(users))), "--db", str(store))
    assert (result.exit_code, result.stderr) == (0, "")
    assert [user["id"] for user in listed(run, store)] == ["0"]


def test_the_shipped_sample_users_import(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """engine/testing/samples/users.csv imports, and every user in it lists back."""
    sample = Path(__file__).resolve().parents[1] / "engine" / "testing" / "samples" / "users.csv"
    store = stored.location
    imported(run, sample, store)
    with sample.open(encoding="utf-8", newline="") as handle:
        expected = sorted(row["id"] for row in csv.DictReader(handle))
    assert expected == [user["id"] for user in listed(run, store)]


# re-import


def test_reimport_updates_users_without_duplicates_and_keeps_the_others(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """Re-importing a changed user updates it in place; users missing from the second file stay."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "first.csv", CSV_USERS), store)
    second = write(
        tmp_path / "in" / "second.csv",
        "id,name,email,state,roles,department,locale\nop1,Olle Renamed,op1@example.com,inactive,admin;approver,IT,sv\n",
    )
    imported(run, second, store)
    users = listed(run, store)
    assert [user["id"] for user in users] == ["ad1", "ap1", "op1"]
    changed = {
        "id": "op1",
        "name": "Olle Renamed",
        "email": "op1@example.com",
        "state": "inactive",
        "roles": ["admin", "approver"],
        "department": "IT",
        "locale": "sv",
    }
    assert [*EXPECTED_CSV_USERS[:2], changed] == users


def test_reimporting_the_same_file_changes_nothing(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """Importing the same file twice leaves the same users, once each."""
    store = stored.location
    file = write(tmp_path / "in" / "users.csv", CSV_USERS)
    imported(run, file, store)
    imported(run, file, store)
    assert listed(run, store) == EXPECTED_CSV_USERS


# bad input: exit 2, one line naming the file (and where), nothing written

#: The alias bomb the definitions loader refuses with E005 (tests/test_load.py), as a users file.
LOADER_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]" for i in range(1, 9)]
    + ["users: [{id: u1, name: A, email: a@example.com, state: active, x: *i}]"]
)

BAD_INPUTS = {
    "missing-id": ("users.csv", "id,name,email,state\n,Ann,ann@example.com,active\n", [":2: ", "missing id"]),
    "missing-name": (
        "users.csv",
        "id,name,email,state\nu1,Ann,ann@example.com,active\nu2,,b@example.com,active\n",
        [":3: ", "missing name"],
    ),
    "missing-email": ("users.csv", "id,name,email,state\nu1,Ann,,active\n", [":2: ", "missing email"]),
    "missing-state": ("users.csv", "id,name,email\nu1,Ann,ann@example.com\n", [":2: ", "missing state"]),
    "missing-state-json": (
        "users.json",
        json.dumps(
            [
                {"id": "u1", "name": "A", "email": "a@example.com", "state": "active"},
                {"id": "u2", "name": "B", "email": "b@example.com"},
            ]
        ),
        ["user #2", "missing state"],
    ),
    "missing-email-yaml": ("users.yaml", "- id: u1\n  name: A\n  state: active\n", ["user #1", "missing email"]),
    "unknown-role": (
        "users.csv",
        "id,name,email,state,roles\nu1,Ann,ann@example.com,active,operator;wizard\n",
        [":2: ", "unknown role", "wizard"],
    ),
    "unknown-role-json": (
        "users.json",
        json.dumps({"users": [{"id": "u1", "name": "A", "email": "a@example.com", "state": "active", "roles": ["root"]}]}),
        ["user #1", "unknown role", "root"],
    ),
    "duplicate-id": (
        "users.csv",
        "id,name,email,state\nu1,Ann,ann@example.com,active\nu2,Bo,bo@example.com,active\nu1,Ann2,ann2@example.com,active\n",
        [":4: ", "duplicate", "u1"],
    ),
    "duplicate-id-yaml": (
        "users.yaml",
        "- {id: 5, name: A, email: a@example.com, state: active}\n- {id: '5', name: B, email: b@example.com, state: active}\n",
        ["user #2", "duplicate", "5"],
    ),
    "malformed-json": ("users.json", '[{"id": "u1", "name": "A",', ["not valid JSON"]),
    "malformed-yaml": ("users.yaml", "- id: u1\n  name: [unclosed\n  email: a@example.com\n", ["not valid YAML"]),
    "too-many-cells": (
        "users.csv",
        "id,name,email,state\nu1,Ann,ann@example.com,active\nu2,Bo,bo@example.com,active,surplus\n",
        [":3: ", "more cells than columns"],
    ),
    "unknown-extension": ("users.txt", "id,name,email,state\nu1,Ann,ann@example.com,active\n", ["unknown format", ".txt"]),
    "yaml-top-level-string": ("users.yaml", "just a string\n", ["expected a list of users"]),
    "json-top-level-number": ("users.json", "42\n", ["expected a list of users"]),
    "yaml-user-not-a-mapping": ("users.yaml", "- u1\n", ["user #1", "mapping"]),
    "csv-bare-line-break": ("users.csv", "id,name,email,state\nu1,An\rn,a@example.com,active\n", [":2: ", "not valid CSV"]),
    "csv-huge-cell": ("users.csv", f"id,name,email,state\nu1,{'A' * 200_000},a@example.com,active\n", ["not valid CSV"]),
    "csv-nul-byte": ("users.csv", "id,name,email,state\nu\x001,An,a@example.com,active\n", [":2: ", "control characters"]),
    "json-deep-nesting": ("users.json", "[" * 100_000 + "]" * 100_000, ["not valid JSON"]),
    "json-roles-a-number": (
        "users.json",
        json.dumps([{"id": "u1", "name": "A", "email": "a@example.com", "state": "active", "roles": 5}]),
        ["user #1", "roles must be a list"],
    ),
    "yaml-alias-bomb": (
        "users.yaml",
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
        "users: [{id: u1, name: A, email: a@example.com, state: active, x: *i}]\n",
        ["alias bomb"],
    ),
    "yaml-alias-bomb-of-the-loader": ("users.yaml", LOADER_BOMB, ["alias bomb"]),
    "yaml-recursive-alias": ("users.yaml", "- &u {id: u1, name: A, email: a@example.com, state: active, me: *u}\n", ["expands"]),
    "yaml-huge-number": ("users.yaml", f"- {{id: {'9' * 5000}, name: A, email: a@example.com, state: active}}\n", ["not valid"]),
    "email-no-domain": ("users.csv", "id,name,email,state\nu1,Ann,a@,active\n", [":2: ", "'a@'"]),
    "email-no-local-part": ("users.csv", "id,name,email,state\nu1,Ann,@example.com,active\n", [":2: ", "'@example.com'"]),
    "email-two-ats": ("users.csv", "id,name,email,state\nu1,Ann,a@b@c,active\n", [":2: ", "'a@b@c'"]),
    "unknown-state": ("users.csv", "id,name,email,state\nu1,Ann,ann@example.com,actve\n", [":2: ", "'actve'", "'active'?"]),
    "state-in-capitals": (
        "users.json",
        json.dumps([{"id": "u1", "name": "A", "email": "a@example.com", "state": "Active"}]),
        ["user #1", "'Active'", "'active'?"],
    ),
    "email-brackets": ("users.json", json.dumps([{"id": "u1", "name": "A", "email": "x@[[com", "state": "active"}]), ["user #1"]),
}


@pytest.mark.parametrize(("name", "text", "mentions"), list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    run: Run, stored: StoreUnderTest, tmp_path: Path, name: str, text: str, mentions: list[str]
) -> None:
    """Bad input exits 2 with one line on stderr naming the file and where, and the store keeps the users it had."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "good.csv", CSV_USERS), store)
    file = write(tmp_path / "in" / name, text)
    result = run("users", "import", str(file), "--db", str(store))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"cardflow: {file}")
    assert [text for text in mentions if text not in result.stderr] == []
    assert listed(run, store) == EXPECTED_CSV_USERS


def test_a_bad_row_after_good_ones_writes_none_of_them(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """The file is checked whole first: good rows before a bad one are not imported either."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "good.csv", CSV_USERS), store)
    text = (
        "id,name,email,state\n"
        "op1,Olle Changed,op1@example.com,inactive\n"
        "new1,New One,new1@example.com,active\n"
        "new2,New Two,,active\n"
    )
    result = run("users", "import", str(write(tmp_path / "in" / "bad.csv", text)), "--db", str(store))
    assert result.exit_code == 2
    assert listed(run, store) == EXPECTED_CSV_USERS


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_written(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """A file with several bad rows exits 2 naming each problem on a line of its own, FILE:LINE first, and writes nothing."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "good.csv", CSV_USERS), store)
    text = (
        "id,name,email,state,roles\n"
        "op1,Olle Changed,op1@example.com,Active,operator\n"
        "new1,New One,new1@example.com,active,wizard\n"
        "new2,New Two,new2@,actve\n"
        "new3,New Three,new3@example.com,inactive\n"
        "new1,New Again,again@example.com,active\n"
    )
    file = write(tmp_path / "in" / "bad.csv", text)
    result = run("users", "import", str(file), "--db", str(store))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [f"{file}:{n}" for n in (2, 3, 4, 4, 6)] + [str(file)]
    assert ("'Active'" in lines[0] and "(did you mean 'active'?)" in lines[0]) and "wizard" in lines[1]
    assert "(did you mean 'active'?)" in lines[2] and "'new2@'" in lines[3] and "duplicate user id 'new1'" in lines[4]
    assert lines[5] == f"cardflow: {file}: 5 problems; nothing imported"
    assert listed(run, store) == EXPECTED_CSV_USERS


def test_a_missing_file_exits_2_and_creates_no_store(cli: Run, tmp_path: Path) -> None:
    """A file that does not exist exits 2 with one line naming it; no store is created."""
    store = tmp_path / "store.db"
    missing = tmp_path / "in" / "nowhere.csv"
    result = cli("users", "import", str(missing), "--db", str(store))
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"cardflow: {missing}: cannot read")
    assert False is store.exists()


def test_a_missing_file_leaves_an_existing_store_alone(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """Importing a file that does not exist into a store with users leaves those users as they were."""
    store = stored.location
    imported(run, write(tmp_path / "in" / "good.csv", CSV_USERS), store)
    result = run("users", "import", str(tmp_path / "in" / "nowhere.json"), "--db", str(store))
    assert result.exit_code == 2
    assert listed(run, store) == EXPECTED_CSV_USERS


# data is data

HOSTILE_NAME = "Eve\r\nBcc: x@evil.example\r\n<script>alert(\"x\")</script> & 'quotes'"


def _hostile_file(folder: Path, suffix: str) -> Path:
    user = {"id": "eve", "name": HOSTILE_NAME, "email": "eve@example.com", "state": "active", "note": "<b>bold</b>\r\nBcc: y"}
    if suffix == ".json":
        return write(folder / "users.json", json.dumps([user]))
    if suffix == ".yaml":
        return write(folder / "users.yaml", yaml.safe_dump([user]))
    return write_csv(folder / "users.csv", [list(user), list(user.values())])


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".csv"])
def test_header_injection_and_markup_in_names_list_back_unchanged(
    run: Run, stored: StoreUnderTest, tmp_path: Path, suffix: str
) -> None:
    """A name holding CR LF, a Bcc: header and <script> imports and lists back byte for byte (data is data)."""
    store = stored.location
    imported(run, _hostile_file(tmp_path / "in", suffix), store)
    (user,) = listed(run, store)
    assert (user["name"], user["note"]) == (HOSTILE_NAME, "<b>bold</b>\r\nBcc: y")


# size


def test_five_thousand_users_import_from_csv(run: Run, stored: StoreUnderTest, tmp_path: Path) -> None:
    """5,000 users import from one CSV file, and `users list --json` returns all 5,000 in id order."""
    store = stored.location
    rows = [["id", "name", "email", "state", "roles", "department"]]
    rows += [[f"u{n:05d}", f"User {n}", f"u{n}@example.com", "active", "operator", f"D{n % 7}"] for n in range(5000)]
    file = write_csv(tmp_path / "in" / "many.csv", rows)
    result = run("users", "import", str(file), "--db", str(store))
    assert result.exit_code == 0
    assert f"imported 5000 user(s) from {file}\n" == result.stdout
    users = listed(run, store)
    assert len(users) == 5000
    assert [f"u{n:05d}" for n in range(5000)] == [user["id"] for user in users]
    last = {"id": "u04999", "name": "User 4999", "email": "u4999@example.com", "state": "active", "roles": ["operator"]}
    assert last == {key: users[-1][key] for key in last}


def test_an_internationalized_domain_is_accepted(cli: Run, tmp_path: Path) -> None:
    """An address at an IDN domain (exämple.com) imports as written."""
    store = tmp_path / "store.db"
    imported(cli, write(tmp_path / "in" / "users.csv", "id,name,email,state\nu1,Ann,ann@exämple.com,active\n"), store)
    assert [user["email"] for user in listed(cli, store)] == ["ann@exämple.com"]


def test_users_import_reads_stdin(cli: Run, tmp_path: Path) -> None:
    """`users import -` reads the users from stdin (CSV here, guessed; --format says so outright)."""
    store = tmp_path / "store.db"
    result = cli("users", "import", "-", "--db", str(store), input="id,name,email,state\nu1,Ann,ann@example.com,active\n")
    assert result.exit_code == 0, result.output
    document = json.dumps([{"id": "u2", "name": "Bo", "email": "bo@example.com", "state": "active"}])
    assert cli("users", "import", "-", "--format", "json", "--db", str(store), input=document).exit_code == 0
    assert [user["id"] for user in listed(cli, store)] == ["u1", "u2"]


def test_yaml_dates_and_mixed_keys_import_as_text(cli: Run, tmp_path: Path) -> None:
    """A YAML date, a number where text is expected, and keys of mixed types import as text."""
    store = tmp_path / "store.db"
    text = "- {id: 7, name: 2024-01-02, email: a@example.com, state: active, 1: one, extra: {2: two, b: three}}\n"
    imported(cli, write(tmp_path / "in" / "users.yaml", text), store)
    (user,) = listed(cli, store)
    assert (user["id"], user["name"], user["1"], user["extra"]) == ("7", "2024-01-02", "one", {"2": "two", "b": "three"})
