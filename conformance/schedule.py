"""Scheduling a run: models in parallel, each model's cells in order behind its own pacer, within a budget.

A provider limits requests per model (OVHcloud: 400/min with a key, 2/min without), so models are
independent lanes: one thread per model, up to `jobs`, each running its cells one after another
through a `PacedTransport` whose token bucket that model's cells share. Results are emitted one at
a time, as each cell finishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import httpx

from conformance.catalog import Catalog
from conformance.checks.http import BUDGET
from conformance.evidence import Status
from conformance.probes import Probe
from conformance.profiles import Profile
from conformance.runner import CellResult, Target
from conformance.transports.pacing import Buckets, PacedTransport, RetryPolicy, no_wait, replays_only

MAX_JOBS = 8  # default ceiling on models run at once
JOIN_POLL_S = 0.2  # how often the main thread looks up from waiting, so Ctrl-C is seen at once

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Pacing:
    """Requests per minute for each model (a model absent is not paced), and the retry policy.

    `buckets` holds the live token buckets, so every cell of a plan shares its model's one.
    """

    rates: Mapping[str, float] = field(default_factory=dict, hash=False)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    buckets: Buckets = field(default_factory=Buckets, compare=False, hash=False, repr=False)

    def wrap(self, inner: httpx.BaseTransport, provider: str, model: str) -> PacedTransport:
        """Live: paced and retried. Replay: retried where the cassette did, and never waiting."""
        if replays_only(inner):
            return PacedTransport(inner, None, self.policy, sleep=no_wait)
        rate = self.rates.get(model)
        bucket = None if rate is None else self.buckets.get(provider, model, rate)
        return PacedTransport(inner, bucket, self.policy)


def model_rates(
    profile: Profile, catalog: Catalog | None, models: Sequence[str], keyed: bool, override: float | None = None
) -> dict[str, float]:
    """Each model's requests/min: `override` (0: unpaced), else its catalog entry's, else the profile's.

    With a key the keyed limits apply, without one the anonymous ones; a model with no known rate is unpaced.
    """
    rates: dict[str, float] = {}
    for model in models:
        entry = catalog.get(model) if catalog is not None else None
        listed = None if entry is None else entry.rate_limit_per_min if keyed else entry.rate_limit_anonymous_per_min
        default = profile.rate_limit_per_min if keyed else profile.rate_limit_anonymous_per_min
        rate = override if override is not None else listed or default
        if rate:
            rates[model] = float(rate)
    return rates


class Deadline:
    """A run's time budget, shared by its threads: once spent, no further cell starts.

    A cell already running finishes (its own timeout bounds it); the cells after it become ERROR.
    """

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds

    def spent(self) -> bool:
        return self._end is not None and self._clock() >= self._end


def over_budget(target: Target, model: str, probe: Probe, budget: Deadline) -> CellResult:
    """The cell the budget left no time for: ERROR, saying so."""
    return CellResult(
        provider=target.provider,
        model=model,
        probe=probe.id,
        feature=probe.feature,
        title=probe.title,
        status=Status.ERROR,
        findings=(BUDGET.finding(f"the run's budget of {budget.seconds:g}s was spent before this cell started"),),
        exchanges=(),
        semantic=target.semantic_for(probe.id),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        elapsed_ms=0.0,
    )


def default_jobs(models: int) -> int:
    return max(1, min(models, MAX_JOBS))


def run_lanes(
    lanes: Sequence[Sequence[Item]], jobs: int, work: Callable[[Item], Result], emit: Callable[[Result], None]
) -> None:
    """Each lane's items in order, up to `jobs` lanes at once; `emit` is called for one result at a time.

    One job runs in the calling thread, as before parallel runs existed. Otherwise the lanes run on
    daemon threads: on Ctrl-C the caller stops waiting and no further result is emitted; a cell still
    running is abandoned, and since a cassette is written whole when its cell ends, none is left half-written.
    """
    lanes = [lane for lane in lanes if lane]
    if jobs <= 1 or len(lanes) <= 1:
        for lane in lanes:
            for item in lane:
                emit(work(item))
        return
    pending = iter(lanes)
    lock, stop = threading.Lock(), threading.Event()
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            while (lane := _next(pending, lock, stop)) is not None:
                for item in lane:
                    if stop.is_set():
                        return
                    result = work(item)
                    with lock:
                        if stop.is_set():
                            return
                        emit(result)
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=worker, name=f"lane-{i}", daemon=True) for i in range(min(jobs, len(lanes)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(JOIN_POLL_S)
    finally:
        stop.set()
    if failures:
        raise failures[0]


def _next(pending: Iterator[Sequence[Item]], lock: threading.Lock, stop: threading.Event) -> Sequence[Item] | None:
    with lock:
        return None if stop.is_set() else next(pending, None)
