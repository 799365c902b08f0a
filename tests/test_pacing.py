"""Pacing and retries: the token bucket's arithmetic, 429 / 5xx / connect retries recorded and replayed,
the run budget, and models run in parallel.

The far end is either httpx.MockTransport with hand-made answers (a test fixture; bodies are streams,
so the recording tee sees them as it would a socket's) or the benchmark's rate-limited loopback
endpoint (`conformance.bench.serving`), which answers over a real socket.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.bench import BENCH_PROBES as BENCH
from conformance.bench import Scenario, response, serving
from conformance.catalog.model import Catalog, ModelEntry
from conformance.evidence import Status
from conformance.matrix import matrix_json
from conformance.plan import Plan, replay_plans
from conformance.preflight import HEADER
from conformance.probes import BY_ID
from conformance.profiles import Profile
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import CellResult, Target, run_cell
from conformance.schedule import Deadline, InFlight, Pacing, model_rates, run_groups
from conformance.session import Session
from conformance.transports import CassetteTransport, RecordMode
from conformance.transports.cassette import load_cassette
from conformance.transports.pacing import Buckets, PacedTransport, RetryPolicy, TokenBucket, no_wait, server_wait

PROBE = BY_ID["core.text_input"]
TARGET = Target("p", "http://peer.test/v1", semantic=False, timeout_s=10)
Answer = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the token bucket -------------------------------------------------------------------------------


def test_a_bucket_lets_its_burst_through_then_spaces_requests_by_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, burst=2, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0, 0, 1, 2]
    clock.now = 10.0  # idle long enough to refill, but never above the burst
    assert bucket.tokens() == 2
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 1]
    clock.now = 11.5
    assert bucket.tokens() == pytest.approx(0.5)


def test_a_deferred_bucket_holds_the_next_request_until_the_window_reopens() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, clock=clock)
    bucket.defer(3.0)
    assert [bucket.reserve(), bucket.reserve()] == [3.0, 3.5]


def test_callers_sharing_a_bucket_get_distinct_slots() -> None:
    bucket = TokenBucket(60, clock=lambda: 0.0)
    waits: list[float] = []
    threads = [threading.Thread(target=lambda: waits.append(bucket.reserve())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(waits) == [float(i) for i in range(16)]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, (2.0, "retry-after: 2")),
        (
            {"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT", "date": "Wed, 21 Oct 2015 07:28:00 GMT"},
            (10.0, "retry-after: Wed, 21 Oct 2015 07:28:10 GMT"),
        ),
        ({"retry-after-ms": "1500", "retry-after": "9"}, (1.5, "retry-after-ms: 1500")),
        ({"x-ratelimit-reset-requests": "6m0s"}, (360.0, "x-ratelimit-reset-requests: 6m0s")),
        ({"x-ratelimit-reset-requests": "250ms"}, (0.25, "x-ratelimit-reset-requests: 250ms")),
        ({"ratelimit-reset": "7"}, (7.0, "ratelimit-reset: 7")),
        ({"x-ratelimit-reset-requests": "1s", "ratelimit-reset": "7"}, (1.0, "x-ratelimit-reset-requests: 1s")),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_the_wait_a_server_asks_for(headers: dict[str, str], expected: tuple[float, str] | None) -> None:
    assert server_wait(httpx.Headers(headers)) == expected


def test_rates_come_from_the_override_the_catalog_or_the_profile() -> None:
    profile = Profile(name="p", base_url="http://p.test/v1", rate_limit_per_min=400, rate_limit_anonymous_per_min=2)
    catalog = Catalog("p", (ModelEntry("listed", rate_limit_per_min=100, rate_limit_anonymous_per_min=1),))
    models = ("listed", "other")
    assert model_rates(profile, catalog, models, keyed=True) == {"listed": 100, "other": 400}
    assert model_rates(profile, catalog, models, keyed=False) == {"listed": 1, "other": 2}
    assert model_rates(profile, catalog, models, keyed=True, override=30) == {"listed": 30, "other": 30}
    assert model_rates(profile, None, models, keyed=True, override=0) == {}


# --- retries, recorded and replayed -----------------------------------------------------------------


def _answers(*answers: Answer) -> httpx.MockTransport:
    """The network: each request gets the next answer; the last one repeats."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        return (queue.pop(0) if len(queue) > 1 else queue[0])(request)

    return httpx.MockTransport(handle)


