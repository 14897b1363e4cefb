"""`cardflow demo`: the main job end to end on the shipped sample users, in a folder of its own."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine

from engine.batch.actions import act
from engine.batch.queue import sync_queue
from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.batch.timers_due import fire_due
from engine.clock import frozen, later
from engine.definitions.model import Workspace
from engine.outbound.bureau import DropFolder
from engine.report.tables import table
from engine.store.db import reading
from engine.store.queries import find_cards, get_cards, list_outbox, open_store, upsert_users
from engine.store.users import read_users
from engine.store.views import card_view

SAMPLE_USERS = Path(__file__).resolve().parent / "samples" / "users.csv"
ORDER, REQUEST = "CardsAddonExtProdBoProcOrderMultiple", "CardsBoProcRequestMulitple"
#: Where the printer connector (connectors.yaml) writes its print jobs.
PRINT_JOBS = "CARDFLOW_PRINT_JOBS"


def run_demo(workspace: Workspace, folder: Path) -> Iterator[str]:
    """Run the demo in `folder` (store, orders), yielding lines to print as it goes."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = open_store(str(folder / "cardflow.db"))
    bureau = DropFolder(folder / "orders")
    rows = read_users(SAMPLE_USERS)
    with engine.begin() as connection:
        upsert_users(connection, rows)
    users = _keep_sample_users(folder)
    yield f"Demo store {folder / 'cardflow.db'}, orders in {folder / 'orders'}, sample users in {users}"
    yield f"1. Imported {len(rows)} sample users (operators op1, op2; approvers ap1, ap2; some users inactive)."

    def run(step: str, process: str, where: str, actor: str, **overrides: object) -> list[int]:
        request = RunRequest(process, actor, Selection(where=where), overrides)
        result = run_batch(workspace, engine, request, bureau)
        made = [r.card for r in result.results if r.card is not None]
        skipped = result.counts.get("skipped", 0)
        states = ", ".join(f"{s} {n}" for s, n in sorted(result.counts.items()) if s != "skipped")
        options = " with " + ", ".join(f"{k}={v}" for k, v in overrides.items()) if overrides else " with the default options"
        lines.append(f"{step} {actor} runs {process} for {where}{options}: {states}; {skipped} skipped (not active).")
        return made

    lines: list[str] = []
    sales = run("2.", ORDER, "user.department == 'Sales'", "op1")
    act(workspace, engine, "abort", sales[:1], "op2", bureau)
    lines.append(f"3. op2 aborts the queued card {sales[0]} (CardsAddonExtProdProcAbort).")
    engineering = run("4.", REQUEST, "user.department == 'Engineering'", "op1")
    support = run("5.", ORDER, "user.department == 'Support'", "op2", CardsAddonExtProdBatchOrderApproval=True)
    act(workspace, engine, "approve", support[:4], "ap1", bureau)
    act(workspace, engine, "reject", support[4:6], "ap1", bureau, reason="No budget for new cards this quarter")
    act(workspace, engine, "postpone", support[6:7], "ap1", bureau, reason="Ask the manager")
    lines.append(f"6. ap1 approves cards {support[:4]}, rejects {support[4:6]} with a reason, postpones {support[6:7]}.")
    finance = run("7.", REQUEST, "user.department == 'Finance'", "op1", CardsBatchRequestApproval=True)
    act(workspace, engine, "approve", finance[:3], "ap2", bureau)
    act(workspace, engine, "reject", finance[3:4], "ap2", bureau, reason="Duplicate request")
    lines.append(f"8. ap2 approves requests {finance[:3]} and rejects {finance[3:4]}.")
    synced = sync_queue(workspace, engine, bureau, limit=8)
    lines.append(f"9. The batch sync orders {len(synced)} queued cards at the bureau (limit 8); the rest stay queued.")
    lines += _card_in_use(workspace, engine, bureau, engineering[:3], folder / "print-jobs")
    yield from lines
    yield ""
    yield from _summary(engine)
    yield ""
    store = folder / "cardflow.db"
    yield f"Explore: cardflow cards --db {store}; cardflow explain {support[0]} --db {store}"
    yield (
        f"Console: cardflow users password op1 --db {store}; cardflow serve --db {store} --orders {folder / 'orders'}; "
        "then open http://127.0.0.1:8000/ and log in as op1 (operator) or, with a password set the same way, ap1 (approver)"
    )


