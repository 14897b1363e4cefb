"""The floors of bench/batch.py stay honest: on the same users, each writes the rows the engine
writes for its case, table by table, with the same columns filled and values of the same sizes (a
column the engine starts writing, or a call it starts making, fails this until the floor does too)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from engine.batch import timers_due
from engine.batch.over_cards import CARD_CHUNK
from engine.batch.run import BATCH_CHUNK

BENCH = Path(__file__).resolve().parents[1] / "bench"
USERS = 60
#: Tables whose rows are the run's own bookkeeping, not the work a floor does.
BOOKKEEPING = {"batches", "decisions"}


def written(location: Path, before: dict[str, int]) -> dict[str, tuple[int, frozenset[str], int]]:
    """Per table the run wrote to: rows written, the columns filled in them, the size of their values."""
    found = {}
    engine = create_engine(f"sqlite:///{location}")
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            result = connection.execute(text(f'SELECT * FROM "{table}" LIMIT -1 OFFSET :skip'), {"skip": before.get(table, 0)})
            columns, rows = list(result.keys()), result.fetchall()
            if rows and table not in BOOKKEEPING:
                filled = frozenset(name for i, name in enumerate(columns) if any(row[i] is not None for row in rows))
                found[table] = (len(rows), filled, sum(len(str(value)) for row in rows for value in row if value is not None))
    engine.dispose()
    return found


def print_job(path: Path) -> dict[str, Any]:
    """A print job as written, but for the batch that made its card (each store is prepared by a batch of its own)."""
    job = json.loads(path.read_text(encoding="utf-8"))
    return {**job, "card": {**job["card"], "batch": None}}


def counts(location: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{location}")
    with engine.connect() as connection:
        found = {
            table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            for table in inspect(engine).get_table_names()
        }
    engine.dispose()
    return found


@pytest.mark.parametrize(("case", "alike"), [("a", False), ("b", False), ("c", False), ("d", False), ("b", True), ("c", True)])
def test_a_floor_writes_the_rows_the_engine_writes(
    case: str, alike: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each floor, and the floors that insert rows alike in one statement (--floor-inserts alike)."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(tmp_path))  # restored after: case (d)'s measure sets it
    import batch  # bench/batch.py
    import floors  # bench/floors.py

    monkeypatch.setattr(floors, "ALIKE", alike)

    outcome, jobs = {}, {}
    for who, work in (("floor", batch.floor), ("engine", batch.engine_api)):
        store = tmp_path / f"{who}.db"
        batch.prepared_store(str(store), USERS, case)
        before = counts(store)
        work(str(store), case, tmp_path / f"{who}-jobs" / "jobs")
        outcome[who] = written(store, before)
        jobs[who] = sorted(json.dumps(print_job(path), sort_keys=True) for path in (tmp_path / f"{who}-jobs").rglob("*.json"))
    assert len(jobs["engine"]) == (USERS + 1 if case == "d" else 0)  # a print job for each approved card
    assert jobs["floor"] == jobs["engine"]  # case (d): the same print jobs (of cards made by batches of their own)
    floor, engine = outcome["floor"], outcome["engine"]
    assert floor.keys() == engine.keys()
    for table in engine:
        rows, filled, size = engine[table]
        assert (table, floor[table][0], floor[table][1]) == (table, rows, filled)
        sizes = f"{table}: the floor's values are {floor[table][2]} bytes, the engine's {size}"
        assert abs(floor[table][2] - size) <= 0.1 * size, sizes


def test_each_floor_commits_by_the_engine_s_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import floors  # bench/floors.py
    import issue_case

    assert (floors.CHUNK, issue_case.CHUNK) == (BATCH_CHUNK, CARD_CHUNK)


def test_the_timers_floor_writes_the_rows_the_engine_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/timers.py: on one prepared store, the floor and the engine fire the same due timers and
    write the same rows (an audit row a card, each repetition armed), of the same sizes."""
    monkeypatch.syspath_prepend(str(BENCH))
    import timers  # bench/timers.py

    assert timers.CHUNK == timers_due.CHUNK  # the floor commits as the engine does
    monkeypatch.setattr(timers, "CHUNK", 5)  # the floor's 12 due timers in three transactions
    workspace = timers.quiet_workspace(tmp_path / "ws")
    prepared = tmp_path / "prepared.db"
    timers.armed_store(str(prepared), workspace, 40, 12)
    before = counts(prepared)
    outcome = {}
    for who in ("floor", "engine"):
        store = tmp_path / f"{who}.db"
        shutil.copy(prepared, store)
        if who == "floor":
            timers.floor(str(store))
        else:
            timers.engine_fire(str(store), workspace)
        outcome[who] = written(store, before), fired(store, timers.FIRED_AT)
    (floor, floor_fired), (engine, engine_fired) = outcome["floor"], outcome["engine"]
    assert engine_fired == floor_fired == (12, 12)  # timers fired, cards whose time moved
    assert floor.keys() == engine.keys() == {"transitions", "timers"}
    for table in engine:
        rows, filled, size = engine[table]
        assert (table, floor[table][0], floor[table][1]) == (table, rows, filled)
        sizes = f"{table}: the floor's values are {floor[table][2]} bytes, the engine's {size}"
        assert abs(floor[table][2] - size) <= 0.1 * size, sizes


def test_the_timers_bench_runs_its_rounds_in_fresh_processes(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH / "timers.py"), "--armed", "30", "--due", "9", "--repeat", "3"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "30 armed, 9 due, 9 fired, 3 rounds;" in done.stdout and "ratio of medians" in done.stdout


def test_the_arming_bench_runs_each_batch_in_a_fresh_process(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH / "arming.py"), "--users", "40", "--repeat", "3"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "40 users, 41 timers armed;" in done.stdout and "3 rounds, each run in a fresh process" in done.stdout


def fired(location: Path, at: str) -> tuple[int, int]:
    """How many timers were fired at `at`, and how many cards were changed then."""
    engine = create_engine(f"sqlite:///{location}")
    with engine.connect() as connection:
        timers = connection.execute(text("SELECT count(*) FROM timers WHERE status = 'fired' AND fired_at = :at"), {"at": at})
        cards = connection.execute(text("SELECT count(*) FROM cards WHERE updated_at = :at"), {"at": at})
        found = timers.scalar_one(), cards.scalar_one()
    engine.dispose()
    return found


def test_a_measure_reads_its_peak_memory_before_the_print_jobs_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case (d) writes a print job a card; removing the folder lists every file (170 MiB at a million):
    the harness's memory, not the engine's. The peak is read while the folder still holds the jobs."""
    monkeypatch.syspath_prepend(str(BENCH))
    import batch  # bench/batch.py
    import issue_case

    jobs_when_read: list[int] = []
    folder = tmp_path / "print-jobs"

    @contextlib.contextmanager
    def print_jobs() -> Iterator[Path]:
        yield folder / "jobs"
        shutil.rmtree(folder)

    def peak_rss() -> float:
        jobs_when_read.append(sum(1 for path in folder.rglob("*") if path.is_file()))
        return 1.0

    monkeypatch.setenv("CARDFLOW_PRINT_JOBS", str(folder / "jobs"))  # restored after: the measure sets it
    monkeypatch.setattr(issue_case, "print_jobs", print_jobs)
    monkeypatch.setattr(batch, "peak_rss", peak_rss)
    batch.one_measure("d", 12, "api", None)
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["cards"] == 13
    assert jobs_when_read == [13], "the peak was read after the print jobs were removed"
