"""The garbage collector during a long run (engine.batch.collector): what lived before is frozen out of
its passes while the run lasts, and a process that lives on keeps nothing frozen after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from engine.batch.collector import YOUNG_OBJECTS, collector_spared


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_lived_before_a_run_is_frozen_while_it_runs_and_thawed_after(unfrozen: None) -> None:
    """Inside, the objects alive before are out of the collector's generations; a cycle made inside
    is still collected; after, nothing stays frozen (the run's garbage does not outlive it)."""
    before = [[] for _ in range(100)]
    with collector_spared():
        assert gc.get_freeze_count() >= len(before)
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_the_run_stays_as_it_was(unfrozen: None) -> None:
    """What the command line's start-up froze stays frozen, and the run freezes nothing more."""
    gc.freeze()
    frozen = gc.get_freeze_count()
    with collector_spared():
        made = [[] for _ in range(100)]
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == frozen and made


def test_a_run_lets_a_chunk_of_rows_live_without_passes_and_restores_the_thresholds(unfrozen: None) -> None:
    """Inside a run, objects that live until the chunk is written (YOUNG_OBJECTS of them less a
    margin) start no pass of the collector; after it, the thresholds are what they were."""
    before = gc.get_threshold()
    passes: list[str] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(phase)

    gc.collect()
    gc.callbacks.append(counted)
    try:
        with collector_spared():
            rows = [{"card": n} for n in range(YOUNG_OBJECTS // 2)]
            assert not passes, "a chunk's rows made the collector pass over them"
            assert gc.get_threshold()[0] >= YOUNG_OBJECTS
        outside = [{"card": n} for n in range(YOUNG_OBJECTS // 2)]
    finally:
        gc.callbacks.remove(counted)
    assert passes, "outside a run, the collector passes as Python's thresholds say"
    assert gc.get_threshold() == before and rows and outside


def test_runs_that_overlap_leave_the_collector_as_it_was_once_the_last_ends(unfrozen: None) -> None:
    """Two runs under way at once (a worker's chunks in two threads), ending in the order they began:
    the first to end leaves the collector set up for the other, the last puts it back."""
    before = gc.get_threshold()
    first, second = collector_spared(), collector_spared()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] >= YOUNG_OBJECTS and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
