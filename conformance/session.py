"""A run: cells through transports into one output directory. Shared by the CLI and the pytest plugin.

A run directory holds `results.jsonl` (appended as each cell finishes), `run.json` (what was asked
and whether it finished, so an interrupted run resumes), and the rendered matrix and reports. What to
run is a `plan.Plan`; rendering is `render.render_dir`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from conformance import pool, safejson
from conformance.catalog.model import Catalog, claim_record, redirect_warnings
from conformance.checks.http import CASSETTE, NOT_RECORDED
from conformance.derived import Derived, Deriver, Key, Read, read_cells, tally_model
from conformance.evidence import Finding, Status
from conformance.judging import Judges
from conformance.manifest import write_manifest
from conformance.paths import file_name, refuse_links_out
from conformance.plan import Plan, transports_for
from conformance.probes import Probe
from conformance.records import CatalogRecord, Matrix, MatrixHead, ResultLine
from conformance.render import render_dir
from conformance.render import warm as warm_report
from conformance.results import (
    RESULTS_FILE,
    DirLock,
    ResultsWriter,
    encoded,
    read_json_file,
    read_results,
    set_aside_torn_tail,
    write_file_atomic,
)
from conformance.runner import (
    CellResult,
    Target,
    TransportFactory,
    internal_finding,
    judge_by_timer,
    run_cell,
    warm_validators,
)
from conformance.schedule import Deadline, over_budget, run_groups
from conformance.transports import RecordMode
from conformance.transports.cassette import CassetteError, cassette_path
from conformance.transports.pacing import within_budget


class Emit(Protocol):
    """Writes a cell's results line (made here, or by a pooled replay's worker) and tells `on_cell`."""

    def __call__(self, result: CellResult, line: bytes | None = None) -> ResultLine | None: ...


LIVE_MIN_CELLS = 50  # a live run this large judges, and reads its derived cells, in processes of its own


@dataclass
class Session:
    """Runs plans into one output directory, appending each cell as it finishes."""

    out_dir: Path
    meta: MatrixHead = field(default_factory=MatrixHead)
    on_cell: Callable[[CellResult], None] | None = None
    jobs: int | None = None  # models run at once; None: all of them (limits are per model)
    budget: Deadline | None = None  # once spent, the cells not yet started are ERROR (harness.budget)
    baseline: Matrix | None = None  # a past matrix: the reports outline what changed since

    def run(self, plans: Sequence[Plan]) -> Matrix:
        """Holds a lock on the output directory, and on each cassette folder it records into, meanwhile."""
        refuse_links_out(self.out_dir)
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

    def _run(self, plans: Sequence[Plan]) -> Matrix:
        started = time.perf_counter()
        done = self._resume_point(plans)
        writer, reporting = ResultsWriter(self.out_dir), threading.Lock()

        def emit(result: CellResult, line: bytes | None = None) -> ResultLine | None:
            """Called from each cell's thread: the line is written at once, `on_cell` hears one cell at a time.
            Returns the record written; None when a pooled replay's worker made the line."""
            record = None
            if line is None:
                result, record, line = written(result)
            writer.append_line(line)
            if self.on_cell:
                with reporting:
                    self.on_cell(result)
            return record

        for plan in plans:
            self.prepare(plan)
        pooled = self._replay_pooled(plans, done, emit, writer, keep=not done)  # a resumed file holds earlier lines
        if pooled is None:
            ready, records = self._run_in_process(plans, done, emit), None
        else:
            ready, records = pooled.ready, pooled.records
        self._state(plans, complete=True)
        meta = self.meta.model_copy(update={"duration_s": round(time.perf_counter() - started, 3)})
        return self.render(meta, ready, records)

    def _run_in_process(self, plans: Sequence[Plan], done: set[tuple[str, str, str]], emit: Emit) -> dict[Key, Derived]:
        """Every model's cells in threads of this process. In a live run of LIVE_MIN_CELLS or more, processes
        forked before any thread judge the answers (`Judges`) and read them for the derived cells as each
        cell ends (`Deriver`), so that the render after the last cell has little left to do."""
        todo = [(plan, model, cells) for plan in plans for model, cells in _todo(plan, done)]
        untouched = {(p.target.provider, m): len(c) for p, m, c in todo if c and len(c) == len(p.probes)}
        live = any(plan.mode is not RecordMode.NONE for plan in plans)
        workers = pool.cores() if live and sum(len(c) for _, _, c in todo) >= LIVE_MIN_CELLS else 1
        judges = Judges(workers) if workers > 1 else None
        deriver = Deriver(untouched) if judges is not None and untouched else None
        # the first cells mostly wait for their answers meanwhile: what the process needs later is made then
        warming = threading.Thread(target=warm_validators if judges is None else warm_report, name="warm", daemon=True)
        warming.start()
        try:
            for plan in plans:
                groups = [
                    (plan.pacing.in_flight(plan.target.provider, model), cells) for model, cells in _todo(plan, done)
                ]
                run_groups(groups, self.jobs, self._worker(plan, judges), lambda r: self._emitted(r, emit, deriver))
            if warming.is_alive():
                warming.join()  # nothing forks later (the render's pool) while a build holds its lock
            return deriver.ready() if deriver is not None else {}
        finally:
            for pooled in (judges, deriver):
                if pooled is not None:
                    pooled.close()

    @staticmethod
    def _emitted(result: CellResult, emit: Emit, deriver: Deriver | None) -> None:
        record = emit(result)
        if deriver is not None and record is not None:
            deriver.add(record)

    def _replay_pooled(
        self,
        plans: Sequence[Plan],
        done: set[tuple[str, str, str]],
        emit: Emit,
        writer: ResultsWriter,
        keep: bool,
    ) -> Pooled | None:
        """Replay's models in worker processes, each model's cells written in one batch, in the plans' order; None
        when it stays in process.

        The cells that run a client library (`Probe.library`) are all one task, the first: loading those
        libraries takes a process seconds, so one worker does it once while the other replays models.
        Every task's worker reads its cells' answers for the derived columns as well; a model's derived
        cells are tallied here once all its cells are back. This process mostly waits meanwhile: once the first
        model is written, it compiles the report's templates, in this thread, so none is alive when the render
        forks. It reads back each line it writes, which the tally reads; with `keep`, it keeps them, so that the
        render need not read results.jsonl again once the workers are done.
        """
        models = [(i, cells) for i, plan in enumerate(plans) for _, cells in _todo(plan, done) if cells]
        offline = all(plan.mode is RecordMode.NONE for plan in plans)
        workers = pool.processes(len(models), sum(len(c) for _, c in models), self.jobs) if offline else 1
        if workers <= 1:
            return None
        warm_validators()  # before the fork: every worker inherits them
        work = [self._worker(plan) for plan in plans]
        library = [(i, cell) for i, cells in models for cell in cells if cell[1].library is not None]
        by_model = [[(i, cell) for cell in cells if cell[1].library is None] for i, cells in models]

        def replay(n: int) -> list[Replayed]:
            """Task -1 is every library cell, task n the n-th model's other cells: each cell as `on_cell` hears
            it (its exchanges are in the line), its line, its record without exchanges, and its reads."""
            cells = library if n < 0 else by_model[n]
            made = [written(work[i](cell)) for i, cell in cells]
            reads = _reads([record for _, record, _ in made])
            return [
                Replayed(replace(result, exchanges=()), line, read)
                for (result, _, line), read in zip(made, reads, strict=True)
            ]

        ready: dict[Key, Derived] = {}
        records: list[ResultLine] | None = [] if keep else None
        tasks = ([-1] if library else []) + list(range(len(models)))
        results = pool.in_order(replay, tasks, workers, started=judge_by_timer)
        waiting: dict[tuple[str, str, str], Replayed] = {}
        for replayed in next(results) if library else []:
            waiting[replayed.key] = replayed
        for n, ((i, cells), own) in enumerate(zip(models, results, strict=True)):
            mine = {r.key: r for r in own}
            provider = plans[i].target.provider
            ordered = [mine.get(k) or waiting.pop(k) for k in ((provider, m, p.id) for m, p in cells)]
            with writer.batch():
                for replayed in ordered:
                    emit(replayed.result, replayed.line)
            lines = _read_back(ordered)
            if records is not None and lines is not None:
                records.extend(lines)
            elif lines is None:
                records = None
            reads = [(line, r.read) for line, r in zip(lines or (), ordered, strict=False) if r.read is not None]
            tallied = tally_model((provider, cells[0][0]), reads) if len(reads) == len(ordered) else None
            if tallied is not None:
                ready[(provider, cells[0][0])] = tallied
            if n == 0:
                warm_report()  # the workers replay the next models meanwhile
        return Pooled(ready, records)

    def _worker(self, plan: Plan, judges: Judges | None = None) -> Callable[[tuple[str, Probe]], CellResult]:
        """Runs one cell of the plan, or, once the budget is spent, says it had no time left."""
        factory, budget = transports_for(plan), self.budget

        def work(cell: tuple[str, Probe]) -> CellResult:
            model, probe = cell
            if budget is not None and budget.spent():
                return annotate(over_budget(plan.target, model, probe, budget), plan.catalog)
            try:
                with within_budget(None if budget is None else budget.left):
                    return run_planned(plan, model, probe, factory, judges)
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
                return {r.key for r in read_results(results)}
        self._state(plans, complete=False)
        results.write_bytes(b"")  # a run with no cell (an empty shard) is still a run
        return set()

    def _state(self, plans: Sequence[Plan], complete: bool) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {"plans": _plans_key(plans), "complete": complete}
        write_file_atomic(self.out_dir / "run.json", json.dumps(state, indent=1) + "\n")

    def render(
        self,
        meta: MatrixHead,
        ready: Mapping[Key, Derived] | None = None,
        records: Sequence[ResultLine] | None = None,
    ) -> Matrix:
        """matrix.json and the reports; `ready` holds derived cells already made during the run, `records` the
        lines of results.jsonl when the run read them as it wrote them."""
        return render_dir(self.out_dir, meta, baseline=self.baseline, ready=ready, records=records)


