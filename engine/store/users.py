"""Users into the store from CSV, JSON or YAML: checked whole first, then written in one transaction.

A file that cannot be read as a whole (malformed text, a YAML document that expands past its
size: an alias bomb) is a UsageError naming it. Otherwise every problem of every user is reported,
an InputProblems line each naming the file and the line (CSV) or the record (JSON, YAML): a user
that is not a mapping, a missing field, a state that is not one of USER_STATES (with a "did you
mean"), an unknown role, an address that mail could not be delivered to, attributes nested too
deep, a duplicate id.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from engine.clock import now
from engine.diagnostics import did_you_mean
from engine.errors import InputProblems, UsageError
from engine.store.queries import dumps

REQUIRED = ("id", "name", "email", "state")
#: The states of users cardflow knows: an active user may get cards and act; an inactive one may not.
USER_STATES = ("active", "inactive")
#: The roles a users file may give when the caller names none (the default roles of a workspace
#: without roles.yaml; `users import` passes the workspace's roles).
ROLES = ("operator", "approver", "escalation_approver", "admin", "BaseRoleBatchSync")
FORMATS = ("csv", "json", "yaml")
#: Attributes nest at most this deep (a list in a mapping in a list ...).
MAX_DEPTH = 16
#: A YAML users file expands to at most this many nodes per byte of text (aliases included).
NODES_PER_BYTE = 2

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UsersLoader(_Loader):  # type: ignore[misc, valid-type]
    """Safe YAML whose dates and times stay text, as the CSV and JSON forms give them."""


_UsersLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def read_users(path: Path, format: str | None = None, roles: Collection[str] = ROLES) -> list[dict[str, Any]]:
    """Parse and check a users file (its roles among `roles`); a problem is a UsageError naming FILE:LINE (or the record)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:  # newline="": csv reads quoted line breaks as written
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    return parse_users(text, str(path), format or format_of(path), roles)


def format_of(path: Path) -> str:
    """The format a file's name says (.csv, .json, .yaml or .yml)."""
    suffix = path.suffix.lower()
    chosen = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)
    if chosen is None:
        raise UsageError(f"{path}: unknown format '{suffix}' (use .csv, .json, .yaml, or --format)")
    return chosen


def guess_format(text: str) -> str:
    """The format of text with no file name (stdin): JSON if it opens a list or mapping, CSV if its
    first line has a comma, else YAML."""
    start = text.lstrip("\ufeff \t\r\n")
    if start[:1] in ("[", "{"):
        return "json"
    return "csv" if "," in start.split("\n", 1)[0] else "yaml"


def parse_users(text: str, name: str, format: str, roles: Collection[str] = ROLES) -> list[dict[str, Any]]:
    """The user rows of `text` (named `name` in errors) in `format` (csv, json or yaml), checked
    whole; each user's roles must be among `roles`."""
    text = text.removeprefix("\ufeff")
    if format == "csv":
        records = _csv_records(name, text)
    elif format in ("json", "yaml"):
        records = _document_records(name, text, format)
    else:
        raise UsageError(f"unknown format '{format}' (use {', '.join(FORMATS)})")
    rows, problems, seen = [], [], set()
    for where, record in records:
        row, found = checked_row(record, roles)
        user_id = _usable_id(record)
        if user_id is not None and user_id in seen:
            found.append(f"duplicate user id '{user_id}'")
        seen.add(user_id)
        problems += [f"{where}: {problem}" for problem in found]
        rows.append(row)
    if len(problems) > 1:
        problems.append(f"{name}: {len(problems)} problems; nothing imported")
    if problems:
        raise InputProblems(problems)
    return rows


def _usable_id(record: Any) -> str | None:
    """The id of a record as its row would hold it, when it has one that is text."""
    value = record.get("id") if isinstance(record, dict) else None
    return str(value) if value is not None and not isinstance(value, (dict, list)) and str(value).strip() else None


class _Refused(NamedTuple):
    """A record that could not be read (a CSV line with more cells than columns), with the problem."""

    problem: str


def _csv_records(name: str, text: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    records: list[tuple[str, Any]] = []
    try:
        for record in reader:
            if None in record:
                records.append((f"{name}:{reader.line_num}", _Refused("more cells than columns")))
                continue
            records.append((f"{name}:{reader.line_num}", {k: v for k, v in record.items() if v not in (None, "")}))
    except csv.Error as error:  # a NUL byte, a line break inside an unquoted cell, a cell over csv's size limit
        raise UsageError(f"{name}:{reader.line_num + 1}: not valid CSV: {error} (quote cells that hold line breaks)") from None
    return records


def _document_records(name: str, text: str, format: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text) if format == "json" else _yaml(name, text)
    except (ValueError, yaml.YAMLError) as error:
        raise UsageError(f"{name}: not valid {format.upper()}: {str(error).splitlines()[0]}") from None
    except RecursionError:
        raise UsageError(f"{name}: not valid {format.upper()}: nested too deep") from None
    if isinstance(data, dict) and "users" in data:
        data = data["users"]
    if not isinstance(data, list):
        raise UsageError(f"{name}: expected a list of users (or a mapping with 'users')")
    return [(f"{name}: user #{i + 1}", record) for i, record in enumerate(data)]


def _yaml(name: str, text: str) -> Any:
    """Safe YAML, refused when aliases expand it far past its size (an alias bomb) or it nests too deep."""
    loader = _UsersLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        limit = max(1000, NODES_PER_BYTE * len(text))
        if _expanded_size(node, limit) > limit:
            raise UsageError(f"{name}: the YAML expands to more than {limit} nodes (an alias bomb?); nothing imported")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes `root` stands for with every alias expanded, counting up to just past `limit`."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done and children:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            if len(stack) > limit:  # a cycle (an alias inside its own anchor) or nesting past any use
                return limit + 1
            continue
        sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(child), limit + 1) for child in children))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def user_row(where: str, record: Any, roles: Collection[str] = ROLES) -> dict[str, Any]:
    """A user record checked and shaped as a row of the users table; its problems are an
    InputProblems error, a line each naming `where`."""
    row, problems = checked_row(record, roles)
    if problems:
        raise InputProblems([f"{where}: {problem}" for problem in problems])
    return row


