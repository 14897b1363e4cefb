"""Order ids and order files: one per card, whatever the characters of its user id or batch id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Run

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
#: User ids that one character-replacing file name would give the same name.
HOLDERS = ("åsa", "äsa", "a/b", "a_b", "a?b")
USERS = "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\n" + "".join(
    f"{user},Holder {n},h{n}@example.com,active,\n" for n, user in enumerate((*HOLDERS, "a.b", "b"))
)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def orders(run: Run, card: int) -> list[dict[str, Any]]:
    return ok(run("explain", str(card), "--json"))["orders"]  # type: ignore[no-any-return]


def test_users_whose_ids_differ_in_any_character_get_an_order_file_and_order_id_each(run: Run, tmp_path: Path) -> None:
    """Five users whose ids differ only in characters a file name cannot hold get five order files and five order ids."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS, encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    users = [arg for user in HOLDERS for arg in ("--user", user)]
    results = ok(run("run", ORDER, *users, "--as", "op1", "--json", "--batch-id", "B", *QUEUE_OFF))["results"]
    assert sorted(r["state"] for r in results) == ["ordered"] * 5
    order_ids = {r["user"]: orders(run, r["card"])[0]["order_id"] for r in results}
    files = sorted(path.name for path in (tmp_path / "cwd" / "orders").glob("*.json"))
    assert len(set(order_ids.values())) == 5 and sorted(f"{o}.json" for o in order_ids.values()) == files
    held = {json.loads((tmp_path / "cwd" / "orders" / name).read_text(encoding="utf-8"))["holder"]["id"] for name in files}
    assert held == set(HOLDERS)


def test_a_status_file_moves_only_the_card_it_names(run: Run, tmp_path: Path) -> None:
    """The bureau's status file for one user's order moves that card, not one whose user id differs in an accent."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS, encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    results = ok(run("run", ORDER, "--user", "åsa", "--user", "äsa", "--as", "op1", "--json", *QUEUE_OFF))["results"]
    card = {r["user"]: r["card"] for r in results}
    (status := tmp_path / "cwd" / "orders" / "status").mkdir()
    (status / f"{orders(run, card['åsa'])[0]['order_id']}.json").write_text('{"status": "produced"}')
    assert run("orders", "sync").exit_code == 0
    states = {c["user"]: c["state"] for c in ok(run("cards", "--json"))}
    assert states == {"åsa": "produced", "äsa": "ordered"}


def test_a_dot_in_a_batch_id_or_a_user_id_does_not_make_two_cards_share_an_order(run: Run, tmp_path: Path) -> None:
    """User `a.b` in batch `B` and user `b` in batch `B.a` get two orders under two keys, each file written."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS, encoding="utf-8")
    assert run("users", "import", "users.csv").exit_code == 0
    first = ok(run("run", ORDER, "--user", "a.b", "--as", "op1", "--json", "--batch-id", "B", *QUEUE_OFF))["results"]
    second = ok(run("run", ORDER, "--user", "b", "--as", "op1", "--json", "--batch-id", "B.a", *QUEUE_OFF))["results"]
    keys = [orders(run, r[0]["card"])[0]["idempotency_key"] for r in (first, second)]
    assert keys[0] != keys[1]
    held = [json.loads(p.read_text(encoding="utf-8"))["holder"]["id"] for p in (tmp_path / "cwd" / "orders").glob("*.json")]
    assert sorted(held) == ["a.b", "b"]
