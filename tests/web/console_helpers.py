"""What the console's tests share besides fixtures: the people of the test store, their password,
signing in through the form, the CSRF token of a page, and setting an option value in a workspace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"
STAFF = [
    ("op1", "Olle Operator", "active", ["operator"], "IT"),
    ("op2", "Oda Operator", "active", ["operator"], "IT"),
    ("ap1", "Anna Approver", "active", ["approver"], "HR"),
    ("ap2", "Arvid Approver", "active", ["approver", "operator"], "HR"),
    ("adm", "Ada Admin", "active", ["admin"], "IT"),
    ("opx", "Otto Former", "inactive", ["operator"], "IT"),
]
HOLDERS = [
    ("u01", "Alice Andersson", "active", "Sales"),
    ("u02", "Bertil Berg", "active", "Sales"),
    ("u03", "Cecilia Carlsson", "active", "Sales"),
    ("u04", "David Dahl", "active", "Support"),
    ("u05", "Eva Ek", "inactive", "Sales"),
    ("u06", XSS, "active", "Support"),
]


def user_rows() -> list[dict[str, Any]]:
    rows = [(i, n, s, r, d) for i, n, s, r, d in STAFF] + [(i, n, s, [], d) for i, n, s, d in HOLDERS]
    return [
        {
            "id": user_id,
            "name": name,
            "email": f"{user_id}@example.com",
            "state": state,
            "roles": f"[{', '.join(chr(34) + r + chr(34) for r in roles)}]",
            "attributes": f'{{"department": "{department}"}}',
            "updated_at": "2026-01-01T00:00:00Z",
        }
        for user_id, name, state, roles, department in rows
    ]


def set_value(workspace: Path, variable: str, value: str) -> None:
    """Give `variable` of the workspace's option scripts the YAML `value` (as an administrator would)."""
    for path in (workspace / "rules").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        start = text.find(f"  {variable}:\n")
        if start >= 0:
            default = text.index("    default:", start)
            end = text.index("\n", default) + 1
            path.write_text(text[:end] + f"    value: {value}\n" + text[end:], encoding="utf-8")
            return
    raise AssertionError(f"no variable {variable}")


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, user: str, password: str = PASSWORD, lang: str = "en") -> Any:
    """Log in through the form; the response to the POST (a redirect on success)."""
    token = csrf_in(client.get("/login").text)
    return client.post("/login", data={"user": user, "password": password, "lang": lang, "csrf": token}, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    """The signed-in session's CSRF token, as every page's forms carry it."""
    return csrf_in(client.get("/options").text)


def produce(console: Any, ordered: tuple[str, ...], produced: tuple[str, ...]) -> None:
    """Order a card for each of `ordered` straight at the bureau (queue off), then let the bureau
    report those of `produced` produced (the order-status sync): cards 1, 2, … in that order."""
    from engine.batch.request import RunRequest, Selection
    from engine.batch.run import run_batch
    from engine.batch.status import sync_order_status
    from engine.outbound.bureau import Simulated

    order = RunRequest("CardsAddonExtProdBoProcOrderMultiple", "op1", Selection(users=ordered), {"CardsAddonExtProdQueue": False})
    run_batch(console.workspace, console.engine, order, console.connector)
    sync_order_status(console.workspace, console.engine, Simulated(statuses={user: ("produced", None) for user in produced}))
