"""Running a worker: procrastinate's worker on the store's queue, kept going across a lost store.

A worker whose store goes away (PostgreSQL restarted, the network cut) does not end as if it had
been asked to: it waits for the store with a growing pause and starts over on fresh connections,
under a new worker id (the jobs the lost connection left `doing` are retried as a stopped
worker's). When procrastinate stops its worker on its own (its listener lost the connection) and
the store does not answer, the queue's pool is closed at once: what still waits for one of its
connections (the job at hand marking itself done, the worker's own unregistering) fails now
instead of each waiting out the pool's time-out, so the wait for the store starts when the store
went away. A store silent for longer than `give_up_after` seconds ends the worker with
`StoreLost` (exit 1), loudly, for a supervisor to start it again. SIGTERM and SIGINT stop the
worker once its current jobs are done; a long job sees `Runtime.stopping` and ends early
(the outbox delivery stops between two emails).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

from engine.errors import Unfinished
from engine.store.health import answers
from engine.work.jobs import Runtime, build_app

#: The first and the longest pause before an attempt to reach a lost store, in seconds; the pause
#: doubles after each attempt, and starts again from the first once a worker has worked a while.
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 10.0
WORKED_A_WHILE = 60.0
#: How long a worker waits for a lost store before it gives up, in seconds (`--give-up-after`).
GIVE_UP_AFTER = 300.0

log = logging.getLogger(__name__)


class StoreLost(Unfinished):
    """The store did not answer within the worker's bound: the worker gives up (exit 1)."""


def run_worker(
    runtime: Runtime,
    schedules: Mapping[str, str],
    *,
    concurrency: int = 1,
    stalled_after: float = 30.0,
    name: str | None = None,
    give_up_after: float = GIVE_UP_AFTER,
) -> None:
    """Work jobs until SIGTERM or SIGINT, reconnecting to a lost store; `StoreLost` after `give_up_after` seconds without it."""
    options = {
        "concurrency": concurrency,
        "name": name or "cardflow",
        "update_heartbeat_interval": max(stalled_after / 3, 0.5),
        "stalled_worker_timeout": stalled_after,
        "shutdown_graceful_timeout": None,
        "install_signal_handlers": False,
    }
    asyncio.run(_Supervisor(runtime, schedules, stalled_after, options).run(give_up_after))


#: What a worker says when it finds the store gone, whichever noticed first (its watch, or its jobs failing).
JOBS_LEFT = "the store does not answer: the jobs at hand are left to be worked again"


class _Supervisor:
    """Runs one procrastinate worker after another, as long as the store comes back, until asked to stop."""

    def __init__(self, runtime: Runtime, schedules: Mapping[str, str], stalled_after: float, options: dict[str, Any]) -> None:
        self.runtime, self.schedules, self.stalled_after, self.options = runtime, schedules, stalled_after, options
        self.worker: Any = None
        self.stop_requested = asyncio.Event()
        self.pause = FIRST_PAUSE

    async def run(self, give_up_after: float) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.stop)
        try:
            while True:
                started = time.monotonic()
                lost = await self.work()
                if self.stop_requested.is_set():
                    return
                log.warning("lost the store (%s); reconnecting", lost)
                if time.monotonic() - started > WORKED_A_WHILE:
                    self.pause = FIRST_PAUSE
                await self.wait_for_store(give_up_after)
        finally:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(number)

    def stop(self) -> None:
        """Asked to stop (SIGTERM, SIGINT): no new job; long jobs end early; the worker stops after its current jobs."""
        self.runtime.stopping.set()
        self.stop_requested.set()
        if self.worker is not None:
            self.worker.stop()

    async def work(self) -> str:
        """Run a worker until it stops; what ended it, when it was not asked to stop."""
        from procrastinate.worker import Worker

        class _Worker(Worker):
            """procrastinate's worker, which tells when it stops (on its own, or asked to)."""

            def stop(self) -> None:
                stopping.set()
                super().stop()  # type: ignore[no-untyped-call]

        stopping = asyncio.Event()
        watch: asyncio.Task[bool] | None = None
        try:
            app = await asyncio.to_thread(build_app, self.runtime, self.schedules, stalled_after=self.stalled_after)
            async with app.open_async():
                if self.stop_requested.is_set():
                    return "stopped"
                self.worker = _Worker(app, **self.options)
                watch = asyncio.create_task(self.close_if_lost(app, stopping))
                try:
                    await self.worker.run()
                finally:
                    watch.cancel()
        except Exception as error:  # the store went away under the worker (or the worker broke): start again
            closed = watch is not None and watch.done() and not watch.cancelled() and watch.result()  # it never raises
            if closed:
                return "its database does not answer"
            if not await asyncio.to_thread(answers, self.runtime.engine):  # the worker raised before its watch asked
                log.warning(JOBS_LEFT)
                return "its database does not answer"
            return one_line(error)
        finally:
            self.worker = None
        return "the worker stopped on its own: its connection to the store failed"

    async def close_if_lost(self, app: Any, stopping: asyncio.Event) -> bool:
        """Once the worker stops without being asked to, close the queue's pool if the store does not
        answer; whether it did."""
        await stopping.wait()
        if self.stop_requested.is_set() or await asyncio.to_thread(answers, self.runtime.engine):
            return False  # asked to stop, or the store is there: the jobs at hand finish as usual
        log.warning(JOBS_LEFT)
        with contextlib.suppress(Exception):  # a pool that fails to close is left to its own time-outs
            await app.connector.close_async()
        return True

    async def wait_for_store(self, give_up_after: float) -> None:
        """Wait, with a growing pause, until the store answers; `StoreLost` once `give_up_after` seconds have passed."""
        deadline = time.monotonic() + give_up_after
        self.runtime.engine.dispose()  # the pool's connections died with the store
        while not self.stop_requested.is_set():
            with contextlib.suppress(TimeoutError):  # a pause first: a worker that fails at once is not restarted in a loop
                await asyncio.wait_for(self.stop_requested.wait(), timeout=max(min(self.pause, deadline - time.monotonic()), 0))
            self.pause = min(self.pause * 2, LONGEST_PAUSE)
            if self.stop_requested.is_set() or await asyncio.to_thread(answers, self.runtime.engine):
                return
            if time.monotonic() >= deadline:
                raise StoreLost(
                    f"the store did not answer for {give_up_after:g} s: the worker stops, for a supervisor to start it again"
                )


def one_line(error: BaseException) -> str:
    """An error as one short line: its type, and its first line of text."""
    said = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {said}" if said else type(error).__name__
