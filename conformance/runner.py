"""Run one cell: a probe's script against one model, through a transport, into a judged result.

This is the suite's core; the CLI and the pytest plugin are thin shells over `run_cell`. It never
raises for anything a server does: a broken server yields findings, never a crash, and every read is
bounded in time and size. What a cell keeps is bounded too (events, findings, evidence bytes), so
no answer can amplify into gigabytes of memory or files; and any unexpected error inside a cell is
that cell's ERROR (`harness.internal`), never the run's end.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import httpx

from conformance.checks import RULES, Tag, run_checks
from conformance.checks.core import route_of
from conformance.checks.http import CASSETTE, COMMON_CHECKS, key_accepted
from conformance.checks.robust import INTERNAL, JUDGE_TIME, NOTHING_SENT, UNSAFE_VALUE, unique_keys
from conformance.decoding import ACCEPT_ENCODING, MAX_BODY_BYTES, BoundedDecoder, DecodeError, DecodeLimit
from conformance.evidence import Exchange, Finding, Level, SSEEvent, Status
from conformance.openapi import stricter_problems
from conformance.probes import Expect, Probe, Request
from conformance.redact import guard, redact_headers, scrub, scrub_across, scrub_json_text
from conformance.schemas import build_all, built_once
from conformance.sse import SSEError, SSEParser
from conformance.transports import CLIENT_ERRORS, TIMING_EXTENSION, CassetteError, ReplayedError, timing_of
from conformance.transports.deadline import ProbeDeadline, deadline_scope
from conformance.transports.pacing import prior_attempts, replays_only
from conformance.urls import UnsafeValue, check_base_url, keyless, under_base
from conformance.verdict import decide, first_rejection

if TYPE_CHECKING:
    from conformance.judging import Judges
    from conformance.records import ResultLine

# Bounds per exchange and per cell: a hostile cell ends within its timeout plus judging, in tens of
# MB of memory, and writes a few MB of evidence (results line and cassette together under 20 MB).
MAX_EVENTS = 10_000  # stream events kept before the read is stopped
MAX_SAME_RULE = 10  # findings of one rule kept in a cell; the rest are counted in one more finding
MAX_MESSAGE = 2_000  # characters of one finding's message
EVIDENCE_BODY = 1024 * 1024  # characters of a body kept in results.jsonl (judging saw it all)
EVIDENCE_EVENTS = 2_000  # events kept in results.jsonl: the first and the last halves
JUDGE_BUDGET_S = 5.0  # CPU time judging one attempt may take; past it the cell is ERROR, not judged
# and wall time, in multiples of that: a judge's CPU stretches over more wall time on a loaded machine,
# which must not turn a cell ERROR, while one that waits rather than works is ended all the same
WALL_FACTOR = 3.0
# Judging is CPU-bound: one judge per core at a time, so that a judge's budget measures its own work,
# not its share of a core time-sliced among every cell that finished at once.
JUDGES = threading.BoundedSemaphore(os.cpu_count() or 1)
PATIENCE_S = 300.0  # how long a cell waits for a judging process's verdict, its queue included
DEFAULT_BODY_CAP_BYTES = 2 * 1024 * 1024  # when a profile documents no cap: OVHcloud's, the first provider's


@dataclass(frozen=True)
class Target:
    """Where and how to reach a provider. The key is held here only; it is never written anywhere."""

    provider: str
    base_url: str
    api_key: str | None = None
    semantic: bool = True
    timeout_s: float = 60.0
    semantic_tries: int = 1  # attempts a cell gets when only semantic checks fail (models are not deterministic)
    semantic_probes: frozenset[str] = frozenset()  # judged on meaning even when `semantic` is off
    body_cap_bytes: int | None = None  # the provider's documented cap on request bodies (profile), if any
    request_defaults: dict[str, Any] = field(default_factory=dict, hash=False)  # the profile's; a probe's own win

    def __post_init__(self) -> None:
        check_base_url(self.base_url)
        try:
            keyless(self.base_url, self.secrets)
        except UnsafeValue:
            raise ValueError(
                "the base URL holds the API key; every request's URL would carry it to the server's and proxies' "
                "logs. Give the bare URL with --base-url and the key through the environment"
            ) from None

    def semantic_for(self, probe_id: str) -> bool:
        """A fixture model is scripted to answer some probes: those are judged on meaning all the same."""
        return self.semantic or probe_id in self.semantic_probes

    @property
    def secrets(self) -> list[str]:
        return [self.api_key] if self.api_key else []


@dataclass(frozen=True)
class CellResult:
    provider: str
    model: str
    probe: str
    feature: str
    title: str
    status: Status
    findings: tuple[Finding, ...]
    exchanges: tuple[Exchange, ...]
    semantic: bool
    started_at: str
    elapsed_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "feature": self.feature,
            "probe": self.probe,
            "title": self.title,
            "status": self.status.value,
            "findings": [f.to_json() for f in self.findings],
            "semantic_checks": self.semantic,
            "started_at": self.started_at,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "exchanges": [bounded_evidence(e.to_json()) for e in self.exchanges],
            **self.extra,
        }

    def record(self) -> ResultLine:
        """The results.jsonl line, validated against the format (conformance.records.CellRecord)."""
        from conformance.records import CellRecord, ResultLine  # the records module reads this one's evidence types

        return ResultLine.of(CellRecord.model_validate(self.to_json()))


def bounded_evidence(record: dict[str, Any]) -> dict[str, Any]:
    """An exchange's JSON cut to what results.jsonl keeps; what was cut is counted, never silent."""
    body = record.get("body")
    if isinstance(body, str) and len(body) > EVIDENCE_BODY:
        record["body"] = body[:EVIDENCE_BODY]
        record["body_omitted_chars"] = len(body) - EVIDENCE_BODY
    events = record.get("events")
    if isinstance(events, list) and len(events) > EVIDENCE_EVENTS:
        half = EVIDENCE_EVENTS // 2
        record["events"] = events[:half] + events[-half:]
        record["events_omitted"] = len(events) - 2 * half
    return record


