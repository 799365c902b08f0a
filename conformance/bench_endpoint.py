"""The bench's rate-limited Responses endpoint, served from a process of its own.

A stdlib server on loopback: a deterministic JSON answer and a short event stream, a per-model limit
answered with 429 and Retry-After, a latency drawn per request from a seeded uniform range and really
slept. It checks nothing and counts everything.

It runs in a child process (`serving`) so that the client under test has its interpreter, and its
core, to itself: sharing one process, the server's threads queued behind the client's for the GIL,
and a queue squeezes requests sent an interval apart into arrivals closer than that, which a strict
limit answers with 429s the client never earned. Only the standard library is imported here, so the
child starts in a fraction of a second. It stops when the parent says so or its stdin closes, and by
itself after `lifetime_s` whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEXT = "Hello! How can I help you today?"
# Between stream events: a model's token cadence (50/s), so they arrive as a live stream's do, and a
# busy client still reads them apart. An answer's duration, and so L_chain, counts these gaps.
EVENT_GAP_S = 0.02
MAX_BODY = 4 * 1024 * 1024
START_TIMEOUT_S = 30.0  # for the child to say which port it serves on
STOP_TIMEOUT_S = 10.0


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
        """The shortest time one model's `requests` can take: see `conformance.bench`."""
        return max(0, requests - self.burst) * self.interval_s + chain_s


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


