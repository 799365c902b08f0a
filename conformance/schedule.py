"""Scheduling a run: every model at once, several cells of a model at once, all within its rate.

A provider limits requests per model (OVHcloud: 400/min with a key, 2/min without), so models are
independent: all of them run at once (up to MAX_MODELS_AT_ONCE, or `jobs`), within MAX_CELLS_AT_ONCE
cells in all, since each running cell is a thread. Within a model, up to its
`InFlight` limit of cells run at once, each on its own thread, and every one of their requests takes
its slot from the model's one token bucket (`Pacing`): the bucket, not the thread count, keeps the
rate. A cell's own requests (a multi-turn probe's turns) stay in order, as its script sends them.

The default limit is what keeps the rate busy while answers take `ASSUMED_LATENCY_S`: R/60 x L
cells, at least the bucket's burst, at most `MAX_IN_FLIGHT`; 1 for a model with no known rate (a
local server serves one request at a time anyway). A 429 or 503 halves the model's limit (once per
generation of cells: the answers to requests sent before a halving do not halve it again), and the
run log says so. Results are emitted one at a time, as each cell finishes; their order varies
between runs, and every reader sorts (the matrix orders cells by model and probe).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import httpx

from conformance.catalog.model import Catalog
from conformance.checks.http import BUDGET
from conformance.evidence import Status
from conformance.probes import Probe
from conformance.profiles import Profile
from conformance.runner import CellResult, Target
from conformance.transports.pacing import Buckets, PacedTransport, RetryPolicy, no_wait, replays_only

ASSUMED_LATENCY_S = 5.0  # an answer's duration, when sizing a model's default in-flight limit
MAX_IN_FLIGHT = 64  # the default limit's ceiling, whatever the rate
MAX_MODELS_AT_ONCE = 256  # models at once without --jobs: any real catalog whole, not a thread per listed id
MAX_CELLS_AT_ONCE = 1024  # cells running at once, across models, whatever the limits and --jobs ask
JOIN_POLL_S = 0.2  # how often the main thread looks up from waiting, so Ctrl-C is seen at once

log = logging.getLogger("conformance.schedule")

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_in_flight(rate_per_min: float | None, burst: int = 1) -> int:
    """Cells of one model at once: enough to keep its rate busy while answers take ASSUMED_LATENCY_S."""
    if not rate_per_min:
        return 1
    busy = math.ceil(rate_per_min / 60 * ASSUMED_LATENCY_S)
    return max(1, min(MAX_IN_FLIGHT, max(burst, busy)))


class InFlight:
    """How many of one model's cells may run at once; pushback from the server halves it."""

    def __init__(self, name: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a model's in-flight limit must be at least 1, got {limit}")
        self.name = name
        self.limit = limit
        self.generation = 0  # bumped by each halving
        self._lock = threading.Lock()

    def pushback(self, generation: int, status: int) -> None:
        """A cell started in `generation` got a 429 or 503; halve, unless a halving since then answered it."""
        with self._lock:
            if generation != self.generation or self.limit == 1:
                return
            before, self.limit = self.limit, max(1, self.limit // 2)
            self.generation += 1
        log.warning("%s answered %d: its cells in flight halved from %d to %d", self.name, status, before, self.limit)


class Limits:
    """One `InFlight` per (provider, model), made on first use: the scheduler and the transports share it."""

    def __init__(self) -> None:
        self._limits: dict[tuple[str, str], InFlight] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, model: str, limit: int) -> InFlight:
        with self._lock:
            key = (provider, model)
            if key not in self._limits:
                self._limits[key] = InFlight(f"{provider} {model}", limit)
            return self._limits[key]


@dataclass(frozen=True)
class Pacing:
    """Requests per minute for each model (a model absent is not paced), the retry policy, and how
    many cells of a model run at once (`max_in_flight`; None: `default_in_flight` of its rate).

    `buckets` and `limits` hold the live state, so every cell of a plan shares its model's bucket and limit.
    """

    rates: Mapping[str, float] = field(default_factory=dict, hash=False)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    buckets: Buckets = field(default_factory=Buckets, compare=False, hash=False, repr=False)
    max_in_flight: int | None = None
    limits: Limits = field(default_factory=Limits, compare=False, hash=False, repr=False)

    def in_flight(self, provider: str, model: str) -> InFlight:
        limit = self.max_in_flight or default_in_flight(self.rates.get(model), self.buckets.burst)
        return self.limits.get(provider, model, limit)

    def wrap(self, inner: httpx.BaseTransport, provider: str, model: str) -> PacedTransport:
        """Live: paced, retried, and telling the model's limit of pushback. Replay: retried where the
        cassette did, and never waiting."""
        if replays_only(inner):
            return PacedTransport(inner, None, self.policy, sleep=no_wait)
        rate = self.rates.get(model)
        bucket = None if rate is None else self.buckets.get(provider, model, rate)
        limit = self.in_flight(provider, model)
        generation = limit.generation  # the cell starts now: later halvings are not its to answer

        def pushback(status: int) -> None:
            limit.pushback(generation, status)

        return PacedTransport(inner, bucket, self.policy, on_pushback=pushback)


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

    def left(self) -> float:
        """Seconds until the budget is spent; infinite with no budget."""
        return float("inf") if self._end is None else max(0.0, self._end - self._clock())


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


@dataclass
class _Group(Generic[Item]):
    """One model's cells, and the limit on how many of them run at once."""

    limit: InFlight
    items: Sequence[Item]
    next: int = 0  # the first item not yet started
    running: int = 0

    def ready(self) -> bool:
        return self.next < len(self.items) and self.running < self.limit.limit

    def done(self) -> bool:
        return self.next >= len(self.items) and self.running == 0


def run_groups(
    groups: Sequence[tuple[InFlight, Sequence[Item]]],
    jobs: int | None,
    work: Callable[[Item], Result],
    emit: Callable[[Result], None],
) -> None:
    """Every group's items, up to its limit at once, up to `jobs` groups at once (None: MAX_MODELS_AT_ONCE),
    and never more than MAX_CELLS_AT_ONCE items in all: each running item is a thread.

    `emit` is called from the item's thread as it ends, so several may emit at once (a results line is
    one O_APPEND write, and its fsync overlaps the others'). When only one item may ever run at a
    time, it all runs in the calling thread. Otherwise the calling thread dispatches: each item gets a
    daemon thread of its own once its group has room, the groups taking turns. On Ctrl-C the caller
    stops waiting and no further result is emitted; a cell still running is abandoned, and since a
    cassette is written whole when its cell ends, none is left half-written. An exception from `work`
    stops the run and reaches the caller.
    """
    pending = [_Group(limit, items) for limit, items in groups if items]
    open_at_once = MAX_MODELS_AT_ONCE if jobs is None else max(1, jobs)
    if open_at_once == 1 and all(g.limit.limit == 1 for g in pending):
        for group in pending:
            for item in group.items:
                emit(work(item))
        return
    cond, stop = threading.Condition(), threading.Event()
    failures: list[BaseException] = []
    active: list[_Group[Item]] = []  # opened and not done, at most open_at_once: only these are looked at
    opened = running = 0

    def run(group: _Group[Item], item: Item) -> None:
        nonlocal running
        try:
            result = work(item)
            if not stop.is_set():
                emit(result)
        except BaseException as exc:
            failures.append(exc)
            stop.set()
        finally:
            with cond:
                group.running -= 1
                running -= 1
                cond.notify()

    def startable() -> list[_Group[Item]]:
        nonlocal opened
        active[:] = [g for g in active if not g.done()]
        while opened < len(pending) and len(active) < open_at_once:
            active.append(pending[opened])
            opened += 1
        return [g for g in active if g.ready()] if running < MAX_CELLS_AT_ONCE else []

    try:
        with cond:
            while not stop.is_set() and (startable() or active):
                # one item of each group per round: every model's first requests go out before any
                # model's later ones, which would only wait for their model's rate anyway
                while ready := startable():
                    for group in ready[: MAX_CELLS_AT_ONCE - running]:
                        item = group.items[group.next]
                        group.next, group.running, running = group.next + 1, group.running + 1, running + 1
                        threading.Thread(target=run, args=(group, item), daemon=True).start()
                cond.wait(JOIN_POLL_S)
    finally:
        stop.set()
    if failures:
        raise failures[0]
