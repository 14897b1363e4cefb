"""The cyclic garbage collector during a long run (a batch, a run over cards, the due timers, a worker's
chunk): the objects alive before it (workspace, compiled machines, libraries) are kept out of its
passes, and a chunk's rows are not scanned again and again while they wait to be written."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: How many objects the youngest generation may gather during a run before the collector passes
#: over it (Python's default is 700). A chunk's rows, dicts and tuples (2,000 cards, a score of
#: objects each) live until the chunk is written and die by reference count then; at 700 the
#: collector passed over them about sixty times a chunk, moving them into older generations it
#: scanned again (a twentieth of a batch of emails, a tenth of a batch without). Cycles made
#: during the run are still collected, a pass per this many objects.
YOUNG_OBJECTS = 50_000


class _Runs:
    """The runs under way in this process (a worker may work chunks in several threads): the first
    sets the collector up, the last puts it back as it was."""

    lock = threading.Lock()
    count = 0
    thresholds: tuple[int, ...] = ()
    froze = False


@contextmanager
def collector_spared() -> Iterator[None]:
    """Keep the objects alive before the run (workspace, compiled machine, libraries) out of the
    cyclic garbage collector's full passes while it runs, and let its youngest generation gather
    YOUNG_OBJECTS before a pass: a chunk's rows die by reference count, and re-scanning the
    long-lived heap every few chunks cost about a tenth of a batch's time. What was frozen before
    (the command line's start-up) stays frozen, and nothing more is: frozen again at each batch, a
    process that runs many (`cardflow test`, `generate`) kept every batch's garbage for good and
    walked it all to count it. After the last run under way, the collector is as it was."""
    with _Runs.lock:
        if _Runs.count == 0:
            _Runs.thresholds = gc.get_threshold()
            gc.set_threshold(max(_Runs.thresholds[0], YOUNG_OBJECTS), *_Runs.thresholds[1:])
            _Runs.froze = gc.get_freeze_count() == 0
            if _Runs.froze:
                gc.freeze()
        _Runs.count += 1
    try:
        yield
    finally:
        with _Runs.lock:
            _Runs.count -= 1
            if _Runs.count == 0:
                gc.set_threshold(*_Runs.thresholds)
                _Runs.thresholds = ()  # nothing of a run outlives it (a heap frozen later keeps none of it)
                if _Runs.froze:
                    gc.unfreeze()
