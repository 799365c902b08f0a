"""Hostile and broken endpoints: every fault class gets a verdict that names it, in bounded time.

Each fault of tests/faults/server.py runs through the real `run_cell`, over a real socket, with the
probe that meets it (a JSON probe for body faults, a streaming probe for stream faults). The cells
run in parallel threads so the file stays fast; each has its own connection to the fault server.

EXPECTED holds the right verdict for every fault class, with the rule that must name it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.evidence import Status
from conformance.fastschema import MAX_FAILING
from conformance.plan import Plan
from conformance.probes import BY_ID
from conformance.results import RESULTS_FILE
from conformance.runner import JUDGE_BUDGET_S, MAX_BODY_BYTES, MAX_EVENTS, WALL_FACTOR, CellResult, Target, run_cell
from conformance.safejson import MAX_DEPTH
from conformance.session import Session
from conformance.sse import DEFAULT_MAX_LINE
from conformance.transports.deadline import live_transport
from tests.faults.server import FAULTS, HOLD_S, ITEMS_FLOOD, FaultServer

JSON, STREAM, STATE = "core.text_input", "streaming.text", "state.store_then_get"
ERROR, FAIL, PASS, NON_STRICT = Status.ERROR, Status.FAIL, Status.PASS, Status.NON_STRICT
TRANSPORT = "harness.transport"

# fault -> (probe, status, rule that must be among the findings, fragment of that finding's message)
EXPECTED: dict[str, tuple[str, Status, str | None, str]] = {
    # answers that are fine, however odd
    "normal": (JSON, PASS, None, ""),
    "slow": (JSON, PASS, None, ""),
    "script_text": (JSON, PASS, None, ""),
    "line_separators": (JSON, PASS, None, ""),
    "surrogate_text": (JSON, PASS, None, ""),
    "surrogate_error": (JSON, Status.UNSUPPORTED, "http.rejection", "bad \\ud800 thing"),
    "sse_cr_only": (STREAM, PASS, None, ""),
    "sse_crlf": (STREAM, PASS, None, ""),
    "sse_split_bytes": (STREAM, PASS, None, ""),
    "echo_key_headers": (JSON, PASS, None, ""),
    "echo_key_body": (STREAM, PASS, None, ""),
    "echo_key_gzip": (JSON, PASS, None, ""),
    "echo_key_error": (JSON, ERROR, "harness.auth", "the key was refused"),
    "echo_key_redirect": (JSON, FAIL, "http.status_class", "got 302"),
    # broken JSON answers
    "empty_200": (JSON, FAIL, "core.json_body", "got ''"),
    "html_200": (JSON, FAIL, "core.json_body", "text/html"),
    "json_as_html": (JSON, FAIL, "core.json_body", "expected content-type application/json, got 'text/html'"),
    "html_502": (JSON, ERROR, "http.server_error_transient", "502 after 1 try(ies)"),
    "json_list": (JSON, FAIL, "core.json_body", "expected a JSON object"),
    "invalid_json": (JSON, FAIL, "core.json_body", "expected a JSON object"),
    "error_200": (JSON, FAIL, "response.schema", "response lacks required created_at, id, model"),
    "invalid_utf8_json": (JSON, FAIL, "http.utf8", "expected UTF-8, the body holds invalid bytes"),
    "json_as_sse": (JSON, FAIL, "core.json_body", "`stream` was not set"),
    "json_drip": (JSON, ERROR, TRANSPORT, "deadline of 3s passed"),
    "content_length_short": (JSON, FAIL, "core.json_body", "expected a JSON object"),
    "content_length_long": (JSON, ERROR, TRANSPORT, "peer closed connection"),
    "reset_mid_body": (JSON, ERROR, TRANSPORT, "ReadError"),
    "huge_body": (JSON, ERROR, TRANSPORT, f"body exceeds {MAX_BODY_BYTES} bytes"),
    "gzip_bomb": (JSON, ERROR, TRANSPORT, f"inflates past {MAX_BODY_BYTES} bytes"),
    "status_500": (JSON, ERROR, "http.server_error_transient", "500 after 1 try(ies)"),
    "status_503_empty": (
        JSON,
        ERROR,
        "http.server_error_transient",
        "503 after 1 try(ies) (503), not reproduced on every try: an empty body",
    ),
    "status_429": (JSON, ERROR, "harness.rate_limited", "retry-after: 7"),
    "redirect_loop": (JSON, FAIL, "http.status_class", "got 307"),
    "status_600": (JSON, FAIL, "http.status_class", "got 600"),
    "no_response": (JSON, ERROR, TRANSPORT, "Server disconnected"),
    "garbage_status_line": (JSON, ERROR, TRANSPORT, "illegal status line"),
    "silent": (JSON, ERROR, TRANSPORT, "ReadTimeout"),
    "header_drip": (JSON, ERROR, TRANSPORT, "deadline of 3s passed"),
    # broken event streams
    "sse_truncated": (STREAM, FAIL, "stream.terminal_last", "no terminal event"),
    "sse_chunked_cut": (STREAM, ERROR, TRANSPORT, "peer closed connection"),
    "sse_silent": (STREAM, ERROR, TRANSPORT, "ReadTimeout"),
    "sse_comments_forever": (STREAM, ERROR, TRANSPORT, "deadline of 3s passed"),
    "sse_drip": (STREAM, ERROR, TRANSPORT, "deadline of 3s passed"),
    "sse_invalid_json": (STREAM, FAIL, "stream.data_json", "expected a JSON object"),
    "sse_text_plain": (STREAM, FAIL, "stream.is_sse", "got 'text/plain'"),
    "sse_out_of_order": (STREAM, FAIL, "stream.grammar", "is not an open content part"),
    "sse_duplicate_seq": (STREAM, NON_STRICT, "stream.sequence_number_increasing", "expected sequence_number > 4"),
    "sse_missing_seq": (STREAM, NON_STRICT, "stream.event_schema", "lacks required sequence_number"),
    "sse_invalid_utf8": (STREAM, FAIL, "http.utf8", "the event stream holds invalid bytes"),
    "sse_completed_twice": (STREAM, FAIL, "stream.terminal_last", "expected one terminal event, got 2"),
    "sse_no_created": (STREAM, FAIL, "stream.created_first", "expected response.created first"),
    "sse_event_mismatch": (STREAM, NON_STRICT, "stream.event_matches_type", "got `event: message`"),
    "sse_error_nested": (
        STREAM,
        FAIL,
        "response.failed",
        "the server reported 'model inference failed: backend died'",
    ),
    "sse_huge_line": (STREAM, ERROR, TRANSPORT, f"exceeds {DEFAULT_MAX_LINE} characters"),
    "sse_flood": (STREAM, ERROR, TRANSPORT, f"exceeds {MAX_BODY_BYTES} bytes"),
    "sse_gzip": (STREAM, PASS, None, ""),
    "sse_reset": (STREAM, ERROR, TRANSPORT, "ReadError"),
    # hostile values, round two: each a finding, never an exception
    "sse_retry_huge": (STREAM, PASS, None, ""),
    "deep_json": (JSON, FAIL, "core.json_body", f"nested deeper than {MAX_DEPTH} levels"),
    "sse_deep_event": (STREAM, FAIL, "stream.data_json", "expected a JSON object with a `type`"),
    "deep_error": (JSON, Status.UNSUPPORTED, "error.object", 'expected a JSON body {"error": {"message": ...}}'),
    "nan_json": (JSON, FAIL, "core.json_body", "NaN is not a JSON value"),
    "huge_number": (JSON, FAIL, "core.json_body", "Exceeds the limit (4300 digits)"),
    "duplicate_keys": (JSON, Status.NON_STRICT, "json.unique_keys", "the body repeats ['status']"),
    "limit_tiny": (JSON, PASS, None, ""),
    "limit_epsilon": (JSON, PASS, None, ""),
    "deep_401": (JSON, ERROR, "harness.auth", "the key was refused"),
    "redirect_script": (JSON, ERROR, TRANSPORT, "Location 'javascript:alert(document.domain)' is not a URL"),
    "redirect_idna": (JSON, ERROR, TRANSPORT, "is not a URL a client can follow"),
    "id_surrogate": (STATE, FAIL, "http.unsafe_value", "holds '\\udfff', which a URL segment must not"),
    "id_traversal": (STATE, FAIL, "http.unsafe_value", "not sent: the id '../../../admin/x' holds a dot segment"),
    "id_newline": (STATE, FAIL, "http.unsafe_value", "holds '\\r', which a URL segment must not"),
    "id_query": (STATE, FAIL, "http.unsafe_value", "holds '?', which a URL segment must not"),
    "echo_key_split": (STREAM, PASS, None, ""),
    "echo_key_split_nested": (STREAM, PASS, None, ""),
    "echo_key_split_items": (JSON, PASS, None, ""),
    "echo_key_variants": (JSON, PASS, None, ""),
    "echo_key_gzip_members": (JSON, PASS, None, ""),
    "echo_key_gzip_stacked": (JSON, PASS, None, ""),
    "echo_key_brotli": (JSON, FAIL, "core.json_body", "expected a JSON object"),
    "echo_key_refused_long": (JSON, ERROR, "harness.auth", "the key was refused"),
    "echo_key_split_gzip": (STREAM, PASS, None, ""),
    "echo_key_split_stacked": (STREAM, PASS, None, ""),
    "echo_key_disguised": (JSON, PASS, None, ""),
    "header_non_ascii": (JSON, PASS, None, ""),
    "echo_key_hex": (JSON, PASS, None, ""),
    # round five: more codings than any proxy stacks are not undone, so the body is read as it came
    "codings_deep": (JSON, FAIL, "core.json_body", "expected a JSON object"),
    "sse_tiny_flood": (STREAM, ERROR, TRANSPORT, f"more than {MAX_EVENTS} events"),
    "findings_flood": (STREAM, FAIL, "stream.grammar", "(300 events, first #2)"),
    # many failing parts: judged within the budget, the first few explained and the rest counted
    "output_flood": (JSON, NON_STRICT, "response.schema", f"{ITEMS_FLOOD - MAX_FAILING} more items not read"),
    "parts_flood": (JSON, NON_STRICT, "response.schema", f"{ITEMS_FLOOD - MAX_FAILING} more items not read"),
    "sse_costly_events": (STREAM, ERROR, "harness.judge_time", "judging took more than 5s"),
}

# Faults that only end by the probe's deadline get a short one; the rest must end by themselves and
# get a generous one, so a slow CI machine (the cells share one GIL) cannot turn them into timeouts.
DEADLINE_BOUND = {"json_drip", "silent", "header_drip", "sse_silent", "sse_comments_forever", "sse_drip"}
SHORT_S, LONG_S, MARGIN_S = 3.0, 15.0, 3.0
# Faults that end by the judge's budget: read within the deadline, then judged for at most its wall time,
# which a loaded machine reaches before the judge's CPU budget (the heavy cells share one GIL).
JUDGE_BOUND = {"sse_costly_events"}

# Run last, together: they burn CPU (the cells share one GIL) or wait out the server, and must not
# push the deadline-bound cells past their margin.
HEAVY = (
    "sse_flood",
    "sse_huge_line",
    "gzip_bomb",
    "huge_body",
    "header_drip",
    "sse_tiny_flood",
    "findings_flood",
    "output_flood",
    "parts_flood",
    "sse_costly_events",
)
# Run first: the schema validators are built on first use behind functools.cache, which does not
# lock, so fifty threads starting cold would each build them.
WARM = ("normal", "sse_crlf")


def timeout_for(fault: str) -> float:
    return SHORT_S if fault in DEADLINE_BOUND else LONG_S


def bound_for(fault: str) -> float:
    """The time a fault's cell may take: its deadline, the judge's wall time where the judge ends it, a margin."""
    return timeout_for(fault) + (JUDGE_BUDGET_S * WALL_FACTOR if fault in JUDGE_BOUND else 0.0) + MARGIN_S


@dataclass(frozen=True)
class Outcome:
    result: CellResult | None
    elapsed_s: float
    raised: BaseException | None = None


def _run(base_url: str, fault: str) -> Outcome:
    probe = BY_ID[EXPECTED[fault][0]]
    target = Target("faults", base_url, api_key="sk-fault-test", timeout_s=timeout_for(fault))
    started = time.perf_counter()
    try:
        result = run_cell(probe, f"fault:{fault}", target, lambda p, m: live_transport())
    except Exception as exc:
        return Outcome(None, time.perf_counter() - started, exc)
    return Outcome(result, time.perf_counter() - started)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _run_batch(base_url: str, faults: Sequence[str]) -> dict[str, Outcome]:
    pool = ThreadPoolExecutor(max_workers=len(faults))
    futures = {fault: pool.submit(_run, base_url, fault) for fault in faults}
    wait(futures.values(), timeout=max(map(bound_for, faults)) + HOLD_S)
    pool.shutdown(wait=False, cancel_futures=True)
    hung = Outcome(None, float("inf"), TimeoutError("the cell never returned"))
    return {fault: future.result() if future.done() else hung for fault, future in futures.items()}


@pytest.fixture(scope="module")
def outcomes(server: FaultServer) -> dict[str, Outcome]:
    """Every fault's cell, in three batches of parallel threads (WARM, the rest, HEAVY)."""
    light = [f for f in EXPECTED if f not in WARM and f not in HEAVY]
    return {k: v for batch in (WARM, light, HEAVY) for k, v in _run_batch(server.base_url, batch).items()}


