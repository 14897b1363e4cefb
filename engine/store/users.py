"""Users into the store from CSV, JSON or YAML: checked whole first, then written in one transaction."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from engine.clock import now
from engine.errors import UsageError
from engine.store.queries import dumps

REQUIRED = ("id", "name", "email", "state")
ROLES = ("operator", "approver", "admin")


def read_users(path: Path) -> list[dict[str, Any]]:
    """Parse and check a users file; a problem is a UsageError naming FILE:LINE (or the record)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:  # newline="": csv reads quoted line breaks as written
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path, text)
    elif suffix in (".json", ".yaml", ".yml"):
        records = _document_records(path, text, suffix)
    else:
        raise UsageError(f"{path}: unknown format '{suffix}' (use .csv, .json, .yaml)")
    rows, seen = [], set()
    for where, record in records:
        row = user_row(where, record)
        if row["id"] in seen:
            raise UsageError(f"{where}: duplicate user id '{row['id']}'")
        seen.add(row["id"])
        rows.append(row)
    return rows


def _csv_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    records = []
    for record in reader:
        if None in record:
            raise UsageError(f"{path}:{reader.line_num}: more cells than columns")
        roles = record.get("roles") or ""
        record["roles"] = [role for role in roles.replace(";", " ").replace(",", " ").split() if role]
        records.append((f"{path}:{reader.line_num}", {k: v for k, v in record.items() if v not in (None, "")}))
    return records


def _document_records(path: Path, text: str, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (ValueError, yaml.YAMLError) as error:
        raise UsageError(f"{path}: not valid {suffix[1:].upper()}: {str(error).splitlines()[0]}") from None
    if isinstance(data, dict) and "users" in data:
        data = data["users"]
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a list of users (or a mapping with 'users')")
    return [(f"{path}: user #{i + 1}", record) for i, record in enumerate(data)]


def user_row(where: str, record: Any) -> dict[str, Any]:
    """A user record checked and shaped as a row of the users table; `where` names it in errors."""
    if not isinstance(record, dict):
        raise UsageError(f"{where}: a user must be a mapping")
    missing = [key for key in REQUIRED if record.get(key) is None or str(record[key]).strip() == ""]
    if missing:
        raise UsageError(f"{where}: missing {', '.join(missing)}")
    roles = record.get("roles") or []
    if isinstance(roles, str):
        roles = roles.replace(",", " ").split()
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise UsageError(f"{where}: unknown role(s) {', '.join(map(str, unknown))} (known: {', '.join(ROLES)})")
    attributes = {k: v for k, v in record.items() if k not in (*REQUIRED, "roles")}
    return {
        "id": str(record["id"]),
        "name": str(record["name"]),
        "email": str(record["email"]),
        "state": str(record["state"]),
        "roles": dumps(sorted(set(roles))),
        "attributes": dumps(attributes),
        "updated_at": now(),
    }