def _ok(request: httpx.Request) -> httpx.Response:
    body = json.dumps(response("m", json.loads(request.content))).encode()
    return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))


def _status(status: int, headers: dict[str, str] | None = None) -> Answer:
    error = json.dumps({"error": {"message": "try later", "type": "server_error", "param": None, "code": None}})

    def answer(request: httpx.Request) -> httpx.Response:
        head = {"content-type": "application/json", **(headers or {})}
        return httpx.Response(status, headers=head, stream=httpx.ByteStream(error.encode()))

    return answer


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _record(path: Path, network: httpx.BaseTransport, sleeps: list[float], policy: RetryPolicy) -> CellResult:
    def transport(probe: object, model: str) -> httpx.BaseTransport:
        cassette = CassetteTransport(path, RecordMode.ALL, network, provider="p", model=model, probe=PROBE.id)
        return PacedTransport(cassette, None, policy, sleep=sleeps.append)

    return run_cell(PROBE, "m", TARGET, transport)


def _replay(path: Path) -> tuple[CellResult, float]:
    """As a replay session builds it: the cassette alone, wrapped by the plan's pacing."""

    def transport(probe: object, model: str) -> httpx.BaseTransport:
        cassette = CassetteTransport(path, RecordMode.NONE, None, provider="p", model=model, probe=PROBE.id)
        paced = Pacing().wrap(cassette, "p", model)
        assert paced.sleep is no_wait and paced.bucket is None
        return paced

    started = time.perf_counter()
    return run_cell(PROBE, "m", TARGET, transport), time.perf_counter() - started


def _same_cell(a: CellResult, b: CellResult) -> None:
    assert (a.status, a.findings) == (b.status, b.findings)
    assert [e.to_json() for e in a.exchanges] == [e.to_json() for e in b.exchanges]


def test_a_429_is_waited_out_the_cell_passes_and_its_replay_is_identical_without_waiting(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_status(429, {"retry-after": "2"}), _ok), sleeps, RetryPolicy())
    assert live.status is Status.PASS, live.findings
    assert sleeps == [2.0]
    assert [i.status for i in load_cassette(path).interactions] == [429, 200]
    assert live.exchanges[0].to_json()["attempts"] == [{"status": 429, "wait_s": 2.0, "basis": "retry-after: 2"}]

    replayed, elapsed = _replay(path)
    _same_cell(replayed, live)
    assert elapsed < 1.0, "replay waited for the recorded Retry-After"


def test_an_answer_that_needed_no_retry_has_no_attempts_key(tmp_path: Path) -> None:
    live = _record(tmp_path / "c.json", _answers(_ok), [], RetryPolicy())
    assert live.status is Status.PASS and "attempts" not in live.exchanges[0].to_json()


def test_a_5xx_is_retried_within_the_budget_then_the_cell_is_error_with_every_attempt(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_status(503)), sleeps, RetryPolicy(retries=2, backoff_s=0.5))
    assert live.status is Status.ERROR
    assert sleeps == [0.5, 1.0]
    (exchange,) = live.exchanges
    assert exchange.status == 503
    described = [(a["status"], a["wait_s"], a["basis"]) for a in exchange.attempts]
    assert described == [(503, 0.5, "backoff"), (503, 1.0, "backoff")]
    assert [i.status for i in load_cassette(path).interactions] == [503, 503, 503]
    assert live.findings[0].rule == "http.server_error_transient", "503: the server calls it temporary"
    _same_cell(_replay(path)[0], live)


