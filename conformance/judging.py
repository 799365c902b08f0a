"""Judging in processes of its own, for a catalog-sized live run.

A live run's cells are threads of one interpreter: they send, wait and read, which costs little,
but judging an answer (schemas, stream walks, text checks) is CPU, and under one interpreter lock
it delays every other cell's sending and reading. So a large run judges in forked worker processes:
the threads hand over a probe's name and its exchanges, and wait for the verdict. The workers are
forked before the run starts any thread, and build each schema validator the first time an answer
needs it: building them all as they started took the CPU the run's first requests needed.

The judging budget is kept by the worker, from the moment it starts on a cell (a timer signal ends
a judge past it, so the worker is free again): a cell queued behind others is not charged for the
wait, and many cells can be queued at once, so the workers never idle while answers wait.

A probe the workers do not know by its name (a test's own) is judged in process, as is every cell
once the pool is broken (a worker killed); a cell never fails for where it was judged.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from conformance import pool
from conformance.evidence import Exchange, Finding, Status
from conformance.probes import BY_ID, Probe
from conformance.runner import judge_by_timer, judged_by_timer

Verdict = tuple[Status, list[Finding]]


class Judges:
    """`workers` forked judging processes; `submit` is called from the cells' threads."""

    def __init__(self, workers: int) -> None:
        self._broken = False
        self._executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_started
        )
        self._processes = pool.launch(self._executor)

    def submit(
        self, probe: Probe, exchanges: Sequence[Exchange], semantic: bool, refused: Sequence[Finding], budget_s: float
    ) -> Future[Verdict] | None:
        """The verdict to come, or None when it is to be judged in process."""
        if self._broken or BY_ID.get(probe.id) is not probe:
            return None
        try:
            return self._executor.submit(_judge, probe.id, list(exchanges), semantic, list(refused), budget_s)
        except (BrokenProcessPool, RuntimeError):
            self._broken = True
            return None

    def broke(self) -> None:
        """A worker died, or the queue stalled: the rest of the run judges in process."""
        self._broken = True

    def close(self) -> None:
        """Ends the workers at once: the run is over, and an interrupted one waits for nothing."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        pool.stop_workers(self._processes)


def _started() -> None:
    """A worker ends a judge past its budget by a timer signal, and leaves Ctrl-C to the run."""
    pool.forked()
    judge_by_timer()


def _judge(
    probe_id: str, exchanges: list[Exchange], semantic: bool, refused: list[Finding], budget_s: float
) -> Verdict:
    return judged_by_timer(BY_ID[probe_id], exchanges, semantic, refused, budget_s)
