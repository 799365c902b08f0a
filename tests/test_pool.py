"""Offline work in forked workers: the same results as in process, in the same order, and never a hang."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from conformance import pool, runner
from conformance.checks.clients import Client
from conformance.derived import derived_records
from conformance.evidence import Status
from conformance.node_column import is_derived, node_records
from conformance.paths import cassettes_dir
from conformance.plan import replay_plans
from conformance.probes import PROBES
from conformance.records import MatrixCell
from conformance.results import RESULTS_FILE, read_results
from conformance.sdk_column import sdk_records
from conformance.session import Session

VARYING = ("started_at", "elapsed_ms")  # what two replays of one cassette may differ in


def _double(n: int) -> int:
    return 2 * n


def test_results_come_in_the_order_of_the_tasks_whoever_finishes_first() -> None:
    tasks = list(range(12))
    assert list(pool.in_order(_double, tasks, 2)) == [2 * n for n in tasks]
    assert list(pool.in_order(_double, tasks, 2, warm_first=True)) == [2 * n for n in tasks]


def _frozen_and_tracked(held: object) -> tuple[int, bool, int]:
    return gc.get_freeze_count(), gc.is_tracked(held), gc.collect()


def test_a_worker_leaves_what_it_inherited_out_of_its_collections_and_still_collects_its_own() -> None:
    """Its collector no longer walks (nor writes to) the parent's objects; a cycle the worker makes is freed."""
    inherited = {"parent": [object()]}

    def work(n: int) -> tuple[int, bool, int]:
        cycle: list[Any] = []
        cycle.append(cycle)
        del cycle
        return _frozen_and_tracked(inherited)

    (frozen, tracked, freed), _ = list(pool.in_order(work, [0, 1], 2))
    assert frozen > 0 and tracked
    assert freed >= 1, "the worker's own garbage is collected"
    assert gc.get_freeze_count() == 0, "the run's own process is left as it was"


def test_a_worker_that_dies_is_an_error_not_a_run_waiting_for_ever() -> None:
    def work(n: int) -> int:
        if n == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    with pytest.raises(BrokenProcessPool):
        list(pool.in_order(work, list(range(8)), 2))
    assert list(pool.in_order(_double, [1, 2], 2)) == [2, 4], "the next pool starts afresh"


def test_small_runs_and_one_core_stay_in_process() -> None:
    assert pool.processes(tasks=40, items=pool.MIN_ITEMS - 1) == 1
    assert pool.processes(tasks=1, items=10_000) == 1
    assert pool.processes(tasks=40, items=10_000, jobs=1) == 1


def _key(line: dict[str, Any]) -> tuple[str, str, str]:
    return (line["provider"], line["model"], line["probe"])


def _lines(out: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (out / RESULTS_FILE).read_text(encoding="utf-8").splitlines()]
    for line in lines:
        for key in VARYING:
            line.pop(key, None)
        for exchange in line.get("exchanges", []):
            exchange.pop("elapsed_ms", None)
    return lines


def test_a_pooled_replay_writes_what_a_replay_in_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = tuple(p for p in PROBES if p.feature in ("core", "tools"))
    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    pooled, plans = tmp_path / "pooled", replay_plans(cassettes_dir(), probes=probes)
    Session(pooled, jobs=2).run(plans)
    alone = tmp_path / "alone"
    Session(alone, jobs=1).run(replay_plans(cassettes_dir(), probes=probes))
    assert len(_lines(pooled)) >= 4 * len(probes)
    planned = [(plan.target.provider, m, p.id) for plan in plans for m in plan.models for p in plan.probes]
    assert [_key(line) for line in _lines(pooled)] == planned, "in the plans' order, whoever finished first"
    assert _lines(pooled) == sorted(_lines(alone), key=lambda line: planned.index(_key(line)))


def test_an_interrupt_is_handled_at_once_and_leaves_no_worker_running() -> None:
    """SIGINT to this process alone (a supervisor's, not the terminal's to the whole group) while every
    worker is busy: the wait wakes for it, and the workers are stopped rather than waited for."""

    def slow(n: int) -> int:
        time.sleep(60)
        return n

    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        list(pool.in_order(slow, list(range(4)), 2))
    assert time.monotonic() - started < 30, "handled while the tasks were still running, not after them"
    assert not [child for child in multiprocessing.active_children() if child.is_alive()]


def test_derived_cells_read_in_workers_are_those_read_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = tuple(p for p in PROBES if p.feature in ("core", "streaming"))
    Session(tmp_path, jobs=1).run(replay_plans(cassettes_dir(), probes=probes))
    records = list(read_results(tmp_path / RESULTS_FILE))
    alone = sdk_records(records) + node_records(records)
    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    assert len({r.row for r in records}) >= 2, "several models, so several tasks"
    assert derived_records(records) == alone