def test_a_500_on_every_try_is_a_reproducible_server_error_with_the_tries_as_evidence(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_status(500)), sleeps, RetryPolicy(retries=2, backoff_s=0.5))
    assert live.status is Status.FAIL
    assert live.findings[0].rule == "http.not_server_error"
    assert "500 on all 3 tries (500, 500, 500)" in live.findings[0].message
    _same_cell(_replay(path)[0], live)


def test_a_failed_connect_is_retried_and_replays_alike(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_refused, _ok), sleeps, RetryPolicy())
    assert live.status is Status.PASS and sleeps == [0.5]
    assert live.exchanges[0].attempts == (
        {"status": None, "error": "ConnectError: connection refused", "wait_s": 0.5, "basis": "backoff"},
    )
    _same_cell(_replay(path)[0], live)


def test_a_failed_connect_past_the_budget_keeps_its_attempts_and_replays_alike(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_refused), sleeps, RetryPolicy())
    assert live.status is Status.ERROR and sleeps == [0.5, 1.0]
    (exchange,) = live.exchanges
    assert exchange.error == "ConnectError: connection refused" and len(exchange.attempts) == 2
    _same_cell(_replay(path)[0], live)  # elapsed_ms included: the cassette times a failure with no answer


def test_a_server_asking_for_too_long_a_wait_gets_its_429_taken_as_the_answer(tmp_path: Path) -> None:
    path, sleeps = tmp_path / "c.json", []
    live = _record(path, _answers(_status(429, {"retry-after": "3600"}), _ok), sleeps, RetryPolicy())
    assert live.status is Status.ERROR and sleeps == []
    assert "harness.rate_limited" in {f.rule for f in live.findings}
    assert len(load_cassette(path).interactions) == 1


# --- sessions: parallel models, the budget, record and replay ------------------------------------------


def _plan(server_url: str, models: int, probes: int, tmp: Path, rpm: float | None, **kw: Any) -> Plan:
    """A burst of 2, as the endpoint's: its tolerance absorbs the few ms by which concurrent sends jitter."""
    names = tuple(f"bench-{i + 1}" for i in range(models))
    probe_ids = ("core.text_input", "streaming.text", "core.instructions")[:probes]
    rates = {} if rpm is None else dict.fromkeys(names, rpm)
    target = Target("bench", server_url, semantic=False, timeout_s=10)
    pacing = Pacing(rates, buckets=Buckets(2), max_in_flight=kw.get("in_flight"))
    return Plan(target, names, tuple(BY_ID[p] for p in probe_ids), kw.get("mode"), tmp / "cassettes", pacing=pacing)


def _records(out: Path) -> list[dict[str, Any]]:
    return [record.written() for record in read_results(out / RESULTS_FILE)]


def test_models_run_in_parallel_and_each_cell_writes_one_whole_line(tmp_path: Path) -> None:
    with serving(Scenario(models=4, rpm=600, latency_ms=100, burst=2), lifetime_s=60) as server:
        plan = _plan(server.base_url, 4, 3, tmp_path, rpm=600, in_flight=1)
        Session(tmp_path / "out", jobs=4).run([plan])
    records = _records(tmp_path / "out")
    assert sorted((r["model"], r["probe"]) for r in records) == sorted((m, p.id) for m, p in plan.cells())
    assert {r["status"] for r in records} <= {"PASS", "ACCEPTED"}
    assert server.max_in_flight >= 2, "the models never ran at the same time"
    assert server.statuses == {200: 12}, "pacing kept every request inside the limit"


