"""Workers on a real PostgreSQL server, as real processes: a batch worked by three `cardflow worker`
processes while one is killed, the scheduled batch sync on two workers, SIGTERM after the job, a killed
scheduled job, a restart of PostgreSQL under the workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, _free_port
from sqlalchemy import Engine, create_engine, text

CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")

pytestmark = pytest.mark.slow


class Site:
    """A folder whose commands share one PostgreSQL store; starts and reaps cardflow processes."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder, self.url = folder, url
        self.env = {**os.environ, "CARDFLOW_DB": url}
        for name in ("CARDFLOW_WORKSPACE", "CARDFLOW_CONNECTOR", "CARDFLOW_ORDERS", "CARDFLOW_MAIL_DIR", "CARDFLOW_SMTP_HOST"):
            self.env.pop(name, None)
        self.engine: Engine = create_engine(url)
        self.workers: list[subprocess.Popen[str]] = []
        self.logs: list[Any] = []

    def cardflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([CARDFLOW, *args], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    def users(self, count: int) -> None:
        rows = ["id,name,email,state,roles", "op1,Olle,op1@example.com,active,operator"]
        rows += [f"u{i:05d},User {i},u{i}@example.com,active," for i in range(count)]
        (self.folder / "users.csv").write_text("\n".join(rows) + "\n")
        self.cardflow("users", "import", "users.csv")

    def worker(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start a worker (taken for dead 3 s after its last heartbeat) writing orders and emails to the site's
        orders/ and mail/ (absolute paths), and wait until it is registered."""
        before = self.value("SELECT count(*) FROM procrastinate_workers") if self.has_queue() else 0
        log = open(self.folder / f"worker{len(self.workers)}.log", "w")  # noqa: SIM115 (closed by stop)
        self.logs.append(log)
        folders = ("--orders", str(self.folder / "orders"), "--to-dir", str(self.folder / "mail"))
        process = subprocess.Popen(
            [CARDFLOW, "worker", "--stalled-after", "3", *folders, *args],
            cwd=cwd or self.folder,
            env=self.env,
            stderr=log,
            text=True,
        )
        self.workers.append(process)
        wait_for(lambda: self.has_queue() and self.value("SELECT count(*) FROM procrastinate_workers") > before, process)
        return process

    def has_queue(self) -> bool:
        return self.value("SELECT to_regclass('procrastinate_workers') IS NOT NULL") is True

    def value(self, sql: str, **parameters: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), parameters).scalar()

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        for log in self.logs:
            log.close()
        self.engine.dispose()


def wait_for(condition: Callable[[], bool], *watched: subprocess.Popen[str], deadline: float = 180) -> None:
    """Poll `condition` until it holds; fail at the deadline, or at once if a watched process died."""
    end = time.monotonic() + deadline
    while not condition():
        assert all(process.poll() is None for process in watched), "a worker exited"
        assert time.monotonic() < end, "the condition did not hold in time"
        time.sleep(0.2)


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    running = Site(tmp_path, postgres_url)
    try:
        yield running
    finally:
        running.stop()


class OwnServer:
    """A throw-away PostgreSQL server of one test's own (`.ci/postgres`), which the test may restart."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cardflow-restart-"))  # in /tmp: the postgres user must reach it
        self.script = str(ROOT / ".ci" / "postgres")
        started = subprocess.run([self.script, "start", str(self.folder), str(_free_port())], capture_output=True, text=True)
        if started.returncode != 0:
            message = f"NO POSTGRESQL SERVER of its own: the test did not run ({started.stderr.strip()[-300:]})"
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
        self.url = started.stdout.strip()

    def restart(self) -> None:
        """`pg_ctl restart` (fast: every connection is cut), as the postgres user, as `.ci/postgres` runs it."""
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
        log = str(self.folder / "server.log")  # not pg_ctl's output: the server would hold it open
        command = [str(pg_ctl), "-D", str(self.folder / "data"), "-l", log, "-m", "fast", "-w", "restart"]
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*as_postgres, *command], check=True, stdout=subprocess.DEVNULL, timeout=120)

    def stop(self) -> None:
        subprocess.run([self.script, "stop", str(self.folder)], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Site]:
    """A site on a PostgreSQL server of its own, which the test may restart."""
    server = OwnServer()
    running = Site(tmp_path, server.url)
    running.server = server  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.stop()
        server.stop()


