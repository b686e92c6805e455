"""Run N scoring workers: one in this process, or N worker processes under a supervisor.

Workers share nothing but the database: each claims its own batches (SKIP LOCKED), so
they never score a row twice. Counters (rows scored, alerts) come back through shared
memory for the progress line. The supervisor restarts a worker that dies unexpectedly
(its open batch rolled back with it, so nothing is lost) and stops them all on
SIGTERM / SIGINT, each after its current batch.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from pgfraud.kernel.errors import PgfraudError

if TYPE_CHECKING:
    from scorer.scoring import BatchResult

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    url: str
    batch_size: int = 500
    once: bool = False
    poll_interval: float = 1.0
    log_level: int = logging.INFO


class Counters:
    """Rows scored and alerts raised, summed over workers (process-shared)."""

    def __init__(self, ctx: Any) -> None:
        self.scored: Any = ctx.Value("q", 0)
        self.alerts: Any = ctx.Value("q", 0)
        self.champion: Any = ctx.Value("i", 0)

    def add(self, result: BatchResult) -> None:
        with self.scored.get_lock():
            self.scored.value += result.claimed
        with self.alerts.get_lock():
            self.alerts.value += result.alerts
        self.champion.value = result.champion or 0


def _worker_main(options: WorkerOptions, stop_event: Any, counters: Counters,
                 index: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_event.set())
    logging.basicConfig(level=options.log_level,
                        format=f"%(levelname)s worker {index}: %(message)s")
    from scorer.scoring import Scorer

    try:
        with Scorer(options.url, batch_size=options.batch_size) as scorer:
            scorer.run(stop_event.is_set, once=options.once,
                       poll_interval=options.poll_interval, on_batch=counters.add)
    except PgfraudError as exc:
        log.error("%s", exc)
        sys.exit(1)


class Pool:
    """``workers`` scoring processes (spawned, so no connection crosses a fork)."""

    def __init__(self, workers: int, options: WorkerOptions) -> None:
        self.ctx = mp.get_context("spawn")
        self.workers = workers
        self.options = options
        self.stop_event = self.ctx.Event()
        self.counters = Counters(self.ctx)
        self.processes: list[Any] = []
        self.restarts = 0

    def _spawn(self, index: int) -> Any:
        process = self.ctx.Process(target=_worker_main, name=f"pgfraud-scorer-{index}",
                                   args=(self.options, self.stop_event, self.counters, index))
        process.start()
        return process

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.workers)]

    def supervise(self) -> bool:
        """Restart workers that died; True while any worker is running."""
        for i, process in enumerate(self.processes):
            if process.is_alive() or process.exitcode is None:
                continue
            if process.exitcode != 0 and not self.stop_event.is_set() and not self.options.once:
                log.warning("worker %d exited with status %s; restarting it", i,
                            process.exitcode)
                self.restarts += 1
                time.sleep(min(self.restarts, 5))
                self.processes[i] = self._spawn(i)
        return any(p.is_alive() for p in self.processes)

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(deadline - time.monotonic(), 0.1))
        for process in self.processes:
            if process.is_alive():
                log.warning("worker %s did not stop in %.0f s; terminating", process.name,
                            timeout)
                process.kill()

    @property
    def failed(self) -> bool:
        return any(p.exitcode not in (0, None) for p in self.processes)