def build_request(target: Target, spec: Request) -> httpx.Request:
    """The request, or UnsafeValue when its URL would not stay under the base URL (nothing is sent).

    The profile's request defaults go into creates (POST /responses) alone: they are create fields, and
    another route's body (a token count's) documents none of them.
    """
    headers = {
        "accept": "text/event-stream" if spec.stream else "application/json",
        "accept-encoding": ACCEPT_ENCODING,
        **spec.headers,
    }
    key = spec.api_key if spec.api_key is not None else target.api_key
    if key:
        headers["authorization"] = f"Bearer {key}"
    content = spec.raw if spec.raw is not None else None
    body = spec.body if spec.sized is None else spec.sized(target.body_cap_bytes or DEFAULT_BODY_CAP_BYTES)
    if body is not None:
        defaults = target.request_defaults if route_of(spec.method, spec.path).kind == "create" else {}
        content = json.dumps({**defaults, **body}).encode("utf-8")
    if content is not None:
        headers["content-type"] = "application/json"
    url = target.base_url.rstrip("/") + spec.path
    try:
        request = httpx.Request(spec.method, url, headers=headers, content=content)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeValue(f"the request URL cannot be built: {exc}") from None
    under_base(str(request.url), target.base_url)
    return request


def send(client: httpx.Client, target: Target, spec: Request, deadline: ProbeDeadline) -> Exchange:
    """Send one request and read its answer incrementally, stamping when each event arrived."""
    request = build_request(target, spec)
    secrets = target.secrets + ([spec.api_key] if spec.api_key else [])
    evidence: dict[str, Any] = {
        "method": request.method,
        "url": scrub(str(request.url), secrets),
        "request_headers": redact_headers(request.headers, secrets),
        "request_body": scrub(request.content.decode("utf-8", errors="replace"), secrets),
    }
    started = time.perf_counter()
    timing: Exchange | None = None  # a cassette transport's record of this exchange: its offsets are the evidence's
    attempts: tuple[dict[str, Any], ...] = ()  # the tries a paced transport retried before this answer

    def clock(index: int | None = None) -> float:
        if timing is not None:
            if index is not None and index < len(timing.chunks):
                return float(timing.chunks[index].offset_ms)
            if index is None:
                return float(timing.elapsed_ms)
        return (time.perf_counter() - started) * 1000

    try:
        with (
            deadline_scope(deadline),
            client.stream(request.method, request.url, headers=request.headers, content=request.content) as resp,
        ):
            evidence.update(status=resp.status_code, headers=redact_headers(resp.headers, secrets))
            timing = resp.extensions.get(TIMING_EXTENSION)
            attempts = prior_attempts(resp, secrets)
            is_sse = resp.headers.get("content-type", "").split(";")[0].strip().lower() == "text/event-stream"
            parser = SSEParser()
            decoder = BoundedDecoder(resp.headers.get("content-encoding", ""), MAX_BODY_BYTES)
            events: list[SSEEvent] = []
            body = bytearray()
            first_byte: float | None = None
            for index, chunk in enumerate(resp.iter_raw()):
                now = clock(index)
                first_byte = now if first_byte is None else first_byte
                data = decoder.decode(chunk)
                if is_sse:
                    events.extend(parser.feed(data, now))
                    if len(events) > MAX_EVENTS:
                        raise _Abort(f"the stream sent more than {MAX_EVENTS} events; reading stopped")
                else:
                    body.extend(data)
                if deadline.passed():
                    raise _Abort(f"probe deadline of {target.timeout_s:.0f}s passed while reading")
            elapsed = clock()
            tail = decoder.flush()
            if is_sse:
                events.extend(parser.feed(tail, elapsed) + parser.close(elapsed))
            else:
                body.extend(tail)
            text, valid = _text(bytes(body))
            return Exchange(
                **evidence,
                body=scrub(text, secrets) if is_sse else scrub_json_text(text, secrets),
                events=_scrub_events(events, secrets) if is_sse else None,
                elapsed_ms=elapsed,
                first_byte_ms=first_byte,
                invalid_utf8=not (valid and parser.valid_utf8),
                attempts=attempts,
            )
    except (*CLIENT_ERRORS, _Abort, SSEError, DecodeLimit, DecodeError) as exc:
        message = scrub(exc.recorded if isinstance(exc, ReplayedError) else f"{type(exc).__name__}: {exc}", secrets)
        timing = timing or timing_of(exc)  # no answer came: the cassette's record of the failure times it
        if timing is not None and timing.error is None:  # recording: keep our own abort in the cassette
            timing.error, timing.error_type = message, type(exc).__name__
            timing.elapsed_ms = (time.perf_counter() - started) * 1000
        attempts = attempts or prior_attempts(exc, secrets)
        return Exchange(**evidence, elapsed_ms=clock(), error=message, attempts=attempts)


