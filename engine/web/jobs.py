"""Batches the console started, for the result and progress pages: a small one runs while the
request waits, a large one in a thread of its own, its progress counted as the engine reports it.

Only what the pages show is kept here (users done, the outcome, the first results); the batch
itself, its cards and emails are in the store, as for any run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.batch.over_cards import CardRun
from engine.batch.results import BatchResult
from engine.errors import CardflowError

KEPT_RESULTS = 500


@dataclass
class Job:
    """One batch run from the console."""

    batch: str
    total: int | None
    done: int = 0
    result: BatchResult | CardRun | None = None
    error: str | None = None
    over_cards: bool = False  # a run over cards (its progress counts cards, not users)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def advance(self, users: int) -> None:
        self.done += users

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the run to end; whether it has."""
        return self.ended.wait(timeout)


@dataclass
class Jobs:
    """The console's batch runs by batch id (the newest few hundred)."""

    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    keep: int = 200

    def get(self, batch: str) -> Job | None:
        with self.lock:
            return self.jobs.get(batch)

    def start(
        self,
        batch: str,
        total: int | None,
        work: Callable[[Job], BatchResult | CardRun],
        *,
        background: bool,
        over_cards: bool = False,
    ) -> Job:
        """Run `work(job)` (which returns a BatchResult, or a CardRun `over_cards`) now, or in a thread when `background`."""
        job = Job(batch, total, over_cards=over_cards)
        with self.lock:
            self.jobs[batch] = job
            while len(self.jobs) > self.keep:
                self.jobs.pop(next(iter(self.jobs)))
        if background:
            threading.Thread(target=self._run, args=(job, work), name=f"batch-{batch}", daemon=True).start()
        else:
            self._run(job, work)
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], BatchResult | CardRun]) -> None:
        try:
            job.result = work(job)
        except CardflowError as error:
            job.error = error.message
        except Exception as error:  # a thread has no one to raise to: the progress page shows it
            job.error = f"internal error: {type(error).__name__}: {error}"
        finally:
            job.ended.set()