def test_three_workers_finish_a_batch_although_one_is_killed(site: Site) -> None:
    """20,000 users, three workers, one killed with SIGKILL in the middle of a chunk: the batch completes
    with exactly one card, audit row, order and email for every eligible user, and the lost job was retried."""
    site.users(20_000)
    victim = site.worker()
    victim_id = site.value("SELECT max(id) FROM procrastinate_workers")
    others = [site.worker(), site.worker()]
    out = site.cardflow(
        "run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workers", "--detach", "--chunk-size", "1000", "--json"
    )
    batch = json.loads(out.stdout)["batch"]
    in_flight = (
        "SELECT max(id) FROM procrastinate_jobs WHERE task_name = 'cardflow.chunk' AND status = 'doing' AND worker_id = :worker"
    )
    done = "SELECT count(*) FROM batch_chunks WHERE status = 'done'"
    while True:  # stop the victim in the middle of a chunk job (not between two), then kill it there
        wait_for(lambda: site.value(done) >= 2 and site.value(in_flight, worker=victim_id) is not None, *others)
        victim.send_signal(signal.SIGSTOP)
        if site.value(in_flight, worker=victim_id) is not None:
            break
        victim.send_signal(signal.SIGCONT)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    lost = site.value(in_flight, worker=victim_id)  # read after the kill: the job the victim really lost
    assert lost is not None
    wait_for(lambda: site.value("SELECT status FROM batches WHERE id = :b", b=batch) != "running", *others, deadline=300)
    users = 20_001  # every card holder and the operator: all active, none with an open card
    assert site.value("SELECT status FROM batches WHERE id = :b", b=batch) == "complete"
    assert site.value("SELECT count(*) FROM cards") == site.value("SELECT count(DISTINCT user_id) FROM cards") == users
    assert (
        site.value("SELECT count(*) FROM transitions") == site.value("SELECT count(DISTINCT card_id) FROM transitions") == users
    )
    assert site.value("SELECT count(*) FROM orders") == site.value("SELECT count(DISTINCT card_id) FROM orders") == users
    assert site.value("SELECT count(*) FROM outbox WHERE template = 'card_ordered'") == users
    assert site.value("SELECT count(DISTINCT card_id) FROM outbox") == users
    assert len(list((site.folder / "orders").glob("*.json"))) == users
    assert site.value("SELECT attempts FROM procrastinate_jobs WHERE id = :j", j=lost) >= 1
    assert site.value("SELECT status FROM procrastinate_jobs WHERE id = :j", j=lost) == "succeeded"
    listed = site.cardflow("batches").stdout
    assert batch in listed and "complete" in listed and f"{users}/{users}" in listed


def test_two_workers_with_the_scheduled_batch_sync_order_each_card_once(site: Site, workspace: Path) -> None:
    """The batch sync every two seconds on two workers: each of 1,000 queued cards is ordered exactly once."""
    (workspace / "schedule.yaml").write_text('jobs:\n  batch-sync:\n    schedule: "* * * * * */2"\n')
    site.users(1_000)
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--workspace", str(workspace))
    queued = site.value("SELECT count(*) FROM cards WHERE state = 'processing'")
    assert queued == 1_001
    workers = [site.worker("--workspace", str(workspace)) for _ in range(2)]
    wait_for(lambda: site.value("SELECT count(*) FROM cards WHERE state = 'processing'") == 0, *workers)
    succeeded = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cardflow.batch-sync' AND status = 'succeeded'"
    wait_for(lambda: site.value(succeeded) >= 3, *workers)  # a few more syncs, with nothing left to order
    assert site.value("SELECT count(*) FROM orders") == site.value("SELECT count(DISTINCT card_id) FROM orders") == queued
    assert site.value("SELECT count(*) FROM transitions WHERE trigger = 'order'") == queued
    assert site.value("SELECT count(*) FROM outbox WHERE template = 'card_ordered'") == queued
    assert len(list((site.folder / "orders").glob("*.json"))) == queued
    for process in workers:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(timeout=60) for process in workers] == [0, 0]


