"""A run: cells through transports into one output directory. Shared by the CLI and the pytest plugin.

A run directory holds `results.jsonl` (appended as each cell finishes), `run.json` (what was asked
and whether it finished, so an interrupted run resumes), and the rendered matrix and reports. What to
run is a `plan.Plan`; rendering is `render.render_dir`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import pool
from conformance.catalog.model import Catalog, claim_record, redirect_warnings
from conformance.checks.http import CASSETTE, NOT_RECORDED
from conformance.evidence import Finding, Status
from conformance.manifest import write_manifest
from conformance.paths import file_name
from conformance.plan import Plan, transports_for
from conformance.probes import Probe
from conformance.records import CatalogRecord
from conformance.render import render_dir
from conformance.results import (
    RESULTS_FILE,
    DirLock,
    ResultsWriter,
    read_json_file,
    read_results,
    set_aside_torn_tail,
    write_file_atomic,
)
from conformance.runner import CellResult, Target, TransportFactory, internal_finding, run_cell, warm_schemas
from conformance.schedule import Deadline, over_budget, run_groups
from conformance.transports import RecordMode
from conformance.transports.cassette import CassetteError, cassette_path


@dataclass
class Session:
    """Runs plans into one output directory, appending each cell as it finishes."""

    out_dir: Path
    meta: dict[str, Any] = field(default_factory=dict)
    on_cell: Callable[[CellResult], None] | None = None
    jobs: int | None = None  # models run at once; None: all of them (limits are per model)
    budget: Deadline | None = None  # once spent, the cells not yet started are ERROR (harness.budget)
    baseline: dict[str, Any] | None = None  # a past matrix: the reports outline what changed since

    def run(self, plans: Sequence[Plan]) -> dict[str, Any]:
        """Holds a lock on the output directory, and on each cassette folder it records into, meanwhile."""
        recorded = {p.cassettes for p in plans if p.mode is not None and p.mode is not RecordMode.NONE}
        locks = [DirLock(self.out_dir), *(DirLock(folder) for folder in sorted(recorded))]
        held: list[DirLock] = []
        try:
            for lock in locks:
                lock.acquire()
                held.append(lock)
            return self._run(plans)
        finally:
            for lock in held:
                lock.release()

    def _run(self, plans: Sequence[Plan]) -> dict[str, Any]:
        started = time.perf_counter()
        warm_schemas([])  # once per process, before any cell's clock starts
        done = self._resume_point(plans)
        writer, reporting = ResultsWriter(self.out_dir), threading.Lock()

        def emit(result: CellResult) -> None:
            """Called from each cell's thread: the line is written at once, `on_cell` hears one cell at a time."""
            try:
                writer.append(result.record())
            except (ValueError, TypeError, RecursionError) as exc:  # a record JSON cannot hold (inf, a cycle)
                finding = internal_finding(exc, "writing the cell's result")
                required = ("claim", "drift")  # what a results line cannot be without
                kept: dict[str, Any] = {k: v for k, v in result.extra.items() if k in required}
                result = replace(result, status=Status.ERROR, findings=(finding,), exchanges=(), extra=kept)
                writer.append(result.record())
            if self.on_cell:
                with reporting:
                    self.on_cell(result)

        for plan in plans:
            self.prepare(plan)
        if not self._replay_pooled(plans, done, emit, writer):
            for plan in plans:
                groups = [
                    (plan.pacing.in_flight(plan.target.provider, model), cells) for model, cells in _todo(plan, done)
                ]
                run_groups(groups, self.jobs, self._worker(plan), emit)
        self._state(plans, complete=True)
        meta = {**self.meta, "duration_s": round(time.perf_counter() - started, 3)}
        return self.render(meta)

    def _replay_pooled(
        self,
        plans: Sequence[Plan],
        done: set[tuple[str, str, str]],
        emit: Callable[[CellResult], None],
        writer: ResultsWriter,
    ) -> bool:
        """Replay's models in worker processes, each model's cells in order and written in one batch;
        False when it stays in process."""
        models = [(i, cells) for i, plan in enumerate(plans) for _, cells in _todo(plan, done) if cells]
        offline = all(plan.mode is RecordMode.NONE for plan in plans)
        workers = pool.processes(len(models), sum(len(c) for _, c in models), self.jobs) if offline else 1
        if workers <= 1:
            return False
        work = [self._worker(plan) for plan in plans]
        for results in pool.in_order(
            lambda n: [work[models[n][0]](c) for c in models[n][1]], range(len(models)), workers
        ):
            with writer.batch():
                for result in results:
                    emit(result)
        return True

    def _worker(self, plan: Plan) -> Callable[[tuple[str, Probe]], CellResult]:
        """Runs one cell of the plan, or, once the budget is spent, says it had no time left."""
        factory, budget = transports_for(plan), self.budget

        def work(cell: tuple[str, Probe]) -> CellResult:
            model, probe = cell
            if budget is not None and budget.spent():
                return annotate(over_budget(plan.target, model, probe, budget), plan.catalog)
            try:
                return run_planned(plan, model, probe, factory)
            except Exception as exc:  # a cell never ends the run: whatever escaped is this cell's ERROR
                return failed_cell(plan.target, model, probe, exc)

        return work

    def prepare(self, plan: Plan) -> None:
        """Before a plan's cells: the manifest a replay needs (when recording), and the catalog snapshot."""
        if plan.mode is not None and plan.mode is not RecordMode.NONE:
            write_manifest(plan.cassettes, plan.target, plan.models, plan.catalog)
        if plan.catalog is not None:
            self._snapshot(plan.catalog)

    def _snapshot(self, catalog: Catalog) -> None:
        """The claims a run was judged against, stored beside its results."""
        path = self.out_dir / "catalogs" / f"{file_name(catalog.provider)}.json"
        write_file_atomic(path, json.dumps(CatalogRecord.of(catalog).model_dump(mode="json"), indent=1) + "\n")

    def _resume_point(self, plans: Sequence[Plan]) -> set[tuple[str, str, str]]:
        """Cells already finished by an interrupted run of the same plans; otherwise start afresh."""
        state_path, results = self.out_dir / "run.json", self.out_dir / RESULTS_FILE
        key = _plans_key(plans)
        if state_path.exists() and results.exists():
            state = read_json_file(state_path, "run state")
            if isinstance(state, dict) and not state.get("complete") and state.get("plans") == key:
                set_aside_torn_tail(results)
                return {(r["provider"], r["model"], r["probe"]) for r in read_results(results)}
        self._state(plans, complete=False)
        results.write_bytes(b"")  # a run with no cell (an empty shard) is still a run
        return set()

    def _state(self, plans: Sequence[Plan], complete: bool) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {"plans": _plans_key(plans), "complete": complete}
        write_file_atomic(self.out_dir / "run.json", json.dumps(state, indent=1) + "\n")

    def render(self, meta: dict[str, Any]) -> dict[str, Any]:
        return render_dir(self.out_dir, meta, baseline=self.baseline)