class _Abort(Exception):
    """A bound was hit while reading (size, deadline); the exchange becomes an error with evidence."""


def _text(raw: bytes) -> tuple[str, bool]:
    """The body as text, and whether it was valid UTF-8 (invalid bytes are replaced, and a finding says so)."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _scrub_events(events: list[SSEEvent], secrets: list[str]) -> tuple[SSEEvent, ...]:
    """Every text field of every event; and a key split across events' data is cut out of each piece.

    A server can echo a key in `event:` or `id:` as well as `data:`, or in two deltas that a check
    reassembles; `scrub_across` finds it in the joined text and redacts each piece's share.
    """
    data = scrub_across([scrub(e.data, secrets) for e in events], secrets)
    return tuple(
        SSEEvent(
            data=text,
            event=None if e.event is None else scrub(e.event, secrets),
            id=None if e.id is None else scrub(e.id, secrets),
            retry=e.retry,
            offset_ms=e.offset_ms,
        )
        for e, text in zip(events, data, strict=True)
    )


@dataclass
class Steps:
    """What a script did: the exchanges sent, and the steps refused before sending (unsafe URLs)."""

    exchanges: list[Exchange] = field(default_factory=list)
    refused: list[Finding] = field(default_factory=list)


def execute(
    probe: Probe, model: str, client: httpx.Client, target: Target, wait: Callable[[float], None] = time.sleep
) -> Steps:
    """Drive the probe's script; stop at the first failed step unless the probe expects rejection.

    A step whose URL a server-supplied value would steer (`UnsafeValue`, raised by the script while
    building the request or by `build_request`) ends the script: it becomes a finding and nothing,
    no key either, is sent.
    """
    deadline = ProbeDeadline(target.timeout_s)
    steps = Steps()
    script = probe.script(model)
    try:
        with deadline_scope(deadline):  # a script that waits (for a client library's next request) waits within it
            spec = next(script)
        while True:
            if spec.delay_s:
                wait(spec.delay_s)
            exchange = send(client, target, spec, deadline)
            steps.exchanges.append(exchange)
            if probe.expect is not Expect.REJECTED and first_rejection(steps.exchanges) is not None:
                break
            with deadline_scope(deadline):
                spec = script.send(exchange)
    except StopIteration:
        pass
    except UnsafeValue as exc:
        steps.refused.append(UNSAFE_VALUE.finding(f"not sent: {exc}"))
    finally:
        script.close()
    if not steps.exchanges and not steps.refused and deadline.passed():
        said = f"the probe's deadline of {target.timeout_s:g}s passed before its script sent a request"
        steps.refused.append(NOTHING_SENT.finding(said))
    return steps


def judge(
    probe: Probe, exchanges: list[Exchange], semantic: bool, refused: list[Finding] | None = None
) -> tuple[Status, list[Finding]]:
    """Run the common checks always, and the probe's own checks when they can apply."""
    common = COMMON_CHECKS if probe.expect is Expect.REJECTED else (*COMMON_CHECKS, key_accepted)
    findings = [*(refused or []), *run_checks((*common, unique_keys), exchanges, semantic)]
    failed = first_rejection(exchanges) is not None
    if probe.expect is Expect.REJECTED or not failed:
        findings += run_checks(probe.checks, exchanges, semantic)
    if not exchanges and not any(f.level is Level.MUST for f in findings):
        findings.append(NOTHING_SENT.finding("the probe's script ended without sending a request"))
    findings = [RULES[f.rule].in_cell(f, probe.feature) for f in findings]
    findings.sort(key=lambda f: _weight(f, probe.feature))
    decision = decide(probe.expect, exchanges, findings)
    if decision.reason is not None:  # the report's one-line reason is the finding that decided the status
        findings.remove(decision.reason)
        findings.insert(0, decision.reason)
    return decision.status, findings


