"""`python -m conformance.bench`: how close a paced, concurrent run comes to what the rate limit allows.

It starts a rate-limited Responses endpoint on loopback (its own small stdlib server: a deterministic
JSON answer and a short event stream, a per-model limit answered with 429 and Retry-After, a latency
drawn per request from a seeded uniform range), runs the real Session over it, live and without
cassettes, and prints:

- wall time: `Session.run`, from its start to the rendered matrix, and when its last cell ended;
- the physical bound: the server admits at most b + R*t/60 requests of a model in any span of t
  seconds (a token bucket of burst b, rate R per minute), so a model needing N requests spends at
  least (N - b) * 60/R seconds between its first and last admission, and then its longest chain of
  dependent requests still has to be answered: L_chain (each bench probe is one request, so the
  slowest answer the model got). Models are independent: the bound is the largest over models of
  (N - b) * 60/R + L_chain. N counts admitted requests, not 429s;
- their ratio; requests per cell (every HTTP request the server saw, 429s included, over cells);
  how many 429s the server answered, and how many cells a 429 decided (lost to the limit).

The server checks nothing and counts everything; it stops when the bench ends, and by itself after
a lifetime long enough for any sane scenario.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from openai.types.responses import Response

from conformance.plan import Plan
from conformance.probes import BY_ID
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
TEXT = "Hello! How can I help you today?"
EVENT_GAP_S = 0.001  # between stream events, so they arrive as a live stream's do, not all at once
MAX_BODY = 4 * 1024 * 1024
LIFETIME_FLOOR_S = 120.0  # the server's lifetime: four times the lower bound, and at least this
TARGET_RATIO, TARGET_REQUESTS_PER_CELL = 1.25, 1.05


@dataclass(frozen=True)
class Scenario:
    """A small, fixed-latency scenario by default (tests build on it); the command's default is CATALOG_SCALE."""

    models: int = 6
    probes: int = 12
    rpm: float = 60.0
    latency_ms: float = 20.0
    burst: int = 1
    latency_max_ms: float | None = None  # None: every answer takes latency_ms
    seed: int = 0
    max_in_flight: int | None = None  # None: the scheduler's default for the rate

    @property
    def interval_s(self) -> float:
        return 60.0 / self.rpm

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000

    @property
    def latency_max_s(self) -> float:
        return max(self.latency_s, (self.latency_max_ms or self.latency_ms) / 1000)

    def bound_s(self, requests: int, chain_s: float) -> float:
        """The shortest time one model's `requests` can take: see the module's docstring."""
        return max(0, requests - self.burst) * self.interval_s + chain_s


# The target: 40 models at OVHcloud's 400 requests/min, burst 10, answers of 1 to 5 s.
CATALOG_SCALE = Scenario(models=40, probes=19, rpm=400.0, latency_ms=1000.0, burst=10, latency_max_ms=5000.0)


class Latencies:
    """Each request's latency, uniform in the scenario's range, from one seeded generator per model."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._random: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def draw(self, model: str) -> float:
        s = self.scenario
        with self._lock:
            rng = self._random.setdefault(model, random.Random(f"{s.seed}:{model}"))
            return rng.uniform(s.latency_s, s.latency_max_s)


class Limiter:
    """The server's side of the rate limit: GCRA per model, burst b, one request per 60/R s after it."""

    def __init__(self, rpm: float, burst: int) -> None:
        self.interval = 60.0 / rpm
        self.tolerance = (burst - 1) * self.interval
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, model: str) -> float:
        """0 when admitted (the request counts), else the seconds until it would be."""
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(model, now), now)
            wait = tat - self.tolerance - now
            if wait > 0:
                return wait
            self._tat[model] = tat + self.interval
            return 0.0

    def window(self, model: str) -> tuple[int, float]:
        """Requests the model may send now, and the seconds until its next one is admitted."""
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(model, now), now)
            spare = (now + self.tolerance + self.interval - tat) / self.interval
            return max(0, math.floor(spare + 1e-9)), max(0.0, tat - self.tolerance - now)


class Endpoint(ThreadingHTTPServer):
    """A rate-limited loopback Responses endpoint; it counts what it answered."""

    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: every model's cells connect at once

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = scenario
        self.limiter = Limiter(scenario.rpm, scenario.burst)
        self.latencies = Latencies(scenario)
        self.statuses: Counter[int] = Counter()
        self.admitted: Counter[str] = Counter()
        self.chain_s: dict[str, float] = {}  # per model, the slowest answer: every bench probe is one request
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, model: str, status: int, latency_s: float = 0.0) -> None:
        with self._lock:
            self.in_flight -= 1
            self.statuses[status] += 1
            if status == 200:
                self.admitted[model] += 1
                self.chain_s[model] = max(self.chain_s.get(model, 0.0), latency_s)


