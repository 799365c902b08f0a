"""Bounds a hostile endpoint, catalog or file cannot move: waits it announces, catalogs it lists, URLs it
redirects to, text it escapes, files it leaves behind. Each ends as an ERROR or FAIL cell or one line,
never a hang, a crash or unbounded memory.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance import cli
from conformance.evidence import Finding, Level
from conformance.plan import Plan, replay_plans
from conformance.preflight import preflight
from conformance.probes import BY_ID
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import EVIDENCE_BODY, MAX_MESSAGE, MAX_SAME_RULE, Target, bounded_findings
from conformance.schedule import Deadline, Pacing
from conformance.session import Session
from conformance.transports import RecordMode
from conformance.transports.pacing import PacedTransport, RetryPolicy, TokenBucket, server_wait, within_budget
from tests.exchanges import RESULT_LINE, exchange
from tests.faults.server import FaultServer, gzip_bomb

JSON, STREAM, STATE = BY_ID["core.text_input"], BY_ID["streaming.text"], BY_ID["state.store_then_get"]
REQUEST = httpx.Request("POST", "http://peer.test/v1/responses", content=b"{}")


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


# -- waits a server announces ------------------------------------------------------------------------------


def _announcing(limit: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, headers={"x-ratelimit-limit-minute": limit}))


@pytest.mark.parametrize("limit", ["0.0001", "1e-300", "5e-324", "-1", "nan", "1e999"])
def test_an_announced_limit_never_stretches_a_wait_past_the_policys_longest(limit: str) -> None:
    now, sleeps = [0.0], list[float]()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(600, clock=lambda: now[0])
    transport = PacedTransport(_announcing(limit), bucket, RetryPolicy(max_wait_s=2.0), sleep=sleep)
    for _ in range(4):
        transport.handle_request(REQUEST)
    assert bucket.interval <= 2.0 + bucket.slack_s
    assert max(sleeps, default=0.0) <= 2.0


def test_a_booked_slot_is_waited_in_full_however_slow_the_announced_limit() -> None:
    """The interval is what an announcement may not stretch past max_wait_s; a slot the bucket booked is
    kept, since a request sent before it would only draw a 429."""
    sleeps: list[float] = []
    bucket = TokenBucket(1)  # one request a minute
    for _ in range(10):
        bucket.reserve()  # ten cells booked ahead: the next slot is some nine minutes away
    transport = PacedTransport(_announcing("0.0001"), bucket, RetryPolicy(max_wait_s=3.0), sleep=sleeps.append)
    transport.handle_request(REQUEST)
    assert sum(sleeps) > 8 * 60
    assert bucket.interval <= 60.0 + bucket.slack_s, "the announced limit did not stretch the interval"


def test_no_pacing_wait_outlasts_the_runs_budget() -> None:
    sleeps: list[float] = []
    bucket = TokenBucket(1)
    bucket.reserve()
    transport = PacedTransport(_announcing("1"), bucket, RetryPolicy(), sleep=sleeps.append)
    with within_budget(lambda: 0.25):
        transport.handle_request(REQUEST)
    assert sleeps and max(sleeps) <= 0.25


@pytest.mark.parametrize("value", ["9" * 400 + "h", "1e300", "9999999999999999999999999h" * 20])
def test_a_reset_duration_too_large_for_a_float_is_no_hint(value: str) -> None:
    wait = server_wait(httpx.Headers({"x-ratelimit-reset-requests": value}))
    assert wait is None or wait[0] < float("inf")


def _run_in_thread(session: Session, plan: Plan, within_s: float) -> None:
    done = threading.Event()
    thread = threading.Thread(target=lambda: (session.run([plan]), done.set()), daemon=True)
    thread.start()
    assert done.wait(within_s), f"the run did not end within {within_s}s"


@pytest.mark.parametrize("fault", ["limit_tiny", "limit_epsilon"])
def test_a_paced_run_against_a_tiny_announced_limit_finishes(server: FaultServer, tmp_path: Path, fault: str) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    model = f"fault:{fault}"
    pacing = Pacing({model: 600.0}, RetryPolicy(max_wait_s=0.5), max_in_flight=1)
    plan = Plan(target, (model,), (JSON, STREAM, STATE), None, tmp_path / "c", pacing=pacing)
    _run_in_thread(Session(tmp_path / "out"), plan, within_s=30)
    records = list(read_results(tmp_path / "out" / RESULTS_FILE))
    assert {r.status for r in records} == {"PASS"}, [r.findings for r in records]


def test_the_budget_ends_a_cells_wait_for_a_slow_window(server: FaultServer, tmp_path: Path) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    pacing = Pacing({"fault:limit_tiny": 600.0}, RetryPolicy(max_wait_s=3600.0), max_in_flight=2)
    plan = Plan(target, ("fault:limit_tiny",), (JSON, STREAM, STATE), None, tmp_path / "c", pacing=pacing)
    _run_in_thread(Session(tmp_path / "out", budget=Deadline(2.0)), plan, within_s=20)
    assert len(list(read_results(tmp_path / "out" / RESULTS_FILE))) == 3


# -- server JSON is read through safejson, wherever it is read -----------------------------------------------


def test_a_refused_key_with_a_deep_error_object_is_one_line(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = preflight(Target("faults", server.base_url, timeout_s=10), "fault:deep_401", Pacing(), "")
    assert problem is not None and problem.message.startswith("the endpoint wants a key and none was given (401")
    argv = ["run", "--base-url", server.base_url, "--model", "fault:deep_401", "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--timeout", "10", "-q"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "401" in err and "internal error" not in err, err


def test_a_preflight_answered_by_a_compression_bomb_reads_a_bounded_head(server: FaultServer) -> None:
    """httpx's own decoders inflate each read whole (a 40 KB gzip read to 40 MB, a zstd one to gigabytes):
    the preflight, like every other reader, undoes codings with the bounded decoder."""
    gzip_bomb()  # built before tracing: the fault server builds it in this process
    tracemalloc.start()
    try:
        problem = preflight(Target("faults", server.base_url, timeout_s=10), "fault:gzip_bomb", Pacing(), "")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problem is None
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.0f} MiB at peak"


def test_deep_json_from_node_or_a_client_library_is_not_json_not_a_crash() -> None:
    from conformance.checks.clients import asked
    from conformance.node_column import _results

    deep = ("[" * 50_000 + "]" * 50_000).encode()
    assert asked("POST", "/v1/responses", deep).body is None
    assert "without results" in str(_results(deep.decode(), 1, 0, ""))


# -- answers httpx's client cannot take in -----------------------------------------------------------------


@pytest.mark.parametrize("fault", ["redirect_script", "redirect_idna"])
def test_an_unfollowable_location_is_a_transport_error_live_and_on_replay(
    server: FaultServer, tmp_path: Path, fault: str
) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, (f"fault:{fault}",), (JSON, STATE), RecordMode.ALL, tmp_path / "cassettes")
    Session(tmp_path / "live").run([plan])
    Session(tmp_path / "replay").run(replay_plans(tmp_path / "cassettes", probes=(JSON, STATE)))
    for run in ("live", "replay"):
        for record in read_results(tmp_path / run / RESULTS_FILE):
            finding = record.findings[0]
            assert record.status == "ERROR" and finding.rule == "harness.transport", (run, finding)
            assert "is not a URL a client can follow" in finding.message
            assert record.exchanges and "UnusableAnswer" in (record.exchanges[0].error or "")


def test_an_unfollowable_location_at_preflight_or_in_the_catalog_is_one_line(
    server: FaultServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--base-url", server.base_url, "--model", "fault:redirect_script", "--out", str(tmp_path / "o")]
    assert cli.main([*argv, "--timeout", "10", "-q"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a URL a client can follow" in err, err
    catalog = server.base_url.replace("/v1", "/catalog_redirect_script/v1")
    assert cli.main(["run", "--base-url", catalog, "--timeout", "10", "--out", str(tmp_path / "o2"), "-q"]) == 3
    err = capsys.readouterr().err
    assert "internal error" not in err and "is not a URL a client can follow" in err, err
    assert cli.main(["models", "--base-url", catalog, "--timeout", "10"]) == 1
    assert "internal error" not in capsys.readouterr().err


def test_a_replayed_answer_with_an_unfollowable_location_is_checked_as_a_live_one() -> None:
    """A cassette recorded before answers were checked, or written by hand, still holds the raw 307."""
    from conformance.transports import UnusableAnswer

    recorded = httpx.MockTransport(lambda request: httpx.Response(307, headers={"location": "mailto:x"}))
    with pytest.raises(UnusableAnswer, match="Location 'mailto:x'"):
        PacedTransport(recorded, None, RetryPolicy()).handle_request(REQUEST)


# -- catalogs of any size ------------------------------------------------------------------------------------


def test_lookups_in_a_large_catalog_do_not_scan_it() -> None:
    import time

    from conformance.catalog.model import Catalog, ModelEntry

    catalog = Catalog("p", tuple(ModelEntry(f"m{i}") for i in range(50_000)))
    started = time.perf_counter()
    assert all(catalog.get(f"m{i}") is not None for i in range(0, 50_000, 5))
    assert catalog.get("absent") is None
    assert time.perf_counter() - started < 2.0


def test_many_groups_start_a_bounded_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.schedule as schedule

    monkeypatch.setattr(schedule, "MAX_CELLS_AT_ONCE", 6)
    running, peak, lock = [0], [0], threading.Lock()

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return item

    emitted: list[int] = []
    groups = [(schedule.InFlight(str(i), 4), [i * 10 + k for k in range(3)]) for i in range(200)]
    schedule.run_groups(groups, None, work, emitted.append)
    assert sorted(emitted) == sorted(item for _, items in groups for item in items)
    assert peak[0] == 6


def test_a_flooding_catalog_is_cut_with_one_warning_and_the_run_finishes(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import conformance.catalog.fetch as fetch

    monkeypatch.setattr(fetch, "MAX_CATALOG_MODELS", 300)
    base = server.base_url.replace("/v1", "/catalog_flood/v1")
    assert cli.main(["models", "--base-url", base, "--timeout", "30", "--json"]) == 0
    printed = capsys.readouterr()
    assert "50000 models listed, more than 300" in printed.out + printed.err
    argv = ["run", "--base-url", base, "--timeout", "10", "--probe", JSON.id, "--budget", "5"]
    assert cli.main([*argv, "--out", str(tmp_path / "o"), "-q"]) == 0
    assert "internal error" not in capsys.readouterr().err
    assert len(list(read_results(tmp_path / "o" / RESULTS_FILE))) == 300


# -- local files are read within bounds ----------------------------------------------------------------------


def test_an_oversized_cassette_is_refused_unread(tmp_path: Path) -> None:
    import resource

    from conformance.runner import MAX_BODY_BYTES
    from conformance.transports.cassette import MAX_CASSETTE_BYTES, CassetteError, load_cassette

    assert MAX_CASSETTE_BYTES >= 16 * MAX_BODY_BYTES, "a cassette holds a few answers read up to the runner's cap"
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(1024 * 1024 * 1024)  # sparse: a gigabyte on paper, nothing on disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CassetteError, match="more than such a file holds"):
        load_cassette(huge)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 64 * 1024 * 1024


def test_a_stream_line_over_the_cap_is_recorded_and_replays_as_it_ran(server: FaultServer, tmp_path: Path) -> None:
    target = Target("faults", server.base_url, timeout_s=10)
    plan = Plan(target, ("fault:sse_huge_line",), (STREAM,), RecordMode.ALL, tmp_path / "c")
    Session(tmp_path / "live").run([plan])
    Session(tmp_path / "replay").run(replay_plans(tmp_path / "c", probes=(STREAM,)))
    live, replayed = (next(read_results(tmp_path / run / RESULTS_FILE)) for run in ("live", "replay"))
    assert live.status == replayed.status == "ERROR"
    assert live.findings[0] == replayed.findings[0]
    assert live.findings[0].rule == "harness.transport", live.findings[0]


# -- results written by someone else -----------------------------------------------------------------------


def test_a_results_line_past_the_writers_bounds_is_cut_as_read(tmp_path: Path) -> None:
    """A hand-edited line with a 10 MB finding and 5,000 of one rule was copied into every page (75 MB out)."""
    huge = {"rule": "core.status", "level": "MUST", "message": "k" * 10_000_000}
    flood = [{"rule": "stream.grammar", "level": "MUST", "message": f"event {n}"} for n in range(5000)]
    body = exchange(body="b" * (3 * EVIDENCE_BODY)).to_json()
    written = bounded_findings([Finding("stream.order", Level.MUST, f"m{n}") for n in range(40)], [])
    honest = [{"rule": f.rule, "level": f.level.value, "message": f.message} for f in written]
    lines = [
        {**RESULT_LINE, "status": "FAIL", "findings": [huge, *flood], "exchanges": [body]},
        {**RESULT_LINE, "probe": "streaming.text", "feature": "streaming", "status": "FAIL", "findings": honest},
    ]
    (tmp_path / RESULTS_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    cut, kept = (record.written() for record in read_results(tmp_path / RESULTS_FILE))
    assert kept == lines[1], "a line the suite wrote comes back unchanged"
    assert len(cut["findings"]) == 1 + MAX_SAME_RULE + 1
    assert cut["findings"][0]["message"].endswith(f"({10_000_000 - MAX_MESSAGE} more characters)")
    assert cut["findings"][-1]["message"] == f"and {5000 - MAX_SAME_RULE} more stream.grammar findings"
    assert len(cut["exchanges"][0]["body"]) == EVIDENCE_BODY
    assert cut["exchanges"][0]["body_omitted_chars"] == 2 * EVIDENCE_BODY
    assert [r.written() for r in read_results(tmp_path / RESULTS_FILE)] == [cut, kept], "reading again cuts nothing"

    assert cli.main(["report", str(tmp_path)]) == 0
    written_out = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file() and p.name != RESULTS_FILE)
    assert written_out < 15_000_000, f"{written_out} bytes written for a report of two cells"
