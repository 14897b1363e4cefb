"""Timers on PostgreSQL, fired by several processes at once: each due timer is fired exactly once
(one audit row each), whether two `timers run` commands or two workers' scheduled `timers-run` jobs
take them side by side."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from test_timers import APPROVAL, REQUEST, timed
from test_workers import CARDFLOW, Site, site, wait_for

from engine.batch.timers_due import CHUNK

__all__ = ["site"]  # the fixture, used by name

pytestmark = pytest.mark.slow
ONCE = """  requested:
    description: The card request waits for an approver.
    timers:
      - after: P3D
        fire: remind
"""


def waiting_requests(site: Site, workspace: Path, count: int) -> Path:
    """`count` requests waiting for an approver, each with a timer armed (due in three days)."""
    timed(workspace, ONCE)
    site.users(count - 1)  # op1 and u00000 ..
    site.cardflow("run", REQUEST, "--all", "--as", "op1", *APPROVAL, "--workspace", str(workspace))
    assert site.value("SELECT count(*) FROM timers WHERE status = 'armed'") == count
    site.env["CARDFLOW_NOW"] = "2099-01-01T00:00:00Z"  # every timer is due
    return workspace


def fired_once(site: Site, count: int) -> None:
    assert site.value("SELECT count(*) FROM timers WHERE status = 'fired'") == count
    assert site.value("SELECT count(*) FROM transitions WHERE trigger = 'remind'") == count
    assert site.value("SELECT count(DISTINCT card_id) FROM transitions WHERE trigger = 'remind'") == count


def test_two_timer_runs_at_once_fire_each_timer_once(site: Site, workspace: Path) -> None:
    ws = waiting_requests(site, workspace, 2_000)
    command = [CARDFLOW, "timers", "run", "--workspace", str(ws)]
    both = [subprocess.Popen(command, cwd=site.folder, env=site.env, stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [process.wait(timeout=300) for process in both] == [0, 0]
    fired_once(site, 2_000)


def test_two_workers_fire_the_due_timers_on_their_schedule_each_once(site: Site, workspace: Path) -> None:
    ws = waiting_requests(site, workspace, 500)
    (ws / "schedule.yaml").write_text('jobs:\n  timers-run:\n    schedule: "* * * * * */2"\n')
    workers = [site.worker("--workspace", str(ws)) for _ in range(2)]
    wait_for(lambda: site.value("SELECT count(*) FROM timers WHERE status = 'armed'") == 0, *workers)
    fired_once(site, 500)


def test_a_worker_killed_while_firing_timers_loses_none(site: Site, workspace: Path) -> None:
    """10,000 due timers and two workers: the one firing them is killed (SIGKILL) in its sixth chunk,
    held there by a lock on one of its cards; the other fires the rest once the killed one's job is
    found stalled, and each timer is fired exactly once."""
    ws = waiting_requests(site, workspace, 10_000)
    sixth = "SELECT card_id FROM timers WHERE status = 'armed' ORDER BY due_at, id OFFSET :done LIMIT 1"
    card = site.value(sixth, done=5 * CHUNK)
    with site.engine.connect() as holder:  # holds a card of the sixth chunk: its firing waits there
        holder.execute(text("SELECT id FROM cards WHERE id = :card FOR UPDATE"), {"card": card})
        pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
        blocked = f"SELECT count(*) FROM pg_stat_activity WHERE {pid} = ANY(pg_blocking_pids(pid))"
        (ws / "schedule.yaml").write_text('jobs:\n  timers-run:\n    schedule: "* * * * * */2"\n')
        workers = {}
        for _ in range(2):
            process = site.worker("--workspace", str(ws))
            workers[site.value("SELECT max(id) FROM procrastinate_workers")] = process
        wait_for(lambda: site.value(blocked) == 1, *workers.values())
        assert site.value("SELECT count(*) FROM timers WHERE status = 'fired'") == 5 * CHUNK
        firing = "SELECT worker_id FROM procrastinate_jobs WHERE task_name = 'cardflow.timers-run' AND status = 'doing'"
        victim_id = site.value(firing)
        victim = workers[victim_id]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        holder.rollback()
    survivor = next(process for worker_id, process in workers.items() if worker_id != victim_id)
    wait_for(lambda: site.value("SELECT count(*) FROM timers WHERE status = 'armed'") == 0, survivor, deadline=300)
    fired_once(site, 10_000)
