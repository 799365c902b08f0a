"""`python -m conformance.bench`: how close a paced, concurrent run comes to what the rate limit allows.

It starts a rate-limited Responses endpoint on loopback (a deterministic JSON answer and a short event
stream, a per-model limit answered with 429 and Retry-After, a latency drawn per request from a
seeded uniform range and really slept), runs the real Session over it, live and without
cassettes, and prints:

- wall time: `Session.run`, from its start to the rendered matrix, and when its last cell ended (the
  rest is rendering), with the client's CPU time in each part: a run whose CPU time nears its wall
  time is bound by its one interpreter, not by the rate limit;
- the physical bound: the server admits at most b + R*t/60 requests of a model in any span of t
  seconds (a token bucket of burst b, rate R per minute), so a model needing N requests spends at
  least (N - b) * 60/R seconds between its first and last admission, and then its longest chain of
  dependent requests still has to be answered: L_chain (each bench probe is one request, so the
  slowest answer the model got: its latency, and a stream's events after it). Models are
  independent: the bound is the largest over models of (N - b) * 60/R + L_chain. N counts admitted
  requests, not 429s;
- their ratio; requests per cell (every HTTP request the server saw, 429s included, over cells);
  how many 429s the server answered, and how many cells a 429 decided (lost to the limit).

The server (`conformance.bench_endpoint`) runs in a process of its own, so the client's interpreter is
the client's alone; it checks nothing and counts everything, and stops when the bench ends, or by
itself after a lifetime long enough for any sane scenario.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai.types.responses import Response

from conformance.bench_endpoint import Scenario, Served
from conformance.bench_endpoint import response as endpoint_response
from conformance.bench_endpoint import serving as served_from_child
from conformance.plan import Plan
from conformance.probes import BY_ID
from conformance.records import MatrixHead
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import Target
from conformance.schedule import Pacing
from conformance.session import Session
from conformance.transports.pacing import Buckets

# Probes of one request each that a fixed answer serves, in the order `--probes P` takes them.
BENCH_PROBES = (
    "core.text_input", "core.input_items", "core.multi_turn", "core.instructions", "core.system_role",
    "core.developer_role", "core.stream_false", "streaming.text", "streaming.instructions",
    "parameters.stream_options", "parameters.temperature_top_p", "parameters.max_tool_calls",
    "parameters.prompt_cache_key", "parameters.safety_identifier", "parameters.service_tier", "parameters.user",
    "parameters.verbosity", "state.store_false", "parameters.metadata",
)  # fmt: skip
LIFETIME_FLOOR_S = 120.0  # the server's lifetime: four times the lower bound, and at least this
TARGET_RATIO, TARGET_REQUESTS_PER_CELL = 1.25, 1.05

# The target: 40 models at OVHcloud's 400 requests/min, burst 10, answers of 1 to 5 s.
CATALOG_SCALE = Scenario(models=40, probes=19, rpm=400.0, latency_ms=1000.0, burst=10, latency_max_ms=5000.0)
RESPONSE_FIELDS = tuple(
    Response.model_fields
)  # every answer carries them; the endpoint's process does not import the SDK


def response(model: str, request: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    """The endpoint's answer to `request`: a Response with every field the SDK lists."""
    return endpoint_response(model, request, RESPONSE_FIELDS, status)


@contextmanager
def serving(scenario: Scenario, lifetime_s: float) -> Iterator[Served]:
    """The endpoint in a child process of its own; see `conformance.bench_endpoint`."""
    with served_from_child(scenario, lifetime_s, RESPONSE_FIELDS) as served:
        yield served


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    paced: bool
    wall_s: float
    cells_s: float  # from the start to the last cell's end, before the matrix is rendered
    cells: int
    statuses: Counter[str]
    requests: int
    rejected: int
    lost: int  # cells whose final answer was a 429
    admitted: dict[str, int]
    chain_s: dict[str, float]
    max_in_flight: int
    cpu_cells_s: float = 0.0  # the client's CPU time (all its threads) to the last cell's end
    cpu_render_s: float = 0.0  # and after it, rendering

    def bound_of(self, model: str) -> float:
        return self.scenario.bound_s(self.admitted[model], self.chain_s[model])

    @property
    def slowest(self) -> str:
        """The model the bound comes from."""
        return max(self.admitted, key=self.bound_of)

    @property
    def bound_s(self) -> float:
        return self.bound_of(self.slowest)


def bench(scenario: Scenario, paced: bool = True, out: Path | None = None) -> Outcome:
    """Run the real Session over a fresh endpoint and measure it."""
    if not 1 <= scenario.probes <= len(BENCH_PROBES):
        raise ValueError(f"--probes takes 1 to {len(BENCH_PROBES)}, got {scenario.probes}")
    models = tuple(f"bench-{i + 1}" for i in range(scenario.models))
    probes = tuple(BY_ID[p] for p in BENCH_PROBES[: scenario.probes])
    lifetime = max(LIFETIME_FLOOR_S, 4 * scenario.bound_s(scenario.probes, scenario.latency_max_s))
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp, serving(scenario, lifetime) as server:
        target = Target("bench", server.base_url, semantic=False, timeout_s=max(30.0, lifetime / 2))
        rates = dict.fromkeys(models, scenario.rpm) if paced else {}
        pacing = Pacing(rates, buckets=Buckets(scenario.burst), max_in_flight=scenario.max_in_flight)
        plan = Plan(target, models, probes, None, Path(tmp) / "cassettes", pacing=pacing)
        results = out or Path(tmp) / "out"
        last_cell = [0.0, 0.0]

        def cell_done(_: object) -> None:
            last_cell[:] = time.perf_counter(), time.process_time()

        started, cpu = time.perf_counter(), time.process_time()
        Session(results, MatrixHead(mode="bench"), on_cell=cell_done).run([plan])
        wall, cpu_end = time.perf_counter() - started, time.process_time()
        tally = server.tally()
        cells = list(read_results(results / RESULTS_FILE))  # the cells run, not the matrix's derived ones
        lost = sum(1 for c in cells for e in c.exchanges[-1:] if e.status == 429)
        return Outcome(
            scenario, paced, wall, last_cell[0] - started, len(cells), Counter(c.status for c in cells),
            sum(tally.statuses.values()), tally.statuses[429], lost, dict(tally.admitted),
            dict(tally.chain_s), tally.max_in_flight, last_cell[1] - cpu, cpu_end - last_cell[1],
        )  # fmt: skip


