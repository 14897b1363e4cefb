"""The cyclic garbage collector during a long run (a batch, a run over cards, the due timers): the
objects alive before it (workspace, compiled machines, libraries) are kept out of its passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_spared() -> Iterator[None]:
    """Keep the objects alive before the run (workspace, compiled machine, libraries) out of the
    cyclic garbage collector's full passes while it runs: a chunk's rows die by reference count,
    and re-scanning the long-lived heap every few chunks cost about a tenth of a batch's time.
    What was frozen before (the command line's start-up) stays frozen, and nothing more is: frozen
    again at each batch, a process that runs many (`cardflow test`, `generate`) kept every batch's
    garbage for good and walked it all to count it."""
    frozen_before = gc.get_freeze_count() > 0
    if not frozen_before:
        gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
