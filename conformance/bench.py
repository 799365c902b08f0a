"""`python -m conformance.bench`: how close a paced, parallel run comes to what the rate limit allows.

It starts a rate-limited Responses endpoint on loopback (its own small stdlib server: a deterministic
JSON answer and a short event stream, a per-model limit answered with 429 and Retry-After, a fixed
latency), runs the real Session over it, live and without cassettes, one thread per model, and prints:

- wall time: `Session.run`, from its start to the rendered matrix;
- the lower bound: the server admits at most b + R*t/60 requests of a model in any span of t seconds
  (a token bucket of burst b, rate R per minute), so a model needing N requests spends at least
  (N - b) * 60/R seconds between its first and last admission, plus the latency L of the last answer;
  its cells run one after another, so it also needs N * L. Models run in parallel: the bound is the
  largest over models of max((N - b) * 60/R + L, N * L). N counts admitted requests, not 429s;
- their ratio; requests per cell (every HTTP request the server saw, 429s included, over cells);
- how many 429s the server answered.

The server checks nothing and counts everything; it stops when the bench ends, and by itself after
a lifetime long enough for any sane scenario.
"""

from __future__ import annotations

import argparse
import json
import math
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

from conformance.probes import BY_ID
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import Target
from conformance.schedule import Pacing
from conformance.session import Plan, Session
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


@dataclass(frozen=True)
class Scenario:
    models: int = 6
    probes: int = 12
    rpm: float = 60.0
    latency_ms: float = 20.0
    burst: int = 1

    @property
    def interval_s(self) -> float:
        return 60.0 / self.rpm

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000

    def bound_s(self, requests: int) -> float:
        """The shortest time one model's `requests` can take: see the module's docstring."""
        return max(max(0, requests - self.burst) * self.interval_s + self.latency_s, requests * self.latency_s)


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

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = scenario
        self.limiter = Limiter(scenario.rpm, scenario.burst)
        self.statuses: Counter[int] = Counter()
        self.admitted: Counter[str] = Counter()
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, model: str, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.statuses[status] += 1
            if status == 200:
                self.admitted[model] += 1


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
        status = 200
        try:
            wait = self.server.limiter.admit(model)
            if wait > 0:
                status = 429
                self._rejected(model, wait)
                return
            time.sleep(self.server.scenario.latency_s)
            if body.get("stream") is True:
                self._stream(model, body)
            else:
                self._send(200, json.dumps(response(model, body)).encode(), self._limits(model))
        finally:
            self.server.finished(model, status)

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
    cells: int
    statuses: Counter[str]
    requests: int
    rejected: int
    admitted: dict[str, int]
    max_in_flight: int

    @property
    def bound_s(self) -> float:
        return max(self.scenario.bound_s(n) for n in self.admitted.values())


def bench(scenario: Scenario, paced: bool = True, out: Path | None = None) -> Outcome:
    """Run the real Session over a fresh endpoint and measure it."""
    if not 1 <= scenario.probes <= len(BENCH_PROBES):
        raise ValueError(f"--probes takes 1 to {len(BENCH_PROBES)}, got {scenario.probes}")
    models = tuple(f"bench-{i + 1}" for i in range(scenario.models))
    probes = tuple(BY_ID[p] for p in BENCH_PROBES[: scenario.probes])
    lifetime = max(LIFETIME_FLOOR_S, 4 * scenario.bound_s(scenario.probes))
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp, serving(scenario, lifetime) as server:
        target = Target("bench", server.base_url, semantic=False, timeout_s=max(30.0, lifetime / 2))
        rates = dict.fromkeys(models, scenario.rpm) if paced else {}
        pacing = Pacing(rates, buckets=Buckets(scenario.burst))
        plan = Plan(target, models, probes, None, Path(tmp) / "cassettes", pacing=pacing)
        started = time.perf_counter()
        results = out or Path(tmp) / "out"
        Session(results, {"mode": "bench"}, jobs=scenario.models).run([plan])
        wall = time.perf_counter() - started
        cells = list(read_results(results / RESULTS_FILE))  # the cells run, not the matrix's derived ones
        return Outcome(
            scenario, paced, wall, len(cells), Counter(c["status"] for c in cells),
            sum(server.statuses.values()), server.statuses[429], dict(server.admitted), server.max_in_flight,
        )  # fmt: skip


def report(o: Outcome) -> str:
    s, n = o.scenario, max(o.admitted.values())
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
    mode = "paced" if o.paced else "UNPACED (no client pacing)"
    bound = f"max({n - s.burst} * {s.interval_s:.3f} s + {s.latency_s:.3f} s, {n} * {s.latency_s:.3f} s)"
    limit = f"{s.rpm:g} requests/min per model, burst {s.burst}"
    requests = f"{o.requests} HTTP requests, 429s included, for {o.cells} cells"
    rows = [
        ("scenario", f"{s.models} models x {s.probes} probes; {limit}; {s.latency_ms:g} ms latency; {mode}"),
        ("cells", f"{o.cells} ({statuses}); {o.max_in_flight} requests in flight at most"),
        ("wall time", f"{o.wall_s:.2f} s   (Session.run, from its start to the rendered matrix)"),
        ("lower bound", f"{o.bound_s:.2f} s   = max over models of max((N - b) * 60/R + L, N * L)"),
        ("", f"= {bound}; N = {n} admitted requests per model"),
        ("ratio", f"{o.wall_s / o.bound_s:.3f}    (target <= 1.15)"),
        ("requests per cell", f"{o.requests / o.cells:.3f}    ({requests}; target <= 1.05)"),
        ("429s answered", str(o.rejected)),
    ]  # fmt: skip
    return "\n".join(f"{name:18} {value}" for name, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=Scenario.models, metavar="N")
    parser.add_argument(
        "--probes", type=int, default=Scenario.probes, metavar="P", help=f"probes per model, 1 to {len(BENCH_PROBES)}"
    )
    parser.add_argument("--rpm", type=float, default=Scenario.rpm, metavar="R", help="requests/min per model")
    parser.add_argument("--latency-ms", type=float, default=Scenario.latency_ms, metavar="L")
    parser.add_argument(
        "--burst",
        type=int,
        default=Scenario.burst,
        metavar="B",
        help="requests a model may send at once, on both sides",
    )
    parser.add_argument("--unpaced", action="store_true", help="no client pacing: only 429s and retries hold it back")
    parser.add_argument("--out", type=Path, default=None, help="keep the run's results and matrix here")
    args = parser.parse_args(argv)
    scenario = Scenario(args.models, args.probes, args.rpm, args.latency_ms, args.burst)
    try:
        print(report(bench(scenario, paced=not args.unpaced, out=args.out)))
    except ValueError as exc:
        print(f"conformance.bench: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