def test_every_fault_class_has_an_expected_verdict() -> None:
    assert set(EXPECTED) == set(FAULTS)
    assert DEADLINE_BOUND | JUDGE_BOUND | set(HEAVY) | set(WARM) <= set(EXPECTED)
    assert len(FAULTS) >= 30


def _describe(result: CellResult) -> str:
    return f"{result.status.value}: " + "; ".join(f"{f.rule}: {f.message[:160]}" for f in result.findings)


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_fault_gets_a_verdict_naming_it_in_bounded_time(fault: str, outcomes: dict[str, Outcome]) -> None:
    _, expected, rule, fragment = EXPECTED[fault]
    result, elapsed_s, raised = outcomes[fault].result, outcomes[fault].elapsed_s, outcomes[fault].raised
    assert raised is None, f"run_cell raised {raised!r}"
    assert result is not None
    # locals only in the asserts below: pytest would render a 40 MB body held by `result` otherwise
    described, status = _describe(result), result.status
    assert elapsed_s < bound_for(fault), f"took {elapsed_s:.1f}s"
    assert status is expected, described
    messages = [f.message for f in result.findings if rule is None or f.rule == rule]
    assert rule is None or messages, f"no {rule} finding; got {described}"
    assert any(fragment in m for m in messages) or not fragment, described


