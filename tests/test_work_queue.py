"""The task queue on the store: procrastinate's tables made once however many processes open the store for workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import procrastinate
import pytest
from sqlalchemy import create_engine, text

from engine.errors import UsageError
from engine.store import db
from engine.work.queue import conninfo, require_postgres, schema_version

OPEN_FOR_WORKERS = (
    "from engine.store import db; from engine.work.queue import install_schema; print(install_schema(db.connect({url!r})))"
)


def test_four_processes_opening_the_store_for_workers_make_the_tables_once(postgres_url: str) -> None:
    """Four processes at once: one creates procrastinate's tables, the others find them; the version is recorded once."""
    db.connect(postgres_url).dispose()  # cardflow's own tables first: their migrations at once are issue 12a's test
    script = OPEN_FOR_WORKERS.format(url=postgres_url)
    started = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    answers = sorted(process.communicate(timeout=120)[0].strip() for process in started)
    assert answers == ["False", "False", "False", "True"]
    engine = db.connect(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar() is True
        assert connection.execute(text("SELECT count(*) FROM meta WHERE key = 'procrastinate_schema'")).scalar() == 1
    assert schema_version(engine) == procrastinate.__version__
    engine.dispose()


def test_the_queue_connects_to_the_store_database(postgres_url: str) -> None:
    """procrastinate's connection string names the store's own database (libpq form, no SQLAlchemy driver)."""
    engine = create_engine(postgres_url)
    assert conninfo(engine).startswith("postgresql://") and conninfo(engine).endswith(postgres_url.rsplit("/", 1)[1])
    engine.dispose()


def test_sqlite_has_no_queue(tmp_path: Path) -> None:
    """An SQLite store refuses workers with the way to do without them."""
    with pytest.raises(UsageError, match="cron"):
        require_postgres(db.connect(str(tmp_path / "cardflow.db")))