def written(result: CellResult) -> tuple[CellResult, ResultLine, bytes]:
    """The cell, its results record and its line; a record JSON cannot hold (inf, a cycle) is the cell's ERROR."""
    try:
        record = result.record()
        return result, record, encoded(record)
    except (ValueError, TypeError, RecursionError) as exc:
        finding = internal_finding(exc, "writing the cell's result")
        required = ("claim", "drift")  # what a results line cannot be without
        kept: dict[str, Any] = {k: v for k, v in result.extra.items() if k in required}
        result = replace(result, status=Status.ERROR, findings=(finding,), exchanges=(), extra=kept)
        record = result.record()
        return result, record, encoded(record)


@dataclass(frozen=True)
class Pooled:
    """What a pooled replay hands the render: the derived cells it made, and its lines as records (None when
    not kept, or when one could not be read back: the render reads results.jsonl then, and says what is wrong)."""

    ready: dict[Key, Derived]
    records: list[ResultLine] | None


def _read_back(written: Sequence[Replayed]) -> list[ResultLine] | None:
    """The lines just written, read as the render would read them; None when one cannot be. A record crosses
    from the worker as its line: parsed and validated here, it costs less than a pickled model."""
    try:
        return [ResultLine.model_validate(safejson.loads(replayed.line)) for replayed in written]
    except ValueError:
        return None


@dataclass(frozen=True)
class Replayed:
    """A cell a replay worker ran: as `on_cell` hears it, its results line, and what the SDK and node made of
    its answers (None: not read)."""

    result: CellResult
    line: bytes
    read: Read | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.result.provider, self.result.model, self.result.probe)


def _reads(records: list[ResultLine]) -> list[Read | None]:
    """What the SDK and node made of each cell's answers, read where the records are; none when that fails
    (the render derives the models concerned, and says why)."""
    try:
        return list(read_cells(records))
    except Exception:
        return [None] * len(records)


def _todo(plan: Plan, done: set[tuple[str, str, str]]) -> list[tuple[str, list[tuple[str, Probe]]]]:
    """Each model of the plan with its cells not yet done."""
    provider = plan.target.provider
    return [(m, [(m, p) for p in plan.probes if (provider, m, p.id) not in done]) for m in plan.models]


def run_planned(
    plan: Plan, model: str, probe: Probe, factory: TransportFactory, judges: Judges | None = None
) -> CellResult:
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
        return annotate(run_cell(probe, model, plan.target, factory, judges), plan.catalog)
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
