"""A large live run judges in forked processes and reads its derived cells as each cell ends: the same
verdicts and the same derived cells as judging and deriving in process, and never a lost cell."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from conformance import derived, node_column, pool, render, runner, session
from conformance.bench import Scenario, bench
from conformance.derived import Derived, Deriver, derived_records, fingerprint
from conformance.evidence import Exchange, Status
from conformance.judging import Judges
from conformance.matrix import matrix_json
from conformance.node_column import NodeReader, node_unavailable
from conformance.paths import cassettes_dir
from conformance.plan import replay_plans
from conformance.probes import BY_ID, PROBES
from conformance.records import ResultLine
from conformance.render import render_dir
from conformance.results import RESULTS_FILE, read_results
from conformance.sdk_column import models_of
from conformance.session import Session
from tests.exchanges import conformant_response


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> list[ResultLine]:
    """Results records of the shipped cassettes (core and streaming probes, every recorded model)."""
    out = tmp_path_factory.mktemp("replayed")
    probes = tuple(p for p in PROBES if p.feature in ("core", "streaming"))
    Session(out, jobs=1).run(replay_plans(cassettes_dir(), probes=probes))
    return list(read_results(out / RESULTS_FILE))


def _exchanges(record: ResultLine) -> list[Exchange]:
    return [e.exchange() for e in record.exchanges]


def test_a_judge_process_gives_the_verdict_judging_in_process_gives(replayed: list[ResultLine]) -> None:
    judges = Judges(1)
    try:
        for record in replayed[:12]:
            probe, exchanges = BY_ID[record.probe], _exchanges(record)
            elsewhere = runner.judge_within(probe, exchanges, True, [], judges=judges)
            assert elsewhere == runner.judge(probe, exchanges, True, []), record.probe
    finally:
        judges.close()


def test_a_judge_past_its_budget_is_stopped_and_the_worker_judges_on(replayed: list[ResultLine]) -> None:
    record = max(replayed, key=lambda r: len(json.dumps(r.written()["exchanges"])))
    probe, exchanges = BY_ID[record.probe], _exchanges(record)
    judges = Judges(1)
    try:
        status, findings = runner.judge_within(probe, exchanges, True, [], budget_s=1e-6, judges=judges)
        assert (status, findings[0].rule) == (Status.ERROR, "harness.judge_time")
        assert runner.judge_within(probe, exchanges, True, [], judges=judges) == runner.judge(
            probe, exchanges, True, []
        )
    finally:
        judges.close()


def test_a_probe_the_workers_do_not_know_and_a_dead_worker_are_judged_in_process(
    replayed: list[ResultLine],
) -> None:
    record = replayed[0]
    probe, exchanges = BY_ID[record.probe], _exchanges(record)
    expected = runner.judge(probe, exchanges, True, [])
    judges = Judges(1)
    try:
        own = dataclasses.replace(probe, title="a test's own probe")
        assert judges.submit(own, exchanges, True, [], 5.0) is None, "not the registered probe: judged here"
        for worker in judges._processes:
            os.kill(worker.pid or 0, signal.SIGKILL)
            worker.join(5)
        assert runner.judge_within(probe, exchanges, True, [], judges=judges) == expected
        assert judges.submit(probe, exchanges, True, [], 5.0) is None, "a broken pool is not tried again"
    finally:
        judges.close()


def test_cells_read_as_they_come_derive_what_the_render_derives(replayed: list[ResultLine]) -> None:
    models = models_of(replayed)
    assert len(models) >= 2
    deriver = Deriver({key: len(cells) for key, cells in models})
    try:
        for record in reversed(replayed):  # the order cells finish in does not matter
            deriver.add(record)
        ready = deriver.ready()
    finally:
        deriver.close()
    assert set(ready) == {key for key, _ in models}
    assert derived_records(replayed, ready) == derived_records(replayed)


def test_a_model_whose_cells_changed_since_is_derived_again(
    replayed: list[ResultLine], monkeypatch: pytest.MonkeyPatch
) -> None:
    (key, cells), *_ = models_of(replayed)
    old = cells[0].model_copy(update={"title": "derived from cells since changed"})
    stale = Derived(fingerprint(cells[1:]), [old], [])
    calls = _spy_on_render_derivation(monkeypatch)
    made = derived_records(replayed, {key: stale})
    assert old not in made
    assert key in calls[0]


def _spy_on_render_derivation(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """The models each render derived itself, one list per render."""
    calls: list[list[Any]] = []
    real = derived._derive

    def spy(todo: list[Any]) -> Any:
        calls.append([key for key, _ in todo])
        return real(todo)

    monkeypatch.setattr(derived, "_derive", spy)
    return calls


def test_a_pooled_replay_derives_in_its_workers_what_the_render_derives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    calls = _spy_on_render_derivation(monkeypatch)
    reads: list[Path] = []
    monkeypatch.setattr(render, "read_results", lambda path: reads.append(path) or read_results(path))
    probes = tuple(p for p in PROBES if p.feature in ("core", "streaming"))
    run = Session(tmp_path, jobs=2).run(replay_plans(cassettes_dir(), probes=probes))
    assert calls == [[]], "each model's derived cells were made by the worker that replayed it"
    assert reads == [], "the run read its lines as it wrote them: the render did not read results.jsonl again"
    again = render_dir(tmp_path)
    assert reads == [tmp_path / RESULTS_FILE]
    assert len(calls[1]) >= 2, "a render of results.jsonl alone derives every model"
    assert run.cells == again.cells


def test_a_line_the_run_cannot_read_back_leaves_the_render_to_read_results_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However a line fails to read back (none of the suite's lines can), the run goes on writing, and the
    render reads the file, as a render of the directory alone does."""

    class Unreadable:
        @staticmethod
        def loads(text: str | bytes) -> Any:
            raise ValueError("cannot be read back")

    monkeypatch.setattr(pool, "MIN_ITEMS", 1)
    monkeypatch.setattr(session, "safejson", Unreadable)
    reads: list[Path] = []
    monkeypatch.setattr(render, "read_results", lambda path: reads.append(path) or read_results(path))
    probes = tuple(p for p in PROBES if p.feature == "core")
    plans = replay_plans(cassettes_dir(), probes=probes)
    run = Session(tmp_path, jobs=2).run(plans)
    assert reads == [tmp_path / RESULTS_FILE]
    assert len(run.cells) >= sum(len(plan.models) * len(probes) for plan in plans)