def test_a_spent_budget_turns_the_remaining_cells_into_harness_errors(tmp_path: Path) -> None:
    clock = FakeClock()
    budget = Deadline(5.0, clock)

    def after_first_cell(result: CellResult) -> None:
        clock.now = 10.0

    with serving(Scenario(models=1), lifetime_s=60) as server:
        plan = _plan(server.base_url, 1, 3, tmp_path, rpm=None)
        Session(tmp_path / "out", on_cell=after_first_cell, jobs=1, budget=budget).run([plan])
    first, *rest = _records(tmp_path / "out")
    assert first["status"] == "PASS"
    assert [r["status"] for r in rest] == ["ERROR", "ERROR"]
    assert all(r["findings"][0]["rule"] == "harness.budget" and r["exchanges"] == [] for r in rest)
    assert "budget of 5s was spent" in rest[0]["findings"][0]["message"]
    assert sum(server.statuses.values()) == 1, "no request after the budget was spent"


def test_a_recorded_session_with_429s_replays_to_the_same_cells_without_waiting(tmp_path: Path) -> None:
    """Unpaced on purpose, so the server's limit answers 429 and the retries land in the cassettes.

    One request per 10 s: the second cell's request comes sooner, however busy the machine (the first
    cell builds the schema caches)."""
    with serving(Scenario(models=1, rpm=6, latency_ms=10), lifetime_s=60) as server:
        plan = _plan(server.base_url, 1, 2, tmp_path, rpm=None, mode=RecordMode.ALL)
        live = matrix_json(Session(tmp_path / "live").run([plan]))
    assert server.statuses[429] >= 1
    assert {c["status"] for c in live["cells"]} == {"PASS"}
    assert any(e.get("attempts") for r in _exchanges(tmp_path / "live").values() for e in r)

    started = time.perf_counter()
    replayed = matrix_json(Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=plan.probes)))
    assert time.perf_counter() - started < 1.0
    keys = ("model", "probe", "status", "findings", "latency")
    assert [{k: c[k] for k in keys} for c in replayed["cells"]] == [{k: c[k] for k in keys} for c in live["cells"]]
    assert _exchanges(tmp_path / "replay") == _exchanges(tmp_path / "live")