def _todo(plan: Plan, done: set[tuple[str, str, str]]) -> list[tuple[str, list[tuple[str, Probe]]]]:
    """Each model of the plan with its cells not yet done."""
    provider = plan.target.provider
    return [(m, [(m, p) for p in plan.probes if (provider, m, p.id) not in done]) for m in plan.models]


def run_planned(plan: Plan, model: str, probe: Probe, factory: TransportFactory) -> CellResult:
    """One cell of a plan, as the CLI and the pytest plugin both run it.

    No cassette to replay is NOT RUN; an interrupted recording puts its cassette back as it was.
    """
    try:
        path = cassette_path(plan.cassettes, plan.target.provider, model, probe.id)
    except CassetteError as exc:
        return annotate(errored(plan.target, model, probe, CASSETTE.finding(str(exc))), plan.catalog)
    if plan.mode is RecordMode.NONE and not path.exists():
        return annotate(not_run(plan.target, model, probe, f"no cassette at {path}"), plan.catalog)
    recording = plan.mode not in (None, RecordMode.NONE)
    before = path.read_bytes() if recording and path.exists() else None
    try:
        return annotate(run_cell(probe, model, plan.target, factory), plan.catalog)
    except BaseException:
        # Interrupted (Ctrl-C): the transport has saved what it had, a request with no answer that
        # a resumed or replayed run would take for the server's. Put the cassette back as it was.
        if recording:
            _restore(path, before)
        raise


def _restore(path: Path, content: bytes | None) -> None:
    """Give a file back the content it had, or remove it when it had none."""
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(content)


def _plans_key(plans: Sequence[Plan]) -> list[dict[str, Any]]:
    return [
        {
            "provider": p.target.provider,
            "base_url": p.target.base_url,
            "models": list(p.models),
            "probes": [probe.id for probe in p.probes],
            "mode": None if p.mode is None else p.mode.value,
        }
        for p in plans
    ]


def annotate(result: CellResult, catalog: Catalog | None) -> CellResult:
    """Add the provider's claim for the cell, DRIFT, and any deprecation redirect the provider announced."""
    extra = claim_record(catalog, result.model, result.probe, result.feature, result.status)
    notices = redirect_warnings(result.exchanges)
    if notices:
        extra["redirected"] = notices
    return replace(result, extra={**result.extra, **extra})


def failed_cell(target: Target, model: str, probe: Probe, exc: Exception) -> CellResult:
    """The cell whose running raised past `run_cell` (naming the cassette, annotating): ERROR, naming it."""
    return errored(target, model, probe, internal_finding(exc, "running the planned cell"))


def errored(target: Target, model: str, probe: Probe, finding: Finding) -> CellResult:
    return replace(not_run(target, model, probe, ""), status=Status.ERROR, findings=(finding,))


def not_run(target: Target, model: str, probe: Probe, reason: str) -> CellResult:
    return CellResult(
        provider=target.provider,
        model=model,
        probe=probe.id,
        feature=probe.feature,
        title=probe.title,
        status=Status.NOT_RUN,
        findings=(NOT_RECORDED.finding(reason),),
        exchanges=(),
        semantic=target.semantic_for(probe.id),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        elapsed_ms=0.0,
    )