def _card_in_use(workspace: Workspace, engine: Engine, bureau: DropFolder, cards: list[int], prints: Path) -> list[str]:
    """The rest of a card's life for three approved requests: issued on the printer (print jobs in
    `prints`), activated, one deactivated and reactivated, one locked."""
    kept = os.environ.get(PRINT_JOBS)
    os.environ[PRINT_JOBS] = str(prints)  # the printer connector's folder, for this demo only
    try:
        act(workspace, engine, "issue", cards, "op1", bureau, process="CardsBoProcIssueMultiple")
        act(workspace, engine, "activate", cards, "op1", bureau)
        act(workspace, engine, "deactivate", cards[:1], "op2", bureau, reason="Left for a long trip")
        act(workspace, engine, "reactivate", cards[:1], "op2", bureau)
        act(workspace, engine, "lock", cards[1:2], "op1", bureau, reason="Reported lost")
    finally:
        if kept is None:
            os.environ.pop(PRINT_JOBS, None)
        else:
            os.environ[PRINT_JOBS] = kept
    with reading(engine) as connection:
        valid = card_view(get_cards(connection, cards[:1])[cards[0]]).get("valid_until")
    fired, reminded = _expiry_reminders(workspace, engine, bureau, str(valid))
    return [
        f"10. op1 issues the approved requests {cards} (Issue multiple cards): "
        f"{len(list(prints.glob('*.json')))} print jobs in {prints}.",
        f"11. op1 activates them (Activate card): valid until {valid}.",
        f"12. op2 deactivates card {cards[0]} and reactivates it; op1 locks card {cards[1]}, reported lost (Lock card).",
        f"13. 60 days before {valid} (the demo moves its clock there), the timers run: {fired} fire, among them the"
        f" first expiry reminder of each active card ({reminded}, card_expiring); none for the locked card.",
    ]


def _expiry_reminders(workspace: Workspace, engine: Engine, bureau: DropFolder, valid: str) -> tuple[int, int]:
    """Fire the timers due by 60 days before `valid` (the first expiry reminder), with the clock there:
    how many fired, and how many of them were expiry reminders."""
    with frozen(later(f"{valid}T09:00:00Z", days=-60)):
        fired = [result for result in fire_due(workspace, engine, bureau) if result.status == "fired"]
    return len(fired), sum(1 for result in fired if result.trigger == "remind_expiry")


def _keep_sample_users(folder: Path) -> Path:
    """The sample users as `folder/users.csv`, to look at and import again (a file already there is kept)."""
    kept = folder / "users.csv"
    if not kept.exists():
        shutil.copyfile(SAMPLE_USERS, kept)
    return kept


def _summary(engine: Engine) -> Iterator[str]:
    with reading(engine) as connection:
        cards = find_cards(connection)
        emails = list_outbox(connection)
    counts = Counter((card["process"], card["state"]) for card in cards)
    yield "Cards by process and state:"
    yield table(["process", "state", "cards"], [[process, state, n] for (process, state), n in sorted(counts.items())])
    totals = Counter(card["state"] for card in cards)
    yield "Cards by state: " + ", ".join(f"{state} {n}" for state, n in sorted(totals.items()))
    by_template = Counter(email["template"] for email in emails)
    yield f"Emails queued in the outbox: {len(emails)} ({', '.join(f'{t} {n}' for t, n in sorted(by_template.items()))})"