def _exchanges(out: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each cell's exchanges, from results.jsonl: the matrix keeps only their timings."""
    return {(r.model, r.probe): r.written()["exchanges"] for r in read_results(out / RESULTS_FILE)}


def test_a_lane_that_raises_stops_the_run_and_the_error_reaches_the_caller() -> None:
    emitted: list[int] = []

    def work(item: int) -> int:
        if item == 3:
            raise RuntimeError("lane broke")
        return item

    with pytest.raises(RuntimeError, match="lane broke"):
        run_groups([(InFlight("a", 1), [1, 2]), (InFlight("b", 1), [3, 4])], None, work, emitted.append)
    assert 4 not in emitted


def test_the_cli_runs_models_in_parallel_paced_and_within_a_budget(tmp_path: Path) -> None:
    from conformance.cli import main

    with serving(Scenario(rpm=600, latency_ms=50), lifetime_s=60) as server:
        argv = ["run", "--base-url", server.base_url, "--model", "a", "--model", "b", "--probe", "core.text_input",
                "--probe", "streaming.text", "--jobs", "2", "--rate-limit", "600", "--max-in-flight", "1",
                "--budget", "60", "-q", "--out", str(tmp_path / "out")]  # fmt: skip
        assert main(argv) == 0
    assert len(_records(tmp_path / "out")) == 4
    assert server.statuses == {200: 4 + 1}, "paced: no request was refused (the cells', and the preflight's)"


def test_an_interrupted_parallel_run_keeps_whole_lines_no_half_cassette_and_resumes(tmp_path: Path) -> None:
    """Ctrl-C while the slow model's stream is in flight and the other lanes are done; then the same command."""
    import signal
    import subprocess
    import sys
    from collections import Counter

    from conformance.paths import safe_name
    from conformance.transports.cassette import cassette_path
    from tests.faults.server import FaultServer

    models, probes = ("fault:normal", "fault:slow", "fault:normal#2"), ("core.text_input", "streaming.text")
    with FaultServer() as server:
        command = [
            sys.executable, "-m", "conformance.cli", "run", "--base-url", server.base_url,
            *(a for m in models for a in ("--model", m)), *(a for p in probes for a in ("--probe", p)),
            "--out", str(tmp_path / "out"), "--record-mode", "once", "--cassettes", str(tmp_path / "cassettes"), "-q",
        ]  # fmt: skip
        run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not any(r.model == "fault:slow" and r.stream for r in server.requests):
                assert run.poll() is None and time.monotonic() < deadline, "the slow stream was never requested"
                time.sleep(0.02)
            run.send_signal(signal.SIGINT)
            _, stderr = run.communicate(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode == 130 and b"Run the same command to resume" in stderr
        finished = {(r["model"], r["probe"] == "streaming.text") for r in _records(tmp_path / "out")}
        assert ("fault:slow", True) not in finished and ("fault:slow", False) in finished
        provider = safe_name(server.base_url.split("://")[1].split("/")[0])
        assert not cassette_path(tmp_path / "cassettes", provider, "fault:slow", "streaming.text").exists()

        resumed = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=60, check=False)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        requests = Counter((r.model, r.stream) for r in server.requests if r.model and HEADER not in r.headers)
    records = _records(tmp_path / "out")
    assert sorted((r["model"], r["probe"]) for r in records) == sorted((m, p) for m in models for p in probes)
    assert requests[("fault:slow", True)] == 2, "the interrupted cell ran again"
    assert all(requests[cell] == 1 for cell in finished), "a finished cell ran again"


# --- waits that are pacing, not the server's time; the gateway's headers; pushback ------------------


def test_a_wait_for_the_rate_limit_does_not_count_against_the_probes_deadline(tmp_path: Path) -> None:
    """A Retry-After of 3 s against a 1 s timeout is waited, and the retry's answer is the cell's."""
    path, sleeps = tmp_path / "c.json", []

    def transport(probe: object, model: str) -> httpx.BaseTransport:
        network = _answers(_status(429, {"retry-after": "3"}), _ok)
        cassette = CassetteTransport(path, RecordMode.ALL, network, provider="p", model=model, probe=PROBE.id)
        return PacedTransport(cassette, None, RetryPolicy(), sleep=lambda s: (sleeps.append(s), time.sleep(1.5)))

    live = run_cell(PROBE, "m", Target("p", "http://peer.test/v1", semantic=False, timeout_s=1.0), transport)
    assert sleeps == [3.0]
    assert live.status is Status.PASS, live.findings


def test_a_slow_bucket_does_not_turn_a_multi_request_probe_into_a_timeout() -> None:
    """Anonymous pacing: each of the probe's requests waits longer than its whole timeout for a slot."""
    probe = BY_ID["core.multi_turn"]
    bucket = TokenBucket(60 / 0.6)  # one request per 0.6 s, against a 0.5 s timeout
    bucket.reserve()  # the slot now is taken: every request waits

    def transport(p: object, model: str) -> httpx.BaseTransport:
        return PacedTransport(_answers(_ok), bucket, RetryPolicy())

    result = run_cell(probe, "m", Target("p", "http://peer.test/v1", semantic=False, timeout_s=0.5), transport)
    assert result.status is not Status.ERROR, result.findings
    assert all(e.error is None for e in result.exchanges)


@pytest.mark.parametrize(
    ("headers", "deferred"),
    [
        ({"x-ratelimit-remaining-minute": "0", "ratelimit-reset": "7"}, 7.0),
        ({"x-ratelimit-remaining-minute": "0"}, 60.0),
        ({"x-ratelimit-remaining-requests": "0", "ratelimit-reset": "4"}, 4.0),
        ({"x-ratelimit-remaining-minute": "3", "ratelimit-reset": "7"}, 0.0),
    ],
)
def test_the_gateways_minute_window_holds_the_bucket(headers: dict[str, str], deferred: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock)
    answer = _status(200, headers)
    PacedTransport(httpx.MockTransport(answer), bucket, RetryPolicy(), sleep=no_wait).handle_request(
        httpx.Request("POST", "http://peer.test/v1/responses", content=b"{}")
    )
    assert bucket.reserve() == pytest.approx(max(deferred, 0.1))


def test_a_lower_limit_announced_by_the_gateway_slows_the_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(400, clock=clock)
    transport = PacedTransport(
        httpx.MockTransport(_status(200, {"x-ratelimit-limit-minute": "60"})), bucket, sleep=no_wait
    )
    transport.handle_request(httpx.Request("POST", "http://peer.test/v1/responses", content=b"{}"))
    assert bucket.interval == pytest.approx(1.0)
    transport = PacedTransport(
        httpx.MockTransport(_status(200, {"x-ratelimit-limit-minute": "1000"})), bucket, sleep=no_wait
    )
    transport.handle_request(httpx.Request("POST", "http://peer.test/v1/responses", content=b"{}"))
    assert bucket.interval == pytest.approx(1.0), "a higher announced limit never speeds pacing up"


def test_pushback_halves_a_models_in_flight_limit_once_per_generation_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pacing = Pacing({"m": 400.0}, max_in_flight=8)
    limit = pacing.in_flight("p", "m")
    network = _answers(_status(429, {"retry-after": "0"}), _ok)
    first = pacing.wrap(network, "p", "m")
    second = pacing.wrap(network, "p", "m")  # started in the same generation as the first
    request = httpx.Request("POST", "http://peer.test/v1/responses", content=b"{}")
    with caplog.at_level("WARNING", logger="conformance.schedule"):
        first.handle_request(request)
        assert limit.limit == 4
        second.handle_request(request)
        assert limit.limit == 4, "a cell started before the halving does not halve it again"
        pacing.wrap(_answers(_status(503)), "p", "m").handle_request(request)
    assert limit.limit == 2
    assert "p m answered 429: its cells in flight halved from 8 to 4" in caplog.text
    assert "answered 503" in caplog.text


def test_default_in_flight_follows_the_rate() -> None:
    from conformance.schedule import MAX_IN_FLIGHT, default_in_flight

    assert default_in_flight(None) == 1
    assert default_in_flight(2) == 1
    assert default_in_flight(400) == 34
    assert default_in_flight(400, burst=50) == 50
    assert default_in_flight(100_000) == MAX_IN_FLIGHT


def test_a_models_cells_run_at_once_within_its_limit_and_its_one_bucket(tmp_path: Path) -> None:
    with serving(Scenario(models=1, rpm=1200, latency_ms=300, burst=3), lifetime_s=60) as server:
        pacing = Pacing({"bench-1": 1200}, buckets=Buckets(3), max_in_flight=4)
        target = _plan(server.base_url, 1, 3, tmp_path, rpm=1200).target
        plan = Plan(target, ("bench-1",), tuple(BY_ID[p] for p in BENCH[:6]), None, tmp_path / "c", pacing=pacing)
        started = time.perf_counter()
        Session(tmp_path / "out").run([plan])
        elapsed = time.perf_counter() - started
    assert server.max_in_flight == 4, "at most the model's limit at once"
    assert server.statuses == {200: 6}, "the shared bucket kept every request inside the limit"
    assert elapsed < 6 * 0.3, "the cells did not run one after another"


def test_groups_run_within_their_limits_and_all_groups_at_once() -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    lock = threading.Lock()

    def work(item: tuple[str, int]) -> tuple[str, int]:
        with lock:
            running[item[0]] += 1
            peak[item[0]] = max(peak[item[0]], running[item[0]])
        time.sleep(0.05)
        with lock:
            running[item[0]] -= 1
        return item

    emitted: list[tuple[str, int]] = []
    groups = [(InFlight("a", 3), [("a", i) for i in range(9)]), (InFlight("b", 1), [("b", i) for i in range(3)])]
    run_groups(groups, None, work, emitted.append)
    assert sorted(emitted) == sorted(item for _, items in groups for item in items)
    assert peak == {"a": 3, "b": 1}
