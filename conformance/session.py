"""A run: which cells, through which transports, written where. Shared by the CLI and the pytest plugin.

A run directory holds `results.jsonl` (appended as each cell finishes), `run.json` (what was asked
and whether it finished, so an interrupted run resumes), and the rendered matrix and reports.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from conformance import pool, safejson
from conformance.catalog import Catalog, claim_record, fetch_catalog, redirect_warnings
from conformance.checks.http import CASSETTE, NOT_RECORDED
from conformance.derived import derived_records
from conformance.evidence import Finding, Status
from conformance.matrix import build_matrix, write_matrix
from conformance.paths import MANIFEST, file_name
from conformance.probes import PROBES, Probe
from conformance.profiles import Profile
from conformance.records import Manifest
from conformance.results import RESULTS_FILE, DirLock, ResultsWriter, read_json_file, read_results, set_aside_torn_tail
from conformance.runner import CellResult, Target, TransportFactory, internal_finding, run_cell, warm_schemas
from conformance.schedule import Deadline, Pacing, model_rates, over_budget, run_groups
from conformance.transports import CassetteTransport, NoNetworkTransport, RecordMode
from conformance.transports.cassette import CassetteError, cassette_path, catalog_cassette_path, provider_dir
from conformance.transports.deadline import live_transport

# The run options the CLI and the pytest plugin share, with one set of defaults.
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_SEMANTIC_TRIES = 3  # models are not deterministic: a cell failed only on meaning gets three tries


def api_key_for(profile: Profile, key_env: str | None) -> str | None:
    """The key from the named variable (or the profile's); an empty or unset variable is no key, paced as anonymous."""
    env = key_env if key_env is not None else profile.api_key_env
    return (os.environ.get(env) or None) if env else None


@dataclass(frozen=True)
class Plan:
    """What to run. `mode` None means live with no cassettes; `catalog` carries the claims; `pacing` the rates."""

    target: Target
    models: tuple[str, ...]
    probes: tuple[Probe, ...]
    mode: RecordMode | None
    cassettes: Path
    catalog: Catalog | None = None
    pacing: Pacing = field(default_factory=Pacing)

    def cells(self) -> list[tuple[str, Probe]]:
        return [(model, probe) for model in self.models for probe in self.probes]


def select_probes(patterns: Sequence[str] = (), features: Sequence[str] = ()) -> tuple[Probe, ...]:
    """Probes whose id matches any glob in `patterns` and whose feature is in `features` (empty = all)."""
    chosen = [
        p
        for p in PROBES
        if (not patterns or any(fnmatch.fnmatchcase(p.id, pat) for pat in patterns))
        and (not features or p.feature in features)
    ]
    if not chosen:
        raise ValueError(f"no probe matches --probe {list(patterns)} --feature {list(features)}")
    return tuple(chosen)


def select_models(available: Sequence[str], patterns: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """Globs select among the available models; a pattern with no glob characters names a model outright."""
    chosen: list[str] = []
    for pattern in patterns or ["*"]:
        if not any(c in pattern for c in "*?[") and pattern not in available:
            chosen.append(pattern)
        chosen.extend(m for m in available if fnmatch.fnmatchcase(m, pattern))
    kept = [m for m in dict.fromkeys(chosen) if not any(fnmatch.fnmatchcase(m, x) for x in exclude)]
    return tuple(kept)


def catalog_transport(target: Target, mode: RecordMode | None, cassettes: Path) -> Callable[[], httpx.BaseTransport]:
    """Catalog requests go through the same transports as probes: one cassette per provider."""

    def factory() -> httpx.BaseTransport:
        live = live_transport()
        if mode is None:
            return live
        inner = NoNetworkTransport() if mode is RecordMode.NONE else live
        path = catalog_cassette_path(cassettes, target.provider)
        return CassetteTransport(
            path, mode, inner, provider=target.provider, model="_catalog", probe="catalog", secrets=target.secrets
        )

    return factory


@dataclass(frozen=True)
class LivePlan:
    plan: Plan
    skipped: dict[str, str]  # catalog models not probed, and why
    warnings: tuple[str, ...]  # what the catalog parsers noticed


def live_plan(
    profile: Profile,
    api_key: str | None,
    probes: tuple[Probe, ...],
    mode: RecordMode | None,
    cassettes: Path,
    models: Sequence[str] = (),
    exclude: Sequence[str] = (),
    include_unavailable: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    semantic_tries: int = DEFAULT_SEMANTIC_TRIES,
    rate_limit: float | None = None,
    budget_s: float | None = None,
    max_in_flight: int | None = None,
) -> LivePlan:
    """Models come from the provider's catalog (recorded like any exchange); claims come with them."""
    target = Target(
        profile.name,
        profile.base_url,
        api_key,
        semantic=profile.semantic_checks,
        timeout_s=timeout_s,
        semantic_tries=semantic_tries,
        semantic_probes=profile.semantic_probes,
        body_cap_bytes=profile.body_cap_bytes,
        request_defaults=dict(profile.request_defaults),
    )
    catalog = fetch_catalog(
        profile, catalog_transport(target, mode, cassettes), api_key=api_key, timeout_s=timeout_s, budget_s=budget_s
    )
    available, skipped = catalog.selection(include_unavailable)
    chosen = select_models(available, models, exclude)
    rates = model_rates(profile, catalog, chosen, keyed=api_key is not None, override=rate_limit)
    pacing = Pacing(rates, max_in_flight=max_in_flight)
    plan = Plan(target, chosen, probes, mode, cassettes, catalog, pacing)
    return LivePlan(plan, {m: r for m, r in skipped.items() if m not in chosen}, catalog.warnings)


def transports_for(plan: Plan) -> TransportFactory:
    def live() -> httpx.BaseTransport:
        return live_transport()

    mode = plan.mode
    if mode is None:
        return lambda probe, model: plan.pacing.wrap(live(), plan.target.provider, model)

    def cassette(probe: Probe, model: str) -> httpx.BaseTransport:
        path = cassette_path(plan.cassettes, plan.target.provider, model, probe.id)
        inner = NoNetworkTransport() if mode is RecordMode.NONE else live()
        recorder = CassetteTransport(
            path,
            mode,
            inner,
            provider=plan.target.provider,
            model=model,
            probe=probe.id,
            secrets=plan.target.secrets,
        )
        return plan.pacing.wrap(recorder, plan.target.provider, model)

    return cassette


def write_manifest(plan: Plan) -> None:
    """Record what replay needs to know about the provider: where it was and which models it had."""
    path = provider_dir(plan.cassettes, plan.target.provider) / MANIFEST
    previous = read_manifest(path).models if path.exists() and not path.is_symlink() else []
    manifest = Manifest(
        provider=plan.target.provider,
        base_url=plan.target.base_url,
        semantic_checks=plan.target.semantic,
        semantic_tries=plan.target.semantic_tries,
        semantic_probes=sorted(plan.target.semantic_probes),
        models=sorted(set(previous) | set(plan.models)),
        body_cap_bytes=plan.target.body_cap_bytes,
        request_defaults=plan.target.request_defaults,
        catalog=None if plan.catalog is None else plan.catalog.to_json(),
    )
    write_file_atomic(path, json.dumps(manifest.model_dump(mode="json", exclude_none=True), indent=1) + "\n")


def read_manifest(path: Path) -> Manifest:
    """A provider manifest, or one ValueError naming the file and what is wrong with it."""
    try:
        return Manifest.model_validate(read_json_file(path, "cassette manifest"))
    except ValidationError as exc:
        raise ValueError(f"{path}: not a provider manifest ({exc.error_count()} problem(s): {_first(exc)})") from None


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(map(str, error['loc'])) or 'file'}: {error['msg']}"


def write_file_atomic(path: Path, text: str) -> None:
    """Write beside, then rename over: never a half file, a symlink at `path` is replaced rather than followed,
    and parallel workers (pytest-xdist) writing the same file each replace it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def replay_plans(cassettes: Path, providers: Sequence[str] = (), probes: tuple[Probe, ...] = PROBES) -> list[Plan]:
    """One offline plan per recorded provider; no network is reachable from any of them."""
    plans = []
    for manifest_path in sorted(cassettes.glob(f"*/{MANIFEST}")):
        manifest = read_manifest(manifest_path)
        if providers and manifest.provider not in providers:
            continue
        target = Target(
            manifest.provider,
            manifest.base_url,
            semantic=manifest.semantic_checks,
            semantic_tries=manifest.semantic_tries,  # as recorded, so retries replay alike
            semantic_probes=frozenset(manifest.semantic_probes),
            body_cap_bytes=manifest.body_cap_bytes,
            request_defaults=dict(manifest.request_defaults),
        )
        catalog = None if manifest.catalog is None else Catalog.from_json(manifest.catalog)
        plans.append(Plan(target, tuple(manifest.models), probes, RecordMode.NONE, cassettes, catalog))
    return plans


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
            write_manifest(plan)
        if plan.catalog is not None:
            self._snapshot(plan.catalog)

    def _snapshot(self, catalog: Catalog) -> None:
        """The claims a run was judged against, stored beside its results."""
        path = self.out_dir / "catalogs" / f"{file_name(catalog.provider)}.json"
        write_file_atomic(path, json.dumps(catalog.to_json(), indent=1) + "\n")

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


def render_dir(
    out_dir: Path,
    meta: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Rebuild matrix.json and the reports from results.jsonl alone."""
    records = list(read_results(out_dir / RESULTS_FILE))
    # Derived cells: the Python SDK (the "sdk" column) and the Node SDK ("clients") re-read the recorded answers.
    records += derived_records(records)
    meta = {**_totals(records), **(meta or {})}
    meta.setdefault("generated_at", datetime.now(UTC).isoformat(timespec="seconds"))
    matrix = build_matrix(records, meta)  # not validated: results of a newer suite may hold a status unknown here
    write_matrix(matrix, out_dir)
    from conformance.report import write_reports  # the report layer reads results only

    write_reports(matrix, out_dir, baseline=baseline, history=history, records=records)
    return matrix


def _totals(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    requests = tokens = 0
    providers: dict[str, str] = {}
    for record in records:
        requests += _requests(record)
        for ex in record.get("exchanges", []):
            providers.setdefault(record["provider"], ex["request"]["url"].split("/responses")[0])
            tokens += _tokens(ex)
    return {"providers": providers, "requests": requests, "tokens": tokens}


def _requests(record: dict[str, Any]) -> int:
    """Every request the cell sent: a semantic retry's earlier attempts too, whose exchanges are not kept."""
    tries = record.get("attempts", [])
    if tries and all(isinstance(t.get("requests"), int) for t in tries):
        return sum(t["requests"] for t in tries)
    return sum(1 + len(ex.get("attempts", [])) for ex in record.get("exchanges", []))


def _tokens(exchange: dict[str, Any]) -> int:
    """total_tokens of a JSON response, or of a stream's last event's response."""
    events = exchange.get("events")
    text = events[-1]["data"] if events else exchange.get("body")
    try:
        body = safejson.loads(text or "null")
    except ValueError:
        return 0
    if isinstance(body, dict) and isinstance(body.get("response"), dict):
        body = body["response"]
    usage = body.get("usage") if isinstance(body, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else 0


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