@contextmanager
def serving(scenario: Scenario, lifetime_s: float) -> Iterator[Endpoint]:
    """The endpoint, serving on a thread; shut down on exit, or after `lifetime_s` whatever happens."""
    server = Endpoint(scenario)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    timer = threading.Timer(lifetime_s, server.shutdown)
    timer.daemon = True
    thread.start()
    timer.start()
    try:
        yield server
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5.0)


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the bench prints its own summary."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(min(length, MAX_BODY)) or b"{}")
        model = str(body.get("model", ""))
        self.server.started()
        status, latency = 200, 0.0
        try:
            wait = self.server.limiter.admit(model)
            if wait > 0:
                status = 429
                self._rejected(model, wait)
                return
            latency = self.server.latencies.draw(model)
            time.sleep(latency)
            if body.get("stream") is True:
                self._stream(model, body)
            else:
                self._send(200, json.dumps(response(model, body)).encode(), self._limits(model))
        finally:
            self.server.finished(model, status, latency)

    def _limits(self, model: str) -> list[tuple[str, str]]:
        """OpenAI's request-window headers, measured when the answer leaves."""
        remaining, reset = self.server.limiter.window(model)
        return [
            ("x-ratelimit-limit-requests", f"{self.server.scenario.rpm:g}"),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-reset-requests", f"{math.ceil(reset * 1000)}ms"),
        ]

    def _rejected(self, model: str, wait: float) -> None:
        error = {"error": {"message": "rate limit reached", "type": "rate_limit_error", "param": None, "code": None}}
        headers = [("Retry-After", str(math.ceil(wait))), *self._limits(model)]
        self._send(429, json.dumps(error).encode(), headers)

    def _send(self, status: int, payload: bytes, headers: Sequence[tuple[str, str]]) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, model: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in self._limits(model):
            self.send_header(name, value)
        self.end_headers()
        for event in stream_events(model, body):
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            time.sleep(EVENT_GAP_S)


def response(model: str, request: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    """A Response with every field the SDK lists, echoing the request's settings."""
    done = status == "completed"
    message = {
        "id": "msg_bench", "type": "message", "role": "assistant", "status": "completed", "phase": None,
        "content": [{"type": "output_text", "text": TEXT, "annotations": [], "logprobs": []}],
    }  # fmt: skip
    usage = {
        "input_tokens": 5, "output_tokens": 9, "total_tokens": 14,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }  # fmt: skip
    body: dict[str, Any] = dict.fromkeys(Response.model_fields)
    body.update({k: v for k, v in request.items() if k in Response.model_fields and k not in ("input", "stream")})
    body.update(
        id="resp_bench", object="response", created_at=1700000000, model=model, status=status,
        output=[message] if done else [], parallel_tool_calls=True, tool_choice="auto", tools=[],
        metadata=request.get("metadata") or {}, usage=usage if done else None,
    )  # fmt: skip
    return body


def stream_events(model: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """A well-formed text stream, numbered from 0."""
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    ids = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    final = response(model, request)
    words = [w + " " for w in TEXT.split(" ")[:-1]] + TEXT.split(" ")[-1:]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response(model, request, "in_progress")},
        {"type": "response.in_progress", "response": response(model, request, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **ids, "part": part},
        *({"type": "response.output_text.delta", **ids, "delta": w, "logprobs": []} for w in words),
        {"type": "response.output_text.done", **ids, "text": TEXT, "logprobs": []},
        {"type": "response.content_part.done", **ids, "part": {**part, "text": TEXT}},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": "response.completed", "response": final},
    ]
    return [{**e, "sequence_number": i} for i, e in enumerate(events)]


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
        last_cell = [0.0]

        def cell_done(_: object) -> None:
            last_cell[0] = time.perf_counter()

        started = time.perf_counter()
        Session(results, {"mode": "bench"}, on_cell=cell_done).run([plan])
        wall = time.perf_counter() - started
        cells = list(read_results(results / RESULTS_FILE))  # the cells run, not the matrix's derived ones
        lost = sum(1 for c in cells for e in c["exchanges"][-1:] if e.get("status") == 429)
        return Outcome(
            scenario, paced, wall, last_cell[0] - started, len(cells), Counter(c["status"] for c in cells),
            sum(server.statuses.values()), server.statuses[429], lost, dict(server.admitted),
            dict(server.chain_s), server.max_in_flight,
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
    rows = [
        ("scenario", f"{s.models} models x {s.probes} probes; {limit}; {latency} latency; {mode}"),
        ("", f"max in flight per model: {in_flight}; latency seed {s.seed}"),
        ("cells", f"{o.cells} ({statuses}); {o.max_in_flight} requests in flight at most"),
        ("wall time", f"{o.wall_s:.2f} s   (Session.run, from its start to the rendered matrix)"),
        ("last cell", f"{o.cells_s:.2f} s   (from the start to the last cell's end)"),
        ("physical bound", f"{o.bound_s:.2f} s   = max over models of (N - b) * 60/R + L_chain"),
        ("", f"= {bound}; N admitted requests, L_chain its slowest answer"),
        ("ratio", f"{o.wall_s / o.bound_s:.3f}    (wall time; target <= {TARGET_RATIO})"),
        ("requests per cell", f"{o.requests / o.cells:.3f}    ({requests}; target <= {TARGET_REQUESTS_PER_CELL})"),
        ("429s answered", f"{o.rejected}; cells lost to a 429: {o.lost} (target 0)"),
    ]  # fmt: skip
    return "\n".join(f"{name:18} {value}" for name, value in rows)


def met(o: Outcome) -> bool:
    """The targets: the ratio, the requests per cell, and no cell lost to a 429."""
    return o.wall_s / o.bound_s <= TARGET_RATIO and o.requests / o.cells <= TARGET_REQUESTS_PER_CELL and o.lost == 0


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
