"""Run one cell: a probe's script against one model, through a transport, into a judged result.

This is the suite's core; the CLI and the pytest plugin are thin shells over `run_cell`. It never
raises for anything a server does: a broken server yields findings, never a crash, and every read is
bounded in time and size.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from conformance.checks import RULES, Tag, run_checks
from conformance.checks.http import CASSETTE, COMMON_CHECKS, key_accepted
from conformance.decoding import ACCEPT_ENCODING, BoundedDecoder, DecodeError, DecodeLimit
from conformance.evidence import Exchange, Finding, Level, SSEEvent, Status
from conformance.probes import Expect, Probe, Request
from conformance.redact import guard_logs, redact_headers, scrub
from conformance.sse import SSEError, SSEParser
from conformance.transports import TIMING_EXTENSION, CassetteError, ReplayedError, timing_of
from conformance.transports.deadline import ProbeDeadline, deadline_scope
from conformance.transports.pacing import prior_attempts, replays_only
from conformance.verdict import decide, first_rejection

MAX_BODY_BYTES = 32 * 1024 * 1024


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
    request_defaults: dict[str, Any] = field(default_factory=dict, hash=False)  # the profile's; a probe's own win

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
            "exchanges": [e.to_json() for e in self.exchanges],
            **self.extra,
        }


def build_request(target: Target, spec: Request) -> httpx.Request:
    headers = {
        "accept": "text/event-stream" if spec.stream else "application/json",
        "accept-encoding": ACCEPT_ENCODING,
        **spec.headers,
    }
    key = spec.api_key if spec.api_key is not None else target.api_key
    if key:
        headers["authorization"] = f"Bearer {key}"
    content = spec.raw if spec.raw is not None else None
    if spec.body is not None:
        content = json.dumps({**target.request_defaults, **spec.body}).encode("utf-8")
    if content is not None:
        headers["content-type"] = "application/json"
    return httpx.Request(spec.method, target.base_url.rstrip("/") + spec.path, headers=headers, content=content)


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
    timing: Any = None  # a cassette transport's Interaction: its offsets are the evidence's offsets
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
                body=scrub(text, secrets),
                events=tuple(_scrub_event(e, secrets) for e in events) if is_sse else None,
                elapsed_ms=elapsed,
                first_byte_ms=first_byte,
                invalid_utf8=not (valid and parser.valid_utf8),
                attempts=attempts,
            )
    except (httpx.HTTPError, _Abort, SSEError, DecodeLimit, DecodeError) as exc:
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


def _scrub_event(event: SSEEvent, secrets: list[str]) -> SSEEvent:
    """Every text field of the event: a server can echo a key in `event:` or `id:` as well as `data:`."""
    return SSEEvent(
        data=scrub(event.data, secrets),
        event=None if event.event is None else scrub(event.event, secrets),
        id=None if event.id is None else scrub(event.id, secrets),
        retry=event.retry,
        offset_ms=event.offset_ms,
    )


def execute(
    probe: Probe, model: str, client: httpx.Client, target: Target, wait: Callable[[float], None] = time.sleep
) -> list[Exchange]:
    """Drive the probe's script; stop at the first failed step unless the probe expects rejection."""
    deadline = ProbeDeadline(target.timeout_s)
    exchanges: list[Exchange] = []
    script = probe.script(model)
    try:
        spec = next(script)
        while True:
            if spec.delay_s:
                wait(spec.delay_s)
            exchange = send(client, target, spec, deadline)
            exchanges.append(exchange)
            if probe.expect is not Expect.REJECTED and first_rejection([exchange]) is not None:
                break
            spec = script.send(exchange)
    except StopIteration:
        pass
    finally:
        script.close()
    return exchanges


def judge(probe: Probe, exchanges: list[Exchange], semantic: bool) -> tuple[Status, list[Finding]]:
    """Run the common checks always, and the probe's own checks when they can apply."""
    common = COMMON_CHECKS if probe.expect is Expect.REJECTED else (*COMMON_CHECKS, key_accepted)
    findings = run_checks(common, exchanges, semantic)
    failed = first_rejection(exchanges) is not None
    if probe.expect is Expect.REJECTED or not failed:
        findings += run_checks(probe.checks, exchanges, semantic)
    findings = [RULES[f.rule].in_cell(f, probe.feature) for f in findings]
    findings.sort(key=lambda f: _weight(f, probe.feature))
    decision = decide(probe.expect, exchanges, findings)
    if decision.reason is not None:  # the report's one-line reason is the finding that decided the status
        findings.remove(decision.reason)
        findings.insert(0, decision.reason)
    return decision.status, findings


_LEVEL_ORDER = {Level.MUST: 0, Level.SHOULD: 1, Level.INFO: 2}


def _weight(finding: Finding, feature: str) -> tuple[int, bool]:
    """By level, then this feature's own rules before generic ones judged away from home: so among
    equal findings the verdict is decided by, and the reason names, what the feature itself got wrong."""
    home = RULES[finding.rule].home
    return _LEVEL_ORDER[finding.level], bool(home) and feature not in home


TransportFactory = Callable[[Probe, str], httpx.BaseTransport]


def _no_wait(seconds: float) -> None:
    """Replay has nothing to wait for."""


def run_cell(probe: Probe, model: str, target: Target, transport_for: TransportFactory) -> CellResult:
    """Never raises for bad evidence: an unreadable cassette becomes an ERROR cell naming the file.

    A cell failed only by semantic checks is tried again, up to `target.semantic_tries` attempts; every
    attempt is recorded (in the cassette, and summarised in the result), and attempts that disagree
    mark the cell FLAKY.
    """
    guard_logs(target.secrets)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    attempts: list[tuple[Status, list[Finding], int]] = []
    semantic = target.semantic_for(probe.id)
    try:
        transport = transport_for(probe, model)
    except CassetteError as exc:
        exchanges: list[Exchange] = []
        status, findings = Status.ERROR, [CASSETTE.finding(str(exc))]
    else:
        timeout = httpx.Timeout(target.timeout_s, connect=min(10.0, target.timeout_s))
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
            replaying = replays_only(transport)
            for _ in range(max(1, target.semantic_tries)):
                exchanges = execute(probe, model, client, target, _no_wait if replaying else time.sleep)
                status, findings = judge(probe, exchanges, semantic)
                attempts.append((status, findings, sent(exchanges)))
                if not _failed_on_meaning(findings):
                    break
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
        extra=_tries(attempts),
    )


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