CTRL_C = """
import sys, time
from conformance import pool, runner

def slow(n):
    time.sleep(60 if n == 0 else 0)  # one worker busy, the other idle
    return n

print("started", flush=True)
try:
    list(pool.in_order(slow, [0, 1, 2], 2))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_in_a_terminal_is_answered_by_the_run_not_by_each_worker() -> None:
    """The terminal's SIGINT reaches the whole process group: the workers leave it to the parent, which
    stops them, instead of each printing a KeyboardInterrupt traceback."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    child = subprocess.Popen([sys.executable, "-c", CTRL_C], **pipes, text=True, start_new_session=True)
    assert child.stdout is not None and child.stdout.readline() == "started\n"
    time.sleep(1.0)  # the workers are running their tasks
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out == "interrupted\n"
    assert err == "", err


def test_a_stopped_pool_leaves_the_other_processes_alone() -> None:
    """A run's judging and reading processes outlive a pool that failed beside them."""

    def dies(n: int) -> int:
        if n == 1:
            raise RuntimeError("a task's bug")
        time.sleep(60)
        return n

    other = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    other.start()
    try:
        with pytest.raises(RuntimeError, match="a task's bug"):
            list(pool.in_order(dies, [1, 2, 3], 2))
        assert other.is_alive()
        assert [child for child in multiprocessing.active_children() if child.is_alive()] == [other]
    finally:
        other.terminate()
        other.join()


def test_a_pooled_replays_workers_judge_in_their_own_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread per judge cost about a millisecond per cell: the workers keep the budget with a timer."""

    def no_thread(*args: Any) -> Any:
        raise AssertionError("judged in a thread")

    probes = tuple(p for p in PROBES if p.feature == "core")
    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    monkeypatch.setattr(runner, "_judged_in_thread", no_thread)  # before the fork: the workers inherit it
    Session(tmp_path, jobs=2).run(replay_plans(cassettes_dir(), probes=probes))
    lines = _lines(tmp_path)
    assert lines and not [line for line in lines if "judged in a thread" in json.dumps(line)]


def test_a_timed_judge_past_its_budget_is_stopped_and_the_next_one_is_judged() -> None:
    """In a forked process, as a replay's worker judges: a judge stuck past the budget is the cell's ERROR."""
    probe = next(p for p in PROBES if p.feature == "core")

    def child(results: Any) -> None:
        runner.judge_by_timer()
        real = runner.judge

        def stuck(*args: Any) -> Any:
            while True:
                pass

        runner.judge = stuck
        status, findings = runner.judge_within(probe, [], True, [], budget_s=0.2)
        runner.judge = lambda *args: time.sleep(0.3) or (Status.PASS, [])  # off the core, as on a loaded machine
        waited = runner.judge_within(probe, [], True, [], budget_s=0.2)[0].value
        runner.judge = lambda *args: time.sleep(2) or (Status.PASS, [])  # waiting rather than working ends too
        stalled = runner.judge_within(probe, [], True, [], budget_s=0.2)[0].value
        runner.judge = real
        results.put(
            (status.value, findings[0].rule, runner.judge_within(probe, [], True, [])[0].value, waited, stalled)
        )

    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    process = fork.Process(target=child, args=(results,))
    process.start()
    try:
        status, rule, after, waited, stalled = results.get(timeout=30)
    finally:
        process.join(5)
    assert (status, rule) == ("ERROR", "harness.judge_time")
    assert after == runner.judge(probe, [], True, [])[0].value
    assert waited == "PASS", "the budget is CPU: waiting is not charged"
    assert stalled == "ERROR", "but not for ever: WALL_FACTOR times the budget"


def test_the_cells_that_load_a_client_library_run_in_one_process_and_the_run_is_as_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the client libraries takes a process seconds: one worker runs every cell that needs them.
    What the run writes, derived cells included, is what a run in process writes."""
    probes = tuple(p for p in PROBES if p.feature in ("core", "clients"))
    assert any(p.library for p in probes)
    pids = tmp_path / "pids"
    missing = Client.missing

    def noted(self: Client) -> str | None:
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return missing(self)

    monkeypatch.setattr(Client, "missing", noted)  # before the fork: the workers inherit it
    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    pooled, plans = tmp_path / "pooled", replay_plans(cassettes_dir(), probes=probes)
    Session(pooled, jobs=2).run(plans)
    assert len(set(pids.read_text().split())) == 1, "one process ran the library cells"
    alone = tmp_path / "alone"
    Session(alone, jobs=1).run(replay_plans(cassettes_dir(), probes=probes))
    planned = [(plan.target.provider, m, p.id) for plan in plans for m in plan.models for p in plan.probes]
    assert [_key(line) for line in _lines(pooled)] == planned, "in the plans' order"
    assert _lines(pooled) == sorted(_lines(alone), key=lambda line: planned.index(_key(line)))
    derived = [
        {k: v for k, v in cell.items() if k not in ("started_at", "latency")}
        for out in (pooled, alone)
        for cell in json.loads((out / "matrix.json").read_text(encoding="utf-8"))["cells"]
        if is_derived(MatrixCell.model_validate(cell))
    ]
    assert len(derived) == 2 * 4 * len({(p, m) for p, m, _ in planned}), "two sdk and two node cells per model"
    assert derived[: len(derived) // 2] == derived[len(derived) // 2 :]