def judge_within(
    probe: Probe,
    exchanges: list[Exchange],
    semantic: bool,
    refused: list[Finding],
    budget_s: float = JUDGE_BUDGET_S,
    judges: Judges | None = None,
) -> tuple[Status, list[Finding]]:
    """`judge`, given at most `budget_s` of its own CPU time (and WALL_FACTOR times that of wall time).

    Judging runs in one of `judges`' processes when given (a large live run), which keep the budget
    themselves (conformance.judging); in the main thread of a process that keeps it with a timer (a
    pooled replay's worker, `judge_by_timer`); else in a thread that is waited for. Past the budget the cell is
    ERROR (`harness.judge_time`), and a thread's judging is stopped (`_stop`). A thread's clock starts
    once a core is free for it (`JUDGES`); schema validators are built first, outside the clock: a
    once-per-process cost.
    """
    verdict = judges.submit(probe, exchanges, semantic, refused, budget_s) if judges is not None else None
    if verdict is not None:
        assert judges is not None
        try:
            return verdict.result(timeout=PATIENCE_S)
        except (BrokenProcessPool, TimeoutError):  # a worker died, or the queue stalled: judged here from now on
            judges.broke()
    if _TIMED and threading.current_thread() is threading.main_thread():
        return judged_by_timer(probe, exchanges, semantic, refused, budget_s)
    with JUDGES:
        return _judged_in_thread(probe, exchanges, semantic, refused, budget_s)


_TIMED: list[bool] = []  # set in a worker process that keeps judging budgets with its timer (`judge_by_timer`)


class _OverBudget(BaseException):
    """Raised into a judge past its budget (by the process's timer, or into its thread); a BaseException, so
    no check's own handler takes it."""


