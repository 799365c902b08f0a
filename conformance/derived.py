"""The cells a render derives from the recorded answers: the Python SDK's column and the Node SDK's cells.

Both re-read every recorded 2xx answer, which for a catalog-sized run is seconds of CPU. So the
answers are read off the run's critical path: by the replay worker that ran the cells, while their
answers are in its memory (`read_cells`), or, in a live run, cell by cell as each is written, by
processes of their own (`Deriver`) forked before any thread is; a model's two tallies are made once
all its cells are read (`tally_model`). A render then derives only what is not ready, in forked
worker processes (conformance.pool): one task per model for the Python SDK, one for the single node
process.

Cells derived early are used only if the model's cells are still those they were derived from
(`fingerprint`): a render of results.jsonl makes the same records either way, in the same order,
every model's sdk cells then the Node cells.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from conformance import pool
from conformance.checks.sdk import RecordedSDK
from conformance.node_column import NodeReader, node_asked, node_model_records, node_records
from conformance.records import ResultLine
from conformance.sdk_column import Said, cell_reads, model_records, models_of

Key = tuple[str, str]  # (provider, model)
READERS = 2  # reading processes: the reads still queued when the last cell ends drain on two cores
T = TypeVar("T")
_NODE: dict[int, NodeReader] = {}  # this process's node (by pid), kept for the cells it reads one by one
_SDK: dict[int, RecordedSDK] = {}  # and its SDK client, which holds no state between answers


@dataclass(frozen=True)
class Derived:
    """One model's derived records, and the fingerprint of the cells they were read from."""

    fingerprint: tuple[tuple[str, str, float, str], ...]
    sdk: list[ResultLine]
    node: list[ResultLine]


def fingerprint(cells: Sequence[ResultLine]) -> tuple[tuple[str, str, float, str], ...]:
    """What tells one run of a model's cells from another: each cell's probe, start, duration and status."""
    return tuple((c.probe, c.started_at, c.elapsed_ms, c.status) for c in cells)


def still_true(ready: Mapping[Key, Derived], records: Sequence[ResultLine]) -> dict[Key, Derived]:
    """The models of `ready` whose cells among `records` are still those they were derived from."""
    return {
        key: ready[key]
        for key, cells in models_of(records)
        if key in ready and ready[key].fingerprint == fingerprint(cells)
    }


Read = tuple[list[Said], list[Said] | str]  # what the SDK made of a cell's answers, and node (or why it could not)


def read_cell(record: ResultLine) -> Read:
    """What the SDK and node made of one cell's answers, read in this process (both kept for the next cell)."""
    return read_cells([record])[0]


def read_cells(records: Sequence[ResultLine]) -> list[Read]:
    """`read_cell` of each record, node's reads asked in one batch and made while the SDK reads."""
    node = node_asked(records, _node().ask)
    sdk = [cell_reads(record, _sdk()) for record in records]
    said = node()
    return [(mine, said if isinstance(said, str) else said[i]) for i, mine in enumerate(sdk)]


def tally_model(key: Key, reads: Sequence[tuple[ResultLine, Read]]) -> Derived | None:
    """A model's derived records from each of its cells' reads (in any order); None when node could not read
    one (the render derives that model, and says why)."""
    ordered = sorted(reads, key=lambda r: r[0].probe)
    records, sdk, node = [r for r, _ in ordered], [s for _, (s, _) in ordered], [n for _, (_, n) in ordered]
    said = [n for n in node if isinstance(n, list)]
    if len(said) < len(node):
        return None
    return Derived(fingerprint(records), model_records(*key, records, sdk), node_model_records(*key, records, said))


def warm() -> None:
    """Starts this process's node and the SDK's client before any cell needs them."""
    _node()([])
    _sdk()


def _started() -> None:
    """A reader leaves Ctrl-C to the run, and starts its node and SDK client before any cell needs them."""
    pool.forked()
    warm()


def _sdk() -> RecordedSDK:
    return _own(_SDK, RecordedSDK)


def _node() -> NodeReader:
    return _own(_NODE, NodeReader)


def _own(held: dict[int, T], make: Callable[[], T]) -> T:
    """This process's own one: a forked worker makes its own rather than use (and share) its parent's pipes."""
    pid = os.getpid()
    if pid not in held:
        held.clear()
        held[pid] = make()
    return held[pid]


def derived_records(records: list[ResultLine], ready: Mapping[Key, Derived] | None = None) -> list[ResultLine]:
    """The sdk column's records of every model, then the Node cells, for `records` read from results.jsonl;
    a model's records in `ready` are used when its cells are those they were derived from."""
    models = models_of(records)
    fresh = still_true(ready or {}, records)
    todo = [(key, cells) for key, cells in models if key not in fresh]
    sdk, node = _derive(todo)
    by_model = {key: [r for r in node if r.row == key] for key, _ in todo}
    return [r for key, _ in models for r in (fresh[key].sdk if key in fresh else sdk[key])] + [
        r for key, _ in models for r in (fresh[key].node if key in fresh else by_model[key])
    ]


def _derive(
    models: list[tuple[Key, list[ResultLine]]],
) -> tuple[dict[Key, list[ResultLine]], list[ResultLine]]:
    """Each model's sdk records, and the Node records of all of them from one node process."""
    if not models:
        return {}, []
    everything = [cell for _, cells in models for cell in cells]
    workers = pool.processes(len(models) + 1, len(everything))

    def work(task: int) -> list[ResultLine]:
        """Task n is the n-th model; task -1 the node process."""
        if task < 0:
            return node_records(everything)
        (provider, model), cells = models[task]
        return model_records(provider, model, cells)

    # The first model warms the SDK (loaded here anyway) before the fork; node starts next, as it mostly waits.
    parts = list(pool.in_order(work, [0, -1, *range(1, len(models))], workers, warm_first=True))
    node = parts.pop(1)
    return {key: part for (key, _), part in zip(models, parts, strict=True)}, node


class Deriver:
    """A live run's derived cells, their answers read by READERS forked processes as each cell is written.

    The SDK's and node's reads are the bulk of the work, and they are per cell, so they keep pace with
    the run; a model's two tallies are made once its cells are all read. Built before the run starts
    any thread (forking a process with threads is not safe); `add` is called from the cells' threads.
    A model whose reads fail here is derived by the render.
    """

    def __init__(self, expected: Mapping[Key, int]) -> None:
        self._expected = dict(expected)
        self._cells: dict[Key, list[tuple[ResultLine, Future[Read]]]] = {}
        self._lock = threading.Lock()
        self._executor = ProcessPoolExecutor(
            READERS, mp_context=multiprocessing.get_context("fork"), initializer=_started
        )
        self._processes = pool.launch(self._executor)

    def add(self, record: ResultLine) -> None:
        """A cell's results line as written, for a model expected here."""
        key = record.row
        if key in self._expected:
            read = self._executor.submit(read_cell, record)
            with self._lock:
                self._cells.setdefault(key, []).append((record, read))

    def ready(self) -> dict[Key, Derived]:
        """Each model whose every cell was read, tallied; the rest is left to the render."""
        done: dict[Key, Derived] = {}
        with self._lock:
            models = [(key, list(cells)) for key, cells in self._cells.items() if len(cells) == self._expected[key]]
        for key, cells in models:
            try:
                reads = [(record, pool.result(read)) for record, read in cells]
            except Exception:  # a model not read here is derived by the render
                continue
            tallied = tally_model(key, reads)
            if tallied is not None:
                done[key] = tallied
        return done

    def close(self) -> None:
        """Ends the processes at once: the run is over, and an interrupted one waits for nothing."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        pool.stop_workers(self._processes)
