"""`cardflow run NAME --workers` for a process that acts on existing cards, with real `cardflow worker`
processes on a real PostgreSQL server, on the extended workspace (Activate multiple cards, added in
YAML alone): two workers finish the run, a killed worker's chunk is finished by another, `--detach`
then waiting on the batch, the JSON summary and the refused cards."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_workers import CARDFLOW, Site, wait_for

from engine.definitions.files import reference_workspace

ORDER, ACTIVATE = "CardsAddonExtProdBoProcOrderMultiple", "TestBoProcActivateMultiple"

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path, postgres_url: str, extended_workspace: Path) -> Iterator[Site]:
    """A site on the extended workspace (its commands and its workers)."""
    running = Site(tmp_path, postgres_url)
    running.env["CARDFLOW_WORKSPACE"] = str(extended_workspace)
    try:
        yield running
    finally:
        running.stop()


def produced(site: Site, count: int) -> int:
    """`count` users, each with a card the bureau reports produced (and op1's, ordered too); how many cards are produced."""
    site.users(count)
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--set", "CardsAddonExtProdQueue=false")
    (site.folder / "orders" / "status").mkdir()
    for order in (site.folder / "orders").glob("*.json"):
        (site.folder / "orders" / "status" / order.name).write_text('{"status": "produced"}')
    site.cardflow("orders", "sync")
    return int(site.value("SELECT count(*) FROM cards WHERE state = 'produced'"))


def activated_once(site: Site, cards: int) -> bool:
    """Every card active, each moved by exactly one audit row of the trigger."""
    moves = "SELECT count(*) FROM transitions WHERE trigger = 'activate'"
    distinct = "SELECT count(DISTINCT card_id) FROM transitions WHERE trigger = 'activate'"
    active = "SELECT count(*) FROM cards WHERE state = 'active'"
    return bool(site.value(moves) == site.value(distinct) == site.value(active) == cards)


def test_two_workers_finish_a_run_over_cards(site: Site) -> None:
    """`run ACTIVATE --all --workers` with two workers: every produced card activated once, the JSON
    summary of a run with workers (the batch id first), and `batches` shows the cards of its chunks done."""
    cards = produced(site, 1_200)
    workers = [site.worker(), site.worker()]
    out = site.cardflow("run", ACTIVATE, "--all", "--as", "op1", "--workers", "--chunk-size", "200", "--json")
    assert out.stdout.lstrip().startswith('{\n  "batch": "B')
    summary = json.loads(out.stdout)
    assert summary == {"batch": summary["batch"], "process": ACTIVATE, "status": "complete", "created": cards, "skipped": 0}
    assert activated_once(site, cards)
    assert site.value("SELECT count(*) FROM batch_chunks WHERE batch_id = :b AND status = 'done'", b=summary["batch"]) == 7
    listed = [b for b in json.loads(site.cardflow("batches", "--json").stdout) if b["id"] == summary["batch"]]
    assert [(b["status"], b["progress"]) for b in listed] == [("complete", {"done": cards, "users": cards})]
    assert all(worker.poll() is None for worker in workers)


def test_a_killed_workers_chunk_over_cards_is_finished_by_another(site: Site) -> None:
    """A worker killed with SIGKILL in the middle of a chunk of cards: another worker works that chunk
    again, and every card is activated exactly once (no card fired twice)."""
    cards = produced(site, 3_000)
    victim = site.worker()
    victim_id = site.value("SELECT max(id) FROM procrastinate_workers")
    other = site.worker()
    # thirty chunks: the victim is caught in the middle of one even where a chunk takes a few milliseconds
    out = site.cardflow("run", ACTIVATE, "--all", "--as", "op1", "--workers", "--detach", "--chunk-size", "100", "--json")
    batch = json.loads(out.stdout)["batch"]
    in_flight = (
        "SELECT max(id) FROM procrastinate_jobs WHERE task_name = 'cardflow.chunk' AND status = 'doing' AND worker_id = :worker"
    )
    done = "SELECT count(*) FROM batch_chunks WHERE status = 'done' AND batch_id = :b"
    while True:  # stop the victim in the middle of a chunk job, then kill it there
        wait_for(lambda: site.value(done, b=batch) >= 1 and site.value(in_flight, worker=victim_id) is not None, other)
        victim.send_signal(signal.SIGSTOP)
        if site.value(in_flight, worker=victim_id) is not None:
            break
        victim.send_signal(signal.SIGCONT)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    lost = site.value(in_flight, worker=victim_id)
    assert lost is not None
    wait_for(lambda: site.value("SELECT status FROM batches WHERE id = :b", b=batch) != "running", other, deadline=300)
    assert site.value("SELECT status FROM batches WHERE id = :b", b=batch) == "complete"
    assert site.value("SELECT created FROM batches WHERE id = :b", b=batch) == cards
    assert activated_once(site, cards)
    # the killed worker's job is taken again once stalled (its chunk may have committed before the kill)
    lost_status = "SELECT status FROM procrastinate_jobs WHERE id = :j"
    wait_for(lambda: site.value(lost_status, j=lost) in ("succeeded", "failed"), other, deadline=300)
    assert site.value(lost_status, j=lost) == "succeeded"


def test_detach_returns_the_batch_id_and_the_batch_id_waits_for_it(site: Site) -> None:
    """`--workers --detach` returns the batch id at once with its chunks queued (nothing done without a
    worker); the same command with `--batch-id` and without `--detach` waits until the workers finish it."""
    cards = produced(site, 300)
    out = site.cardflow("run", ACTIVATE, "--all", "--as", "op1", "--workers", "--detach", "--chunk-size", "100", "--json")
    detached = json.loads(out.stdout)
    assert detached == {"batch": detached["batch"], "status": "running", "chunks": 4}
    assert site.value("SELECT count(*) FROM cards WHERE state = 'active'") == 0
    site.worker()
    again = ("run", ACTIVATE, "--all", "--as", "op1", "--workers", "--batch-id", detached["batch"], "--json")
    summary = json.loads(site.cardflow(*again).stdout)
    outcome = (summary["batch"], summary["status"], summary["created"], summary["skipped"])
    assert outcome == (detached["batch"], "complete", cards, 0)
    assert activated_once(site, cards)  # a chunk deferred again while a worker had it was not worked twice


def test_cards_refused_on_workers_are_counted_and_exit_1(site: Site) -> None:
    """`--card` over workers with a card in the wrong state: the others are done, the refused one is counted
    in `skipped`, exit 1 with the dry run that tells why."""
    produced(site, 3)
    site.cardflow("run", ACTIVATE, "--card", "2", "--as", "op1")  # card 2 is active now: a second activation is refused
    site.worker()
    command = ["run", ACTIVATE, "--card", "1", "--card", "2", "--card", "3", "--as", "op1", "--workers", "--json"]
    done = subprocess.run([CARDFLOW, *command], cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["created"], summary["skipped"]) == ("complete", 2, 1)
    assert "1 card(s) refused" in done.stderr and "--dry-run" in done.stderr
    assert site.value("SELECT count(*) FROM cards WHERE state = 'active'") == 3


def test_the_command_given_by_an_incomplete_run_over_cards_on_workers_finishes_it(site: Site) -> None:
    """Workers ordering failed cards again at a bureau that does not answer leave the batch incomplete;
    `run --workers` exits 1 with the exact command (--batch-id), which, once the bureau answers, completes it
    with one order per card."""
    import re
    import shlex

    from bureau_server import FakeBureau, respond

    site.users(1)  # op1 and u00000
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--set", "CardsAddonExtProdQueue=false")
    (site.folder / "orders" / "status").mkdir()
    for order in (site.folder / "orders").glob("*.json"):
        (site.folder / "orders" / "status" / order.name).write_text('{"status": "failed", "reason": "Chip defect"}')
    site.cardflow("orders", "sync")
    with FakeBureau() as bureau:
        proxies = [name for name in site.env if name.lower().endswith("_proxy")]
        site.env = {k: v for k, v in site.env.items() if k not in proxies}
        site.env.update(bureau.env(), CARDFLOW_CONNECTOR="http", CARDFLOW_BUREAU_TIMEOUT="2")
        bureau.then(respond(503), respond(503))
        site.worker()
        command = [CARDFLOW, "run", "CardsAddonExtProdProcRetryOrder", "--all", "--as", "op1", "--workers"]
        first = subprocess.run(command, cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 1, first.stderr
        (again,) = re.findall(r"run it again with `(cardflow [^`]*)`", first.stderr)
        assert "--batch-id" in shlex.split(again)
        finished = site.cardflow(*shlex.split(again)[1:])
        assert "status: complete" in finished.stdout and "created: 2" in finished.stdout
        assert len(bureau.orders) == 2
    assert site.value("SELECT count(*) FROM cards WHERE state = 'ordered'") == 2
    assert site.value("SELECT count(*) FROM transitions WHERE trigger = 'retry'") == 2


def test_workers_act_only_on_the_cards_a_bulk_actions_filters_find(site: Site) -> None:
    """`run ACTIVATE --holder ... --workers`: the filters are read by the workers' chunk reads too,
    so the one holder's card is activated and no other."""
    produced(site, 30)
    holder = site.value("SELECT user_id FROM cards WHERE state = 'produced' ORDER BY id LIMIT 1")
    site.worker()
    out = site.cardflow("run", ACTIVATE, "--state", "produced", "--holder", holder, "--as", "op1", "--workers", "--json")
    assert json.loads(out.stdout)["created"] == 1
    assert site.value("SELECT count(*) FROM cards WHERE state = 'active'") == 1
    assert site.value("SELECT user_id FROM cards WHERE state = 'active'") == holder


def test_a_run_whose_chunk_jobs_fail_for_good_stops_waiting_and_says_so(site: Site) -> None:
    """A worker on the reference workspace does not know the extended workspace's process: each chunk
    job fails until its retries are spent; `run --workers` stops waiting (never a hang), exits 1 and
    names the failed jobs and the command that finishes the batch once that is fixed."""
    produced(site, 3)
    site.worker("--workspace", str(reference_workspace()))
    command = ["run", ACTIVATE, "--all", "--as", "op1", "--workers"]
    done = subprocess.run([CARDFLOW, *command], cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "1 chunk job(s) of batch" in done.stderr and "failed for good" in done.stderr and "--batch-id" in done.stderr
    assert site.value("SELECT count(*) FROM cards WHERE state = 'active'") == 0