STOP_TRIES, STOP_WAIT_S = 5, 0.05  # a stop is raised again this often, this many times into a thread


def _over_budget(signum: int, frame: FrameType | None) -> None:
    raise _OverBudget


def judge_by_timer() -> None:
    """In a worker process of the suite's own (a replay's or judging's), whose main thread runs the cells: its
    judges run in that thread, stopped past their budget by timer signals, one on the process's CPU time and
    one on wall time. A thread per judge, waited for, cost about a millisecond per cell, and a judge past its
    budget ran on unobserved."""
    quiet_stray_stops()
    signal.signal(signal.SIGPROF, _over_budget)
    signal.signal(signal.SIGALRM, _over_budget)
    _TIMED.append(True)


def judged_by_timer(
    probe: Probe, exchanges: list[Exchange], semantic: bool, refused: list[Finding], budget_s: float
) -> tuple[Status, list[Finding]]:
    """`judge` in this thread (the main one, in a `judge_by_timer` process), ERROR past `budget_s`."""
    warm_validators()
    try:
        # each timer fires again every STOP_WAIT_S until cleared: a stop that lands in a destructor or a gc
        # callback is swallowed there, and the judge would run on unbounded
        signal.setitimer(signal.ITIMER_PROF, budget_s, STOP_WAIT_S)
        signal.setitimer(signal.ITIMER_REAL, budget_s * WALL_FACTOR, STOP_WAIT_S)
        try:
            return judge(probe, exchanges, semantic, refused)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _OverBudget:
        return too_long(exchanges, budget_s)


def _judged_in_thread(
    probe: Probe, exchanges: list[Exchange], semantic: bool, refused: list[Finding], budget_s: float
) -> tuple[Status, list[Finding]]:
    outcome: list[tuple[Status, list[Finding]]] = []
    raised: list[BaseException] = []
    clock: list[int] = []
    done = threading.Event()
    ending = threading.Lock()

    def work() -> None:
        clock.extend(_own_cpu_clock())
        try:
            outcome.append(judge(probe, exchanges, semantic, refused))
        except _OverBudget:
            return  # stopped by `_stop`: the cell is already ERROR
        except BaseException as exc:
            raised.append(exc)
        finally:
            with ending:
                done.set()

    thread = threading.Thread(target=work, name=f"judge {probe.id}", daemon=True)
    warm_validators()
    thread.start()
    _join_within(thread, clock, budget_s)
    if raised:
        raise raised[0]
    if outcome:
        return outcome[0]
    _stop(thread, done, ending)
    return too_long(exchanges, budget_s)


def _join_within(thread: threading.Thread, clock: list[int], budget_s: float) -> None:
    """Wait for the thread until it has used `budget_s` of CPU, or WALL_FACTOR times that of wall time.

    Its CPU can only grow as fast as the wall clock, so each wait is for the CPU it has left; until the
    thread has given its CPU clock (`clock`), or where there is none, its wall time stands for it."""
    started = time.monotonic()
    while thread.is_alive():
        wall = time.monotonic() - started
        used = _cpu_s(clock[0]) if clock else wall
        left = min(budget_s - used, budget_s * WALL_FACTOR - wall)
        if left <= 0:
            return
        thread.join(left)


def _own_cpu_clock() -> list[int]:
    """The calling thread's CPU clock, asked for by the thread itself: asked for by another thread,
    pthread_getcpuclockid reads the thread's freed memory once it has ended (a segfault, under load)."""
    try:
        return [time.pthread_getcpuclockid(threading.get_ident())]
    except (AttributeError, OSError):  # not on this platform
        return []


def _cpu_s(clock: int) -> float:
    """A thread's CPU seconds; clock_gettime is a system call, which refuses the clock of an ended thread."""
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread ended meanwhile: it uses no more
        return 0.0