def report(o: Outcome) -> str:
    s, slowest = o.scenario, o.slowest
    n, chain = o.admitted[slowest], o.chain_s[slowest]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
    mode = "paced" if o.paced else "UNPACED (no client pacing)"
    in_flight = "default" if s.max_in_flight is None else str(s.max_in_flight)
    latency = (
        f"{s.latency_ms:g} ms" if s.latency_max_s == s.latency_s else f"{s.latency_ms:g}-{s.latency_max_s * 1000:g} ms"
    )
    bound = f"({n} - {s.burst}) * {s.interval_s:.3f} s + {chain:.3f} s, for {slowest}"
    limit = f"{s.rpm:g} requests/min per model, burst {s.burst}"
    requests = f"{o.requests} HTTP requests, 429s included, for {o.cells} cells"
    errors = o.statuses.get("ERROR", 0)
    rows = [
        ("scenario", f"{s.models} models x {s.probes} probes; {limit}; {latency} latency; {mode}"),
        ("", f"max in flight per model: {in_flight}; latency seed {s.seed}"),
        ("cells", f"{o.cells} ({statuses}); {o.max_in_flight} requests in flight at most"),
        ("wall time", f"{o.wall_s:.2f} s   (Session.run, from its start to the rendered matrix)"),
        ("last cell", f"{o.cells_s:.2f} s   (from the start to the last cell's end; rendering took the rest)"),
        ("client CPU", f"{o.cpu_cells_s:.2f} s to the last cell, {o.cpu_render_s:.2f} s rendering (one interpreter)"),
        ("physical bound", f"{o.bound_s:.2f} s   = max over models of (N - b) * 60/R + L_chain"),
        ("", f"= {bound}; N admitted requests, L_chain its slowest answer, stream included"),
        ("ratio", f"{o.wall_s / o.bound_s:.3f}    (wall time; target <= {TARGET_RATIO})"),
        ("", f"{o.cells_s / o.bound_s:.3f}    (the last cell's end alone)"),
        ("requests per cell", f"{o.requests / o.cells:.3f}    ({requests}; target <= {TARGET_REQUESTS_PER_CELL})"),
        ("429s answered", f"{o.rejected}; cells lost to a 429: {o.lost} (target 0); ERROR cells: {errors} (target 0)"),
    ]  # fmt: skip
    return "\n".join(f"{name:18} {value}" for name, value in rows)


def met(o: Outcome) -> bool:
    """The targets: the ratio, the requests per cell, no cell lost to a 429, and no ERROR cell (every bench
    probe passes against this endpoint: an ERROR is the harness's, and its cell measured nothing)."""
    ratio, per_cell = o.wall_s / o.bound_s, o.requests / o.cells
    return ratio <= TARGET_RATIO and per_cell <= TARGET_REQUESTS_PER_CELL and o.lost == 0 and not o.statuses["ERROR"]


def _latency(text: str) -> tuple[float, float | None]:
    """`L` or `LO-HI`, in milliseconds."""
    low, _, high = text.partition("-")
    try:
        values = (float(low), float(high) if high else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected L or LO-HI in milliseconds, got {text!r}") from None
    if values[0] < 0 or (values[1] is not None and values[1] < values[0]):
        raise argparse.ArgumentTypeError(f"expected 0 <= LO <= HI, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=CATALOG_SCALE.models, metavar="N")
    parser.add_argument(
        "--probes",
        type=int,
        default=CATALOG_SCALE.probes,
        metavar="P",
        help=f"probes per model, 1 to {len(BENCH_PROBES)}",
    )
    parser.add_argument("--rpm", type=float, default=CATALOG_SCALE.rpm, metavar="R", help="requests/min per model")
    parser.add_argument(
        "--latency-ms",
        type=_latency,
        default=(CATALOG_SCALE.latency_ms, CATALOG_SCALE.latency_max_ms),
        metavar="L|LO-HI",
        help="each answer's latency, or a range drawn from uniformly per request (default: 1000-5000)",
    )
    parser.add_argument("--seed", type=int, default=CATALOG_SCALE.seed, help="seed of the latency draws")
    parser.add_argument("--max-in-flight", type=int, default=None, metavar="N", help="cells of a model at once")
    parser.add_argument(
        "--burst",
        type=int,
        default=CATALOG_SCALE.burst,
        metavar="B",
        help="requests a model may send at once, on both sides",
    )
    parser.add_argument("--unpaced", action="store_true", help="no client pacing: only 429s and retries hold it back")
    parser.add_argument("--out", type=Path, default=None, help="keep the run's results and matrix here")
    args = parser.parse_args(argv)
    low, high = args.latency_ms
    scenario = Scenario(args.models, args.probes, args.rpm, low, args.burst, high, args.seed, args.max_in_flight)
    try:
        outcome = bench(scenario, paced=not args.unpaced, out=args.out)
    except ValueError as exc:
        print(f"conformance.bench: {exc}", file=sys.stderr)
        return 2
    print(report(outcome))
    return 0 if met(outcome) else 1


if __name__ == "__main__":
    sys.exit(main())
