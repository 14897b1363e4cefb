"""The garbage collector during a long run (engine.batch.collector): what lived before is frozen out of
its passes while the run lasts, and a process that lives on keeps nothing frozen after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from engine.batch.collector import collector_spared


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