def test_a_worker_runs_a_scheduled_job_named_by_a_system_process(site: Site, workspace: Path) -> None:
    """A schedule naming the batch-sync process by its symbolic name: a worker runs it, ordering the queued cards."""
    (workspace / "schedule.yaml").write_text('jobs:\n  CardsAddonExtProdBatchSync:\n    schedule: "* * * * * */2"\n')
    site.users(20)
    site.cardflow("run", ORDER, "--all", "--as", "op1", "--workspace", str(workspace))
    worker = site.worker("--workspace", str(workspace))
    wait_for(lambda: site.value("SELECT count(*) FROM cards WHERE state = 'ordered'") == 21, worker)
    done = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task AND status = 'succeeded'"
    wait_for(lambda: site.value(done, task="cardflow.CardsAddonExtProdBatchSync") >= 1, worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0


def test_sigterm_stops_a_worker_after_its_current_job(site: Site) -> None:
    """SIGTERM during a chunk: the worker finishes that chunk, takes no other, and exits 0."""
    site.users(6_000)
    worker = site.worker()
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workers", "--detach", "--chunk-size", "2000")
    doing = "SELECT max(id) FROM procrastinate_jobs WHERE task_name = 'cardflow.chunk' AND status = 'doing'"
    wait_for(lambda: site.value(doing) is not None, worker)
    job = site.value(doing)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    assert site.value("SELECT status FROM procrastinate_jobs WHERE id = :j", j=job) == "succeeded"
    assert site.value("SELECT count(*) FROM batch_chunks WHERE status = 'done'") == 1
    assert site.value("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cardflow.chunk' AND status = 'todo'") >= 1
    assert "worker stopped" in (site.folder / "worker0.log").read_text()


def test_run_with_workers_waits_for_them(site: Site) -> None:
    """`run --workers` (no --detach) waits until the workers are done and prints the batch id first (--json)."""
    site.users(3_000)
    site.worker("--concurrency", "2")
    out = site.cardflow("run", ORDER, "--all", "--as", "op1", "--workers", "--chunk-size", "500", "--json")
    assert out.stdout.lstrip().startswith('{\n  "batch": "B')
    summary = json.loads(out.stdout)
    assert (summary["status"], summary["created"], summary["skipped"]) == ("complete", 3_001, 0)
    (listed,) = json.loads(site.cardflow("batches", "--json").stdout)
    assert (listed["status"], listed["progress"]) == ("complete", {"done": 3_001, "users": 3_001})


def test_a_worker_runs_the_scheduled_outbox_delivery_and_order_status_sync(site: Site, workspace: Path) -> None:
    """Scheduled on a worker: every pending email delivered once (.eml files without SMTP settings),
    and the bureau's status files move the ordered cards on."""
    (workspace / "schedule.yaml").write_text(
        'jobs:\n  outbox-send:\n    schedule: "* * * * * */2"\n  orders-sync:\n    schedule: "* * * * * */2"\n'
    )
    site.users(200)
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workspace", str(workspace))
    (site.folder / "orders" / "status").mkdir()
    for order in sorted((site.folder / "orders").glob("*.json"))[:50]:
        (site.folder / "orders" / "status" / order.name).write_text('{"status": "produced"}')
    worker = site.worker("--workspace", str(workspace))
    wait_for(lambda: site.value("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0, worker)
    wait_for(lambda: site.value("SELECT count(*) FROM cards WHERE state = 'produced'") == 50, worker)
    assert site.value("SELECT count(*) FROM outbox WHERE status = 'sent'") == 201
    assert len(list((site.folder / "mail").glob("*.eml"))) == 201
    assert site.value("SELECT count(*) FROM transitions WHERE trigger = 'produced' AND actor = 'system'") == 50


def test_a_worker_sends_the_pending_calls_again_on_its_schedule(site: Site, workspace: Path) -> None:
    """Orders that got no answer (the drop folder could not be written) wait as pending calls; once it can,
    the scheduled `calls-send` of a worker sends each once, when due, and the cards are ordered."""
    (workspace / "schedule.yaml").write_text('jobs:\n  calls-send:\n    schedule: "* * * * * */2"\n')
    site.users(20)
    (site.folder / "orders").write_text("not a folder")
    run = [CARDFLOW, "run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workspace", str(workspace)]
    waiting = subprocess.run(run, cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=300)
    assert waiting.returncode == 1, waiting.stderr
    assert site.value("SELECT count(*) FROM calls WHERE status = 'pending'") == 21
    (site.folder / "orders").unlink()
    site.env["CARDFLOW_NOW"] = "2099-01-01T00:00:00Z"  # every call is due
    worker = site.worker("--workspace", str(workspace))
    wait_for(lambda: site.value("SELECT count(*) FROM cards WHERE state = 'ordered'") == 21, worker)
    assert site.value("SELECT count(*) FROM calls WHERE status = 'answered'") == 21
    assert len(list((site.folder / "orders").glob("*.json"))) == 21


def test_two_order_status_syncs_at_once_move_each_card_once(site: Site) -> None:
    """Two `orders sync` at the same moment over 1,000 ordered cards: each card moves once, one audit row each."""
    site.users(999)
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF)
    (site.folder / "orders" / "status").mkdir()
    for order in (site.folder / "orders").glob("*.json"):
        (site.folder / "orders" / "status" / order.name).write_text('{"status": "in_production"}')
    both = [
        subprocess.Popen([CARDFLOW, "orders", "sync"], cwd=site.folder, env=site.env, stdout=subprocess.DEVNULL) for _ in range(2)
    ]
    assert [process.wait(timeout=300) for process in both] == [0, 0]
    assert site.value("SELECT count(*) FROM cards WHERE state = 'in_production'") == 1_000
    assert site.value("SELECT count(*) FROM transitions WHERE trigger = 'production_started'") == 1_000
    assert site.value("SELECT count(DISTINCT card_id) FROM transitions WHERE trigger = 'production_started'") == 1_000


def test_the_command_given_by_an_incomplete_run_with_workers_finishes_the_batch(site: Site) -> None:
    """Workers meeting a bureau that does not answer leave the batch incomplete; `run --workers` prints the exact
    command (--as, --set, --db, --workers, --batch-id), and run as printed once the bureau answers it completes."""
    import re
    import shlex

    from bureau_server import FakeBureau, respond

    site.users(1)  # op1 and u00000
    with FakeBureau() as bureau:
        proxies = [name for name in site.env if name.lower().endswith("_proxy")]
        site.env = {k: v for k, v in site.env.items() if k not in proxies}
        site.env.update(bureau.env(), CARDFLOW_CONNECTOR="http", CARDFLOW_BUREAU_TIMEOUT="2")
        bureau.then(respond(503), respond(503))
        site.worker()
        command = [CARDFLOW, "run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workers"]
        first = subprocess.run(command, cwd=site.folder, env=site.env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 1, first.stderr
        (again,) = re.findall(r"run it again with `(cardflow [^`]*)`", first.stderr)
        words = shlex.split(again)
        assert {"--as", "--set", "--db", "--workers", "--batch-id"} <= set(words)
        finished = site.cardflow(*words[1:])
        assert "status: complete" in finished.stdout
        assert len(bureau.orders) == 2


def test_a_worker_refuses_folders_relative_to_where_it_was_started(site: Site, tmp_path: Path) -> None:
    """A worker given no drop folder, or a relative one, or no .eml folder for the scheduled outbox
    delivery without SMTP, exits 2 with one line and writes nothing where it was started."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    asked = [(), ("--orders", "orders"), ("--orders", str(site.folder / "orders")), ("--orders", "/o", "--to-dir", "mail")]
    for args in asked:
        done = subprocess.run(
            [CARDFLOW, "worker", *args], cwd=elsewhere, env=site.env, capture_output=True, text=True, timeout=60
        )
        assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
        assert "absolute folder" in done.stderr and ("--orders" in done.stderr or "--to-dir" in done.stderr)
    assert list(elsewhere.iterdir()) == []


def test_a_worker_started_elsewhere_writes_orders_and_emails_to_its_absolute_folders(site: Site, workspace: Path) -> None:
    """A worker started in another folder writes the orders of a `run --workers` and the emails of its
    scheduled outbox delivery to the absolute folders it was given, and nothing where it was started."""
    (workspace / "schedule.yaml").write_text('jobs:\n  outbox-send:\n    schedule: "* * * * * */2"\n')
    elsewhere = site.folder / "elsewhere"
    elsewhere.mkdir()
    site.users(100)
    worker = site.worker("--workspace", str(workspace), cwd=elsewhere)
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workers", "--workspace", str(workspace))
    wait_for(lambda: site.value("SELECT count(*) FROM outbox WHERE status = 'pending'") == 0, worker)
    assert len(list((site.folder / "orders").glob("*.json"))) == 101
    assert len(list((site.folder / "mail").glob("*.eml"))) == site.value("SELECT count(*) FROM outbox") > 0
    assert list(elsewhere.iterdir()) == []


def test_a_worker_killed_during_the_scheduled_outbox_delivery_does_not_block_it(site: Site, workspace: Path) -> None:
    """A worker killed (SIGKILL) in the middle of the scheduled outbox delivery, with a second worker running: the
    lost job is given up for the next run already queued, which goes ahead, and every email is sent within a bound."""
    (workspace / "schedule.yaml").write_text('jobs:\n  outbox-send:\n    schedule: "* * * * * */2"\n')
    site.users(2_000)
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workspace", str(workspace))
    workers: dict[int, subprocess.Popen[str]] = {}
    for _ in range(2):
        process = site.worker("--workspace", str(workspace))
        workers[site.value("SELECT max(id) FROM procrastinate_workers")] = process
    doing = "SELECT max(worker_id) FROM procrastinate_jobs WHERE task_name = 'cardflow.outbox-send' AND status = 'doing'"
    pending = "SELECT count(*) FROM outbox WHERE status = 'pending'"
    while True:  # stop the worker delivering in the middle of its delivery, then kill it there
        wait_for(lambda: site.value(doing) is not None and site.value(pending) < 1_900, *workers.values())
        victim_id = site.value(doing)
        workers[victim_id].send_signal(signal.SIGSTOP)
        if site.value(doing) == victim_id and site.value(pending) > 0:
            break
        workers[victim_id].send_signal(signal.SIGCONT)
    victim = workers.pop(victim_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    lost = site.value(
        "SELECT max(id) FROM procrastinate_jobs WHERE task_name = 'cardflow.outbox-send' AND status = 'doing' AND worker_id = :w",
        w=victim_id,
    )
    wait_for(lambda: site.value(pending) == 0, *workers.values(), deadline=180)  # without the fix: never
    assert site.value("SELECT count(*) FROM outbox WHERE status = 'sent'") == 2_001
    assert len(list((site.folder / "mail").glob("*.eml"))) == 2_001
    assert site.value("SELECT status FROM procrastinate_jobs WHERE id = :j", j=lost) == "failed"


def test_two_workers_finish_a_batch_across_a_restart_of_the_database(restartable: Site) -> None:
    """`pg_ctl restart` under two workers working a batch: they reconnect and carry on, and the batch
    completes, with one card for everyone, without a new worker."""
    site = restartable
    site.users(6_000)
    workers = [site.worker(), site.worker()]
    out = site.cardflow(
        "run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workers", "--detach", "--chunk-size", "500", "--json"
    )
    batch = json.loads(out.stdout)["batch"]
    wait_for(lambda: site.value("SELECT count(*) FROM batch_chunks WHERE status = 'done'") >= 1, *workers)
    site.engine.dispose()
    site.server.restart()  # type: ignore[attr-defined]
    status = "SELECT status FROM batches WHERE id = :b"
    wait_for(lambda: _answers(site) and site.value(status, b=batch) != "running", *workers, deadline=240)
    assert site.value(status, b=batch) == "complete"
    assert site.value("SELECT count(*) FROM cards") == site.value("SELECT count(DISTINCT user_id) FROM cards") == 6_001
    assert site.value("SELECT count(*) FROM orders") == site.value("SELECT count(DISTINCT card_id) FROM orders") == 6_001
    for process in workers:
        process.send_signal(signal.SIGTERM)
    assert [process.wait(timeout=60) for process in workers] == [0, 0]


def test_a_worker_whose_store_stays_away_exits_1_after_its_bound(restartable: Site) -> None:
    """A worker whose PostgreSQL server stops for good reconnects until --give-up-after, then exits 1 with a
    one-line message, not 0 as if it had been asked to stop. It closes the queue's pool as soon as it
    finds the store gone, so that nothing waits out the pool's time-out first (it took 20 to 85 s)."""
    site = restartable
    site.users(1)
    worker = site.worker("--give-up-after", "3")
    site.engine.dispose()
    subprocess.run([site.server.script, "stop", str(site.server.folder)], check=True)  # type: ignore[attr-defined]
    assert worker.wait(timeout=120) == 1
    log = (site.folder / "worker0.log").read_text()
    assert "lost the store (its database does not answer)" in log and "did not answer for 3 s" in log
    assert "the store does not answer: the jobs at hand are left to be worked again" in log
    assert "Traceback" not in log and "worker stopped" not in log


def test_sigterm_stops_a_worker_between_two_emails_of_a_long_delivery(site: Site, workspace: Path) -> None:
    """SIGTERM during the scheduled delivery of 3,000 emails: the worker stops after the email at hand, within
    seconds, exits 0, and leaves the rest pending for the next run."""
    (workspace / "schedule.yaml").write_text('jobs:\n  outbox-send:\n    schedule: "* * * * * */2"\n')
    site.users(3_000)
    site.cardflow("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--workspace", str(workspace))
    worker = site.worker("--workspace", str(workspace))
    sent = "SELECT count(*) FROM outbox WHERE status = 'sent'"
    wait_for(lambda: site.value(sent) >= 100, worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert 100 <= site.value(sent) < 3_000
    assert site.value(sent) == len(list((site.folder / "mail").glob("*.eml")))
    assert site.value("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'") == 0


def _answers(site: Site) -> bool:
    """The site's database answers (a query on a connection cut by a restart fails once; the next one reconnects)."""
    try:
        return site.value("SELECT 1") == 1
    except Exception:
        site.engine.dispose()
        return False
