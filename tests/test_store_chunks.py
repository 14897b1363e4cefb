"""Card ids reserved per chunk on PostgreSQL: reservations made at once never overlap, nor meet the ids stored."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

from engine.store import chunks, db


def test_reservations_at_once_never_overlap(postgres_url: str) -> None:
    """Eight reservations of 1,000 ids from four threads: eight disjoint ranges, each above the ids stored."""
    engine = db.connect(postgres_url)
    with ThreadPoolExecutor(4) as pool:
        firsts = list(pool.map(lambda _: chunks.reserve_card_ids(engine, 1_000), range(8)))
    engine.dispose()
    starts = sorted(first for first in firsts if first is not None)
    assert len(starts) == 8 and starts[0] >= 1
    assert all(later - earlier >= 1_000 for earlier, later in pairwise(starts))


def test_sqlite_reserves_nothing(tmp_path: Path) -> None:
    """On SQLite writers take turns, so a chunk takes the store's next id instead."""
    assert chunks.reserve_card_ids(db.connect(str(tmp_path / "cardflow.db")), 10) is None