@dataclass
class Tally:
    """What the endpoint answered: statuses, admitted requests and slowest answer per model, peak concurrency."""

    statuses: Counter[int] = field(default_factory=Counter)
    admitted: Counter[str] = field(default_factory=Counter)
    chain_s: dict[str, float] = field(default_factory=dict)  # per model, its slowest answer (latency and stream)
    max_in_flight: int = 0

    def to_json(self) -> dict[str, Any]:
        statuses = {str(k): v for k, v in self.statuses.items()}
        return {
            "statuses": statuses,
            "admitted": dict(self.admitted),
            "chain_s": self.chain_s,
            "max_in_flight": self.max_in_flight,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        statuses = Counter({int(k): v for k, v in data["statuses"].items()})
        return cls(statuses, Counter(data["admitted"]), dict(data["chain_s"]), data["max_in_flight"])


class Endpoint(ThreadingHTTPServer):
    """A rate-limited loopback Responses endpoint; it counts what it answered.

    `fields` are the Response model's field names, which every answer carries (the parent reads them
    from the SDK, so this process need not import it).
    """

    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: every model's cells connect at once

    def __init__(self, scenario: Scenario, fields: Sequence[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = scenario
        self.fields = tuple(fields)
        self.limiter = Limiter(scenario.rpm, scenario.burst)
        self.latencies = Latencies(scenario)
        self.tally = Tally()
        self.in_flight = 0
        self._lock = threading.Lock()

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.tally.max_in_flight = max(self.tally.max_in_flight, self.in_flight)

    def finished(self, model: str, status: int, latency_s: float = 0.0) -> None:
        with self._lock:
            self.in_flight -= 1
            self.tally.statuses[status] += 1
            if status == 200:
                self.tally.admitted[model] += 1
                self.tally.chain_s[model] = max(self.tally.chain_s.get(model, 0.0), latency_s)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.tally.to_json()


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
                latency += self._stream(model, body)
            else:
                self._send(200, json.dumps(response(model, body, self.server.fields)).encode(), self._limits(model))
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

    def _stream(self, model: str, body: dict[str, Any]) -> float:
        """Send the events one gap apart; the seconds the gaps took."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in self._limits(model):
            self.send_header(name, value)
        self.end_headers()
        events = stream_events(model, body, self.server.fields)
        for event in events:
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            time.sleep(EVENT_GAP_S)
        return len(events) * EVENT_GAP_S


def response(model: str, request: dict[str, Any], fields: Sequence[str], status: str = "completed") -> dict[str, Any]:
    """A Response with every field in `fields`, echoing the request's settings."""
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
    body: dict[str, Any] = dict.fromkeys(fields)
    body.update({k: v for k, v in request.items() if k in fields and k not in ("input", "stream")})
    body.update(
        id="resp_bench", object="response", created_at=1700000000, model=model, status=status,
        output=[message] if done else [], parallel_tool_calls=True, tool_choice="auto", tools=[],
        metadata=request.get("metadata") or {}, usage=usage if done else None,
    )  # fmt: skip
    return body


def stream_events(model: str, request: dict[str, Any], fields: Sequence[str]) -> list[dict[str, Any]]:
    """A well-formed text stream, numbered from 0."""
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    ids = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    final = response(model, request, fields)
    words = [w + " " for w in TEXT.split(" ")[:-1]] + TEXT.split(" ")[-1:]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response(model, request, fields, "in_progress")},
        {"type": "response.in_progress", "response": response(model, request, fields, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **ids, "part": part},
        *({"type": "response.output_text.delta", **ids, "delta": w, "logprobs": []} for w in words),
        {"type": "response.output_text.done", **ids, "text": TEXT, "logprobs": []},
        {"type": "response.content_part.done", **ids, "part": {**part, "text": TEXT}},
        {"type": "response.output_item.done", "output_index": 0, "item": final["output"][0]},
        {"type": "response.completed", "response": final},
    ]
    return [{**e, "sequence_number": i} for i, e in enumerate(events)]


class Served:
    """The parent's handle on the child's endpoint: its URL, and its tally (live, or as it was at the stop)."""

    def __init__(self, port: int, child: subprocess.Popen[str]) -> None:
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._child = child
        self._final: Tally | None = None
        self._lock = threading.Lock()

    def tally(self) -> Tally:
        with self._lock:
            return self._final or self._ask("tally")

    def stop(self) -> None:
        with self._lock:
            if self._final is None:
                self._final = self._ask("stop")

    def _ask(self, command: str) -> Tally:
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(command + "\n")
        self._child.stdin.flush()
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench endpoint exited (status {self._child.poll()}) before answering {command!r}")
        return Tally.from_json(json.loads(line))

    @property
    def statuses(self) -> Counter[int]:
        return self.tally().statuses

    @property
    def admitted(self) -> Counter[str]:
        return self.tally().admitted

    @property
    def chain_s(self) -> dict[str, float]:
        return self.tally().chain_s

    @property
    def max_in_flight(self) -> int:
        return self.tally().max_in_flight


@contextmanager
def serving(scenario: Scenario, lifetime_s: float, fields: Sequence[str]) -> Iterator[Served]:
    """The endpoint, serving from a child process; stopped on exit (its final tally kept), or after `lifetime_s`."""
    config = json.dumps({"scenario": asdict(scenario), "fields": list(fields), "lifetime_s": lifetime_s})
    child = subprocess.Popen(
        [sys.executable, "-m", "conformance.bench_endpoint", config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        served = Served(_port(child), child)
        yield served
        served.stop()
    finally:
        _end(child)


def _port(child: subprocess.Popen[str]) -> int:
    """The child's first line: the port it serves on."""
    assert child.stdout is not None
    ready = threading.Event()
    line: list[str] = []

    def read() -> None:
        line.append(child.stdout.readline() if child.stdout else "")
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or not line[0].strip().isdigit():
        raise RuntimeError(f"the bench endpoint did not start within {START_TIMEOUT_S:g}s")
    return int(line[0])


def _end(child: subprocess.Popen[str]) -> None:
    if child.stdin is not None:
        with contextlib.suppress(OSError):
            child.stdin.close()  # the child stops on end of input
    try:
        child.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def _serve(config: dict[str, Any]) -> None:
    """The child: serve, answer `tally` and `stop` read from stdin with a JSON line, until stop, end of input,
    or the lifetime."""
    server = Endpoint(Scenario(**config["scenario"]), config["fields"])
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    timer = threading.Timer(config["lifetime_s"], server.shutdown)
    timer.daemon = True
    timer.start()
    print(server.server_address[1], flush=True)
    try:
        for command in sys.stdin:
            print(json.dumps(server.snapshot()), flush=True)
            if command.strip() == "stop":
                break
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
