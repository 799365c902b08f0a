"""Offline work spread over the machine's cores: replay is pure CPU (read, judge, validate), and threads
share one interpreter lock, so a large replay runs its models in forked worker processes instead.

Workers are forked, so they start with every module, schema and plan the parent already holds, and
nothing but the task's name and its results cross between processes. Results come back in the
order the tasks were given, never in the order they finished, so what a pooled run writes does not
depend on timing. Small runs, machines with one core, and platforms without `fork` stay in process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

MIN_TASKS = 2  # one task gains nothing from a second process
MIN_ITEMS = 200  # below this many cells, starting the workers costs more than it saves
JOIN_S = 5.0  # how long a terminated worker gets to exit
POLL_S = 0.2  # how often a wait for a worker looks up, so that a signal is handled meanwhile

_WORK: list[Callable[[Any], Any]] = []  # the work of the pool being started, inherited by its forked workers


def processes(tasks: int, items: int, jobs: int | None = None) -> int:
    """Worker processes worth starting for `tasks` tasks of `items` cells in all; 1 means stay in process."""
    if tasks < MIN_TASKS or items < MIN_ITEMS:
        return 1
    return max(1, min(cores(), tasks, jobs or cores()))


def cores() -> int:
    """The cores this process may use, or 1 where workers cannot be forked."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _run(task: Any) -> Any:
    return _WORK[-1](task)


def in_order(
    work: Callable[[Task], Result],
    tasks: Sequence[Task],
    workers: int,
    warm_first: bool = False,
    started: Callable[[], None] | None = None,
) -> Iterator[Result]:
    """`work` of each task, in the tasks' order, computed by `workers` forked processes (1: in this one).

    `warm_first` runs the first task in this process, before the fork, so that what it loads once
    the workers inherit instead of each loading it again; what it loads then stays in this process
    too, so it is for what this process holds anyway. `work` is not pickled: the workers inherit it,
    so it may close over anything. Each worker calls `started` first, if given (never this process).
    An exception in a task reaches the caller, and the workers are stopped.
    """
    if workers <= 1 or len(tasks) < MIN_TASKS:
        yield from map(work, tasks)
        return
    done_here = 1 if warm_first else 0
    if warm_first:
        yield work(tasks[0])
    _WORK.append(work)
    others = set(multiprocessing.active_children())  # processes this pool must leave alone
    fork = multiprocessing.get_context("fork")
    executor = ProcessPoolExecutor(
        min(workers, len(tasks) - done_here), mp_context=fork, initializer=_worker_started, initargs=(started,)
    )
    finished = False
    try:
        # a worker that dies (killed, out of memory) is BrokenProcessPool here, where a Pool would wait for ever
        for future in [executor.submit(_run, task) for task in tasks[done_here:]]:
            yield result(future)
        finished = True
    finally:
        executor.shutdown(wait=finished, cancel_futures=True)
        if not finished:  # interrupted, or a task failed: the tasks still running are not waited for
            stop_workers(besides=others)
        _WORK.remove(work)


def stop_workers(processes: Sequence[BaseProcess] | None = None, besides: Collection[BaseProcess] = ()) -> None:
    """Terminate `processes` (by default every child of this process but those `besides`), until none is left
    or JOIN_S has passed; children are listed again each round, since one being started as the interrupt
    came is only listed once it runs."""
    deadline = time.monotonic() + JOIN_S
    while time.monotonic() < deadline:
        listed = multiprocessing.active_children() if processes is None else processes
        alive = [c for c in listed if c.is_alive() and c not in besides]
        if not alive:
            return
        for child in alive:
            child.terminate()
        for child in alive:
            child.join(POLL_S)


def _worker_started(started: Callable[[], None] | None) -> None:
    forked()
    if started is not None:
        started()


def forked() -> None:
    """What every forked worker of the suite's does first: it leaves Ctrl-C to the run (`leave_interrupts`), and
    freezes the heap it inherited, so that its garbage collector no longer walks the parent's objects.

    The parent's modules, schemas, validators and plans are hundreds of thousands of objects, alive for
    the whole run: each full collection in a worker walked them all (a tenth of a second each, several
    per worker and run) and wrote to every one of them, so the pages they share with the parent were
    copied. Freezing them costs nothing (the generations are moved, not walked); what the worker makes
    itself is collected as before."""
    gc.freeze()
    leave_interrupts()


def leave_interrupts() -> None:
    """A worker ignores Ctrl-C: the terminal sends it to the whole process group, and the parent, which
    stops its workers itself, is the one to answer it (a worker would only print a traceback). SIGTERM,
    which the parent turns into an interrupt, ends a worker as it should: the parent stops them with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def launch(executor: ProcessPoolExecutor) -> list[BaseProcess]:
    """Fork a fork-context executor's workers now, before the caller starts threads; returns them, to stop."""
    before = set(multiprocessing.active_children())
    executor.submit(int)  # a fork executor starts all its workers at the first task
    return [c for c in multiprocessing.active_children() if c not in before]


def result(future: Future[Any]) -> Any:
    """The task's result, waited for in short steps: a signal (Ctrl-C, a supervisor's SIGINT to this process
    alone) is handled at once, not when the running task ends, since a blocked wait does not wake for it."""
    while True:
        try:
            return future.result(timeout=POLL_S)
        except TimeoutError:
            continue