def checked_row(record: Any, roles: Collection[str] = ROLES) -> tuple[dict[str, Any], list[str]]:
    """A user record shaped as a row of the users table, and every problem it has (none: the row is
    good); its roles must be among `roles`."""
    if isinstance(record, _Refused):
        return {}, [record.problem]
    if not isinstance(record, dict):
        return {}, ["a user must be a mapping"]
    record = {str(key): value for key, value in record.items()}
    problems, unusable = _field_problems(record)
    if "state" not in unusable:
        problems += _state_problems(str(record["state"]))
    given = _roles(record.get("roles"), roles, problems)
    email = str(record.get("email", "")).strip()
    if "email" not in unusable and (problem := address_problem(email)):
        problems.append(f"email {email!r} is not an address mail can be sent to: {problem}")
    try:
        attributes = {k: _plain(k, v, 1) for k, v in record.items() if k not in (*REQUIRED, "roles")}
    except UsageError as error:
        problems.append(error.message)
    if problems:
        return {}, problems
    return {
        "id": str(record["id"]),
        "name": str(record["name"]),
        "email": email,
        "state": str(record["state"]),
        "roles": dumps(sorted(set(given))),
        "attributes": dumps(attributes),
        "updated_at": now(),
    }, []


def _field_problems(record: dict[str, Any]) -> tuple[list[str], set[str]]:
    """The problems of the required fields (missing, not text, control characters), and the fields they make unusable."""
    missing = [key for key in REQUIRED if record.get(key) is None or str(record[key]).strip() == ""]
    texts = [key for key in REQUIRED if key not in missing and isinstance(record[key], (dict, list))]
    unprintable = [key for key in ("id", "state") if key not in missing + texts and not str(record[key]).isprintable()]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if texts:
        problems.append(f"{', '.join(texts)} must be text, not a list or mapping")
    if unprintable:  # names are data, kept as given
        problems.append(f"{', '.join(unprintable)} must not hold line breaks, tabs or other control characters")
    return problems, {*missing, *texts, *unprintable}


def _state_problems(state: str) -> list[str]:
    """Why `state` is not a user's state (none when it is one of USER_STATES)."""
    if state in USER_STATES:
        return []
    known = " or ".join(USER_STATES)
    return [f"unknown state '{state}': a user is {known}{did_you_mean(state.lower(), USER_STATES)}"]


def _roles(given: Any, roles: Collection[str], problems: list[str]) -> list[str]:
    """The roles of a record: a list, or one string separated by spaces, commas or semicolons, each
    one of `roles`; a problem with them is added to `problems`."""
    if given is None or given == "":
        return []
    if isinstance(given, str):
        given = given.replace(";", " ").replace(",", " ").split()
    known = ", ".join(roles) or "none"
    if not isinstance(given, list) or not all(isinstance(role, str) for role in given):
        problems.append(f"roles must be a list of names or one text (known: {known})")
        return []
    unknown = [role for role in given if role not in roles]
    if unknown:
        hint = did_you_mean(unknown[0], roles)
        problems.append(f"unknown role(s) {', '.join(unknown)}{hint} (known: {known})")
    return given


def _plain(key: str, value: Any, depth: int) -> Any:
    """An attribute value as JSON keeps it: mapping keys as text, nesting bounded (and no cycles)."""
    if depth > MAX_DEPTH:
        raise UsageError(f"attribute '{key}' nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {str(k): _plain(key, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(key, v, depth + 1) for v in value]
    if isinstance(value, float) and value != value:  # NaN: JSON has no such number
        return None
    return value


_LOCAL = re.compile(r"^[^\s@<>()\[\],;:\\\"]+$")
_LABEL = re.compile(r"^(?!-)[^\W_](?:[\w-]*[^\W_])?$")  # letters (any script) and digits, inner hyphens


def address_problem(address: str) -> str | None:
    """Why `address` cannot take mail (None when it can): one '@', a local part, a domain of dotted
    labels (internationalized names such as exämple.com are fine)."""
    if not address.isprintable() or address.count("@") != 1:
        return "it needs exactly one '@' and no control characters"
    local, domain = address.split("@")
    if not local or not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return "the part before '@' is empty or holds spaces or one of <>()[],;:\\\""
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) and len(label) <= 63 for label in labels):
        return "the domain after '@' must be dotted names of letters, digits and inner hyphens (like example.com)"
    try:
        domain.encode("idna")
    except UnicodeError:
        return "the domain is not a valid internationalized name"
    return None
