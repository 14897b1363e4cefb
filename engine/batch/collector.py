"""The cyclic garbage collector during a long run (a batch, a run over cards, the due timers): the
objects alive before it (workspace, compiled machines, libraries) are kept out of its passes, and a
chunk's rows are not scanned again and again while they wait to be written."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: How many objects the youngest generation may gather during a run before the collector passes
#: over it (Python's default is 700). A chunk's rows, dicts and tuples (2,000 cards, a score of
#: objects each) live until the chunk is written and die by reference count then; at 700 the
#: collector passed over them about sixty times a chunk, moving them into older generations it
#: scanned again (a twentieth of a batch of emails, a tenth of a batch without). Cycles made
#: during the run are still collected, a pass per this many objects.
YOUNG_OBJECTS = 50_000


@contextmanager
def collector_spared() -> Iterator[None]:
    """Keep the objects alive before the run (workspace, compiled machine, libraries) out of the
    cyclic garbage collector's full passes while it runs, and let its youngest generation gather
    YOUNG_OBJECTS before a pass: a chunk's rows die by reference count, and re-scanning the
    long-lived heap every few chunks cost about a tenth of a batch's time. What was frozen before
    (the command line's start-up) stays frozen, and nothing more is: frozen again at each batch, a
    process that runs many (`cardflow test`, `generate`) kept every batch's garbage for good and
    walked it all to count it. The thresholds are as they were after the run."""
    frozen_before = gc.get_freeze_count() > 0
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_OBJECTS), *thresholds[1:])
    if not frozen_before:
        gc.freeze()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_before:
            gc.unfreeze()