def test_a_large_live_run_judges_and_derives_in_its_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "LIVE_MIN_CELLS", 1)
    submitted: list[str] = []
    real_submit = Judges.submit

    def counted(self: Judges, probe: Any, *rest: Any) -> Any:
        submitted.append(probe.id)
        return real_submit(self, probe, *rest)

    monkeypatch.setattr(Judges, "submit", counted)
    calls = _spy_on_render_derivation(monkeypatch)
    outcome = bench(Scenario(models=3, probes=4, rpm=600, latency_ms=10, burst=4), out=tmp_path)
    assert outcome.cells == 12 and set(outcome.statuses) <= {"PASS", "ACCEPTED"}
    assert len(submitted) == 12, "every cell judged in a worker"
    assert calls == [[]], "every model's derived cells were made during the run"
    run = json.loads((tmp_path / "matrix.json").read_text(encoding="utf-8"))
    again = render_dir(tmp_path)
    assert len(calls[1]) == 3
    assert run["cells"] == matrix_json(again)["cells"], (
        "the derived cells made during the run are those the render makes"
    )


@pytest.fixture
def node() -> None:
    missing = node_unavailable()
    if missing is not None:
        if os.environ.get("CONFORMANCE_REQUIRE_NODE") == "1":
            pytest.fail(missing)
        pytest.skip(missing)


CALL = {
    "kind": "parse",
    "params": {},
    "status": 200,
    "headers": {"content-type": "application/json"},
    "body": json.dumps(conformant_response()),
}


def test_one_node_serves_many_batches_and_a_dead_one_is_started_again(node: None) -> None:
    reader = NodeReader()
    try:
        first = reader([CALL])
        process = reader._process
        assert first == [{"id": 0, "sent": True, "step": None, "error": None}]
        assert reader([CALL, CALL]) == [{**first[0], "id": 0}, {**first[0], "id": 1}]
        assert reader._process is process, "the same node read both batches"
        assert process is not None
        process.kill()
        process.wait()
        assert reader([CALL]) == first, "the next batch starts node again"
        assert reader._process is not process
    finally:
        reader.close()


def test_a_node_that_exits_without_answering_is_one_line(
    node: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "exits.mjs"
    script.write_text("console.error('no answers today'); process.exit(3);\n", encoding="utf-8")
    monkeypatch.setattr(node_column, "SCRIPT", script)
    reader = NodeReader()
    try:
        said = reader([CALL])
    finally:
        reader.close()
    assert said == "node exited 3 without results: 'no answers today'"


def test_an_interrupted_large_live_run_leaves_no_process_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the judging and reading processes are busy: the run stops, and so do they."""
    monkeypatch.setattr(session, "LIVE_MIN_CELLS", 1)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            bench(Scenario(models=3, probes=6, rpm=30, latency_ms=10, burst=2))
    finally:
        timer.cancel()
    assert not [child for child in multiprocessing.active_children() if child.is_alive()]


def test_what_a_judge_raises_in_a_worker_reaches_the_cell(
    replayed: list[ResultLine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a judging thread's exception does: run_cell makes it the cell's harness.internal ERROR."""

    def broken(*args: Any) -> Any:
        raise RuntimeError("a check's bug")

    monkeypatch.setattr(runner, "judge", broken)  # before the fork, so the worker has it
    record = replayed[0]
    judges = Judges(1)
    try:
        with pytest.raises(RuntimeError, match="a check's bug"):
            runner.judge_within(BY_ID[record.probe], _exchanges(record), True, [], judges=judges)
    finally:
        judges.close()