def _stop(thread: threading.Thread, done: threading.Event, ending: threading.Lock) -> None:
    """Raise _OverBudget in a judge's thread, as the timer does in a worker's main thread.

    A judge left running past its budget kept a core and the interpreter lock the run's other cells
    need, for as long as its answer took to judge: minutes, for a small answer built to be costly.
    The exception arrives at the thread's next Python instruction; it is raised again while the judge
    runs on, since one that lands in a destructor or a gc callback is swallowed there. It is raised
    only under `ending`, which the judge takes to say it is done: an ended thread's id can be given to
    a new thread, and the exception must not reach another cell's judge.
    """
    quiet_stray_stops()
    for _ in range(STOP_TRIES):
        with ending:
            if done.is_set() or not thread.is_alive() or thread.ident is None:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_OverBudget))
        thread.join(STOP_WAIT_S)


def quiet_stray_stops() -> None:
    """Leave out of stderr the stop a destructor or a gc callback swallowed ("Exception ignored in ..."):
    it is the suite's own, raised again until the judge ends, and says nothing to whoever runs it.
    Any other unraisable exception goes to the hook that was there before."""
    if sys.unraisablehook is not _unraisable:
        _HOOKS.append(sys.unraisablehook)
        sys.unraisablehook = _unraisable


_HOOKS: list[Callable[[Any], object]] = []


def _unraisable(unraisable: Any) -> None:
    if not isinstance(unraisable.exc_value, _OverBudget):
        _HOOKS[-1](unraisable)


def too_long(exchanges: list[Exchange], budget_s: float) -> tuple[Status, list[Finding]]:
    events = sum(len(ex.events or ()) for ex in exchanges)
    body = sum(len(ex.body) for ex in exchanges)
    return Status.ERROR, [
        JUDGE_TIME.finding(
            f"judging took more than {budget_s:g}s of CPU, or {budget_s * WALL_FACTOR:g}s in all"
            f" ({events} events, {body} body characters)"
        )
    ]


@built_once
def warm_validators() -> None:
    """Build every schema validator a judge uses, once per process: the SDK's and the reference's.

    Every judge calls it, so it is cached: validating `{}` against the reference each time cost a judge
    about a millisecond."""
    build_all()
    stricter_problems({})


def bounded_findings(findings: list[Finding], secrets: list[str]) -> list[Finding]:
    """At most MAX_SAME_RULE findings per rule (the rest counted in one more), each message cut and scrubbed.

    Checks quote evidence, and may reassemble it (deltas joined into the answer), so a key the
    bodies never held whole can appear in a message: messages are scrubbed here, on their one way out.
    """
    kept: list[Finding] = []
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.rule] = counts.get(finding.rule, 0) + 1
        if counts[finding.rule] <= MAX_SAME_RULE:
            message = scrub(finding.message, secrets)  # before the cut, which could leave part of a key
            kept.append(Finding(finding.rule, finding.level, cut_message(message)))
    for rule_id, count in counts.items():
        if count > MAX_SAME_RULE:
            first = next(f for f in findings if f.rule == rule_id)
            kept.append(Finding(rule_id, first.level, more_findings(rule_id, count)))
    return kept


def cut_message(message: str) -> str:
    """A finding's message cut to MAX_MESSAGE characters, saying how many more there were."""
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE} more characters)"


def more_findings(rule_id: str, count: int) -> str:
    """The one finding that counts a rule's findings past the MAX_SAME_RULE kept."""
    return f"and {count - MAX_SAME_RULE} more {rule_id} findings"


_LEVEL_ORDER = {Level.MUST: 0, Level.SHOULD: 1, Level.INFO: 2}


def _weight(finding: Finding, feature: str) -> tuple[int, bool]:
    """By level, then this feature's own rules before generic ones judged away from home: so among
    equal findings the verdict is decided by, and the reason names, what the feature itself got wrong."""
    home = RULES[finding.rule].home
    return _LEVEL_ORDER[finding.level], bool(home) and feature not in home


TransportFactory = Callable[[Probe, str], httpx.BaseTransport]


def _no_wait(seconds: float) -> None:
    """Replay has nothing to wait for."""