SESSION_FAULTS = (
    "normal",
    "script_text",
    "line_separators",
    "surrogate_text",
    "html_502",
    "empty_200",
    "json_list",
    "status_429",
    "reset_mid_body",
    "no_response",
    "garbage_status_line",
    "huge_body",
    "sse_invalid_json",
    "sse_truncated",
    "silent",
)


def test_a_session_runs_past_every_fault(server: FaultServer, tmp_path: Path) -> None:
    """One live run over many broken "models": one results line per cell, and a rendered matrix."""
    target = Target("faults", server.base_url, api_key="sk-fault-test", timeout_s=SHORT_S)
    models = tuple(f"fault:{f}" for f in SESSION_FAULTS)
    plan = Plan(target, models, (BY_ID[JSON], BY_ID[STREAM]), None, tmp_path / "cassettes")
    matrix = Session(tmp_path / "out").run([plan])

    lines = (tmp_path / "out" / RESULTS_FILE).read_bytes().splitlines()  # JSON lines end at "\n" alone
    records = [json.loads(line) for line in lines]
    assert sorted((r["model"], r["probe"]) for r in records) == sorted((m, p.id) for m, p in plan.cells())
    on_disk = json.loads((tmp_path / "out" / "matrix.json").read_text(encoding="utf-8"))
    derived = 4 * len(models)  # sdk.parses, sdk.streams, clients.node_parses, clients.node_streams per model
    assert len(on_disk["cells"]) == len(matrix.cells) == len(plan.cells()) + derived
    by_cell = {(c["model"], c["probe"]): c["status"] for c in on_disk["cells"]}
    assert by_cell[("fault:normal", JSON)] == by_cell[("fault:normal", STREAM)] == "PASS"
    assert by_cell[("fault:line_separators", JSON)] == by_cell[("fault:line_separators", STREAM)] == "PASS"
    assert by_cell[("fault:silent", JSON)] == by_cell[("fault:huge_body", JSON)] == "ERROR"
    assert json.loads((tmp_path / "out" / "run.json").read_text())["complete"] is True
    for report in ("matrix.html", "summary.md"):  # the model's markup is shown as text, never run
        text = (tmp_path / "out" / report).read_text(encoding="utf-8")
        assert "<script>alert(" not in text and "<img src=x" not in text, report