def run_cell(
    probe: Probe, model: str, target: Target, transport_for: TransportFactory, judges: Judges | None = None
) -> CellResult:
    """Never raises for bad evidence: an unreadable cassette becomes an ERROR cell naming the file.

    A cell failed only by semantic checks is tried again, up to `target.semantic_tries` attempts; every
    attempt is recorded (in the cassette, and summarised in the result), and attempts that disagree
    mark the cell FLAKY.
    """
    guard(target.secrets)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    attempts: list[tuple[Status, list[Finding], int]] = []
    semantic = target.semantic_for(probe.id)
    exchanges: list[Exchange] = []
    try:
        transport = transport_for(probe, model)
    except CassetteError as exc:
        status, findings = Status.ERROR, [CASSETTE.finding(str(exc))]
    except Exception as exc:
        status, findings = Status.ERROR, [internal_finding(exc, "opening the cell's transport")]
    else:
        try:
            status, findings = _attempts(probe, model, target, transport, semantic, attempts, exchanges, judges)
        except Exception as exc:  # parsing, judging or saving the cassette: this cell's error, not the run's
            status, findings = Status.ERROR, [internal_finding(exc, "running the cell")]
    findings = bounded_findings(findings, target.secrets)
    tried = [(s, bounded_findings(fs, target.secrets), n) for s, fs, n in attempts]  # written too: as bounded
    return CellResult(
        provider=target.provider,
        model=model,
        probe=probe.id,
        feature=probe.feature,
        title=probe.title,
        status=status,
        findings=tuple(findings),
        exchanges=tuple(exchanges),
        semantic=semantic,
        started_at=started_at,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        extra=_tries(tried),
    )


def _attempts(
    probe: Probe,
    model: str,
    target: Target,
    transport: httpx.BaseTransport,
    semantic: bool,
    attempts: list[tuple[Status, list[Finding], int]],
    exchanges: list[Exchange],
    judges: Judges | None = None,
) -> tuple[Status, list[Finding]]:
    """The cell's attempts; `exchanges` holds the last one's, filled in place so an error keeps them."""
    timeout = httpx.Timeout(target.timeout_s, connect=min(10.0, target.timeout_s))
    status, findings = Status.ERROR, [INTERNAL.finding("the probe's script sent nothing")]
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        replaying = replays_only(transport)
        for _ in range(max(1, target.semantic_tries)):
            steps = execute(probe, model, client, target, _no_wait if replaying else time.sleep)
            exchanges[:] = steps.exchanges
            status, findings = judge_within(probe, steps.exchanges, semantic, steps.refused, judges=judges)
            attempts.append((status, findings, sent(steps.exchanges)))
            if not _failed_on_meaning(findings):
                break
    return status, findings


def internal_finding(exc: BaseException, doing: str) -> Finding:
    """`harness.internal`, naming the exception and the suite's line that raised it."""
    return INTERNAL.finding(f"{doing}: {describe(exc)}")


def describe(exc: BaseException) -> str:
    """The exception and the suite's line that raised it, in one bounded line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}: {str(exc)[:500]}"


def _failed_on_meaning(findings: list[Finding]) -> bool:
    """Every broken MUST is a semantic one: another attempt may answer differently."""
    musts = [RULES[f.rule] for f in findings if f.level is Level.MUST]
    return bool(musts) and all(r.tag is Tag.SEMANTIC for r in musts)


def sent(exchanges: list[Exchange]) -> int:
    """HTTP requests behind these exchanges: each one, and every try a retry replaced."""
    return sum(1 + len(e.attempts) for e in exchanges)


def _tries(attempts: list[tuple[Status, list[Finding], int]]) -> dict[str, Any]:
    """k/N for a retried cell (attempts that met the semantic checks), FLAKY when they disagree.

    Each attempt keeps how many requests it sent: only the last one's exchanges are kept, and the
    run's request count must include every try.
    """
    if len(attempts) < 2:
        return {}
    met = sum(not _failed_on_meaning(findings) for _, findings, _ in attempts)
    return {
        "tries": f"{met}/{len(attempts)}",
        "flaky": len({status for status, _, _ in attempts}) > 1,
        "attempts": [
            {"status": s.value, "findings": [f.to_json() for f in fs], "requests": n} for s, fs, n in attempts
        ],
    }
