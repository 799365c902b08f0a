"""Pacing and retries as a transport: a provider's rate limit is met before it is hit, and a 429 costs
a wait, not a cell.

`PacedTransport` wraps the cassette transport (or, live without cassettes, the network), so every
attempt, the 429 and its retry alike, is its own interaction in the cassette and replays in order.

    PacedTransport ──> CassetteTransport ──> live_transport()

Live, each request first takes its slot from the model's `TokenBucket`; a 429, a 5xx or a failed
connect is retried within the `RetryPolicy`, after the wait the server asks for. Which headers say so,
OpenAI's and those of the Kong-style gateway OVHcloud's endpoints are reported to sit behind:

- `retry-after-ms`: milliseconds (OpenAI's extension);
- `retry-after`: delta-seconds or an HTTP date (RFC 9110 section 10.2.3), an HTTP date measured from
  the answer's own `date` header when it has one, so a replay computes the same wait;
- `x-ratelimit-reset-requests`: a duration such as `1s`, `6m0s`, `250ms` (OpenAI's format) or plain
  seconds, read when neither of the above is present; then `ratelimit-reset` (seconds, the IETF
  draft's and Kong's);
- a remaining count of `0` on any answer (`x-ratelimit-remaining-requests`, or the gateway's
  `x-ratelimit-remaining-minute`), with a reset above (or, for the per-minute window, at most a
  minute), holds the model's bucket until the window reopens, so the next request waits instead of
  collecting a 429;
- `x-ratelimit-limit-minute` below the rate the bucket paces at slows the bucket to it: the gateway
  knows the limit better than a profile does; but never below one request per `max_wait_s`.

With no hint, the wait is `backoff_s` doubled per retry. A wait longer than `max_wait_s` is not
waited: the answer is final, and says why (a 429 with its Retry-After). Every wait a server can steer
is bounded so: an announced limit stretches the bucket's interval to `max_wait_s` at most, so a booked
slot is never more than the model's in-flight limit times that away (it is waited in full: sent early,
the request would only draw a 429), and no wait outlasts the run's budget (`within_budget`). Every wait here is pacing,
not the server's time: it moves the probe's deadline later (`deadline.excuse`) rather than eating it.
Whether to retry follows from what was recorded (status, headers, error type) and the policy; on
replay a retry is made only when the cassette holds its answer, so a replay retries exactly where
the recording did, and cassettes recorded without retries replay unchanged. Replay never sleeps.

A 429 or 503 is also pushback: live, `on_pushback` tells the scheduler, which halves how many of the
model's cells run at once.

The final response carries the earlier attempts in the `conformance.attempts` extension (a failure
carries them as an attribute), from which the runner fills `Exchange.attempts`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from conformance.redact import scrub
from conformance.transports import CassetteTransport, ReplayedError, drain, followable
from conformance.transports.deadline import excuse

ATTEMPTS_EXTENSION = "conformance.attempts"
_ATTEMPTS_ATTR = "conformance_attempts"
_RETRYABLE_ERRORS = ("ConnectError", "ConnectTimeout")  # the request never reached the server
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Attempt = dict[str, Any]
_RATE, _FAULT = "rate_limited", "fault"  # the two retry budgets: a 429, and a 5xx or failed connect
PUSHBACK = (429, 503)  # answers that say the model is asked too much at once
MINUTE_S = 60.0  # the window of the gateway's per-minute headers
SEND_SLACK_S = 0.01  # added to each interval live: a request's way to a strict server varies by a few ms


_BUDGET_LEFT: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar("budget_left", default=None)


@contextlib.contextmanager
def within_budget(left: Callable[[], float] | None) -> Iterator[None]:
    """Pacing waits in this scope end when the run's budget does (`left`: its seconds left; None: no
    budget): a cell already running then finishes at once instead of waiting out a window the run has
    no time for."""
    token = _BUDGET_LEFT.set(left)
    try:
        yield
    finally:
        _BUDGET_LEFT.reset(token)


def _budget_left() -> float:
    left = _BUDGET_LEFT.get()
    return float("inf") if left is None else left()


class TokenBucket:
    """A model's request rate: `burst` requests at once, then one every 60/rate seconds.

    Thread-safe, and a reservation: `reserve()` books the next free slot and says how long to wait
    for it, so callers sharing a bucket queue in order rather than race for one token. It is the
    virtual-scheduling form of GCRA: one timestamp (the theoretical arrival time), no refill loop.

    A thread may wake late for its slot while the next one wakes on time, and a strict server counts a
    request when it arrives: two sends closer than the interval would collect a 429. So at its slot a
    caller also calls `admit()`, the same arithmetic on a second timeline of the sends as they really
    went, and waits what it says (nearly always nothing; a late neighbour's lateness otherwise).
    `slack_s` spaces requests that much more than the rate asks, for the jitter on the way to the server.
    """

    def __init__(
        self, rate_per_min: float, burst: int = 1, clock: Callable[[], float] = time.monotonic, slack_s: float = 0.0
    ) -> None:
        if rate_per_min <= 0 or burst < 1 or slack_s < 0:
            raise ValueError(f"a token bucket needs a positive rate and burst, got {rate_per_min}/min, burst {burst}")
        self.slack_s = slack_s
        self.interval = 60.0 / rate_per_min + slack_s
        self.burst = burst
        self._tolerance = (burst - 1) * 60.0 / rate_per_min
        self._clock = clock
        self._tat = self._sent = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; the seconds to wait before sending in it (0: send now)."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            self._tat = tat + self.interval
            return max(0.0, tat - self._tolerance - now)

    def admit(self) -> float:
        """At a booked slot: the seconds still to wait so that sends really go an interval apart."""
        with self._lock:
            now = self._clock()
            send_at = max(now, self._sent - self._tolerance)
            self._sent = max(self._sent, send_at) + self.interval
            return send_at - now

    def defer(self, seconds: float) -> None:
        """No request before `seconds` from now: the provider said its window is used up."""
        with self._lock:
            until = self._clock() + seconds + self._tolerance
            self._tat, self._sent = max(self._tat, until), max(self._sent, until)

    def slow_to(self, rate_per_min: float) -> None:
        """Pace no faster than `rate_per_min` from now on (a lower limit the server announced)."""
        if rate_per_min > 0 and math.isfinite(60.0 / rate_per_min):
            with self._lock:
                if 60.0 / rate_per_min + self.slack_s > self.interval:
                    self.interval = 60.0 / rate_per_min + self.slack_s
                    self._tolerance = (self.burst - 1) * 60.0 / rate_per_min

    def tokens(self) -> float:
        """Requests that could be sent right now without waiting."""
        with self._lock:
            now = self._clock()
            spare = now + self._tolerance + self.interval - max(self._tat, now)
            return max(0.0, min(float(self.burst), spare / self.interval))


class Buckets:
    """One bucket per (provider, model), made on first use and shared by all of that model's cells."""

    def __init__(
        self, burst: int = 1, clock: Callable[[], float] = time.monotonic, slack_s: float = SEND_SLACK_S
    ) -> None:
        self.burst = burst
        self.slack_s = slack_s
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, model: str, rate_per_min: float) -> TokenBucket:
        with self._lock:
            key = (provider, model)
            if key not in self._buckets:
                self._buckets[key] = TokenBucket(rate_per_min, self.burst, self._clock, self.slack_s)
            return self._buckets[key]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request tries before its answer is final. Every try is recorded; none is hidden."""

    retries: int = 2  # further tries after a 5xx or a failed connect
    rate_limit_retries: int = 3  # further tries after a 429
    backoff_s: float = 0.5  # the first wait when the server names none; doubled per retry
    max_wait_s: float = 60.0  # a server asking for a longer wait gets its answer taken as final

    def budget(self, kind: str) -> int:
        return self.rate_limit_retries if kind == _RATE else self.retries


@dataclass(frozen=True)
class _Retry:
    kind: str
    wait_s: float
    basis: str


Outcome = httpx.Response | httpx.TransportError


class PacedTransport(httpx.BaseTransport):
    """Takes a slot from the model's bucket before each try and retries within the policy.

    `bucket` None sends at once (replay, or a model with no known rate). `sleep` is a no-op on replay.
    `on_pushback` hears of each 429 or 503 answer (live only: replay changes no schedule).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        bucket: TokenBucket | None,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        on_pushback: Callable[[int], None] | None = None,
    ) -> None:
        self.inner = inner
        self.bucket = bucket
        self.policy = policy
        self.sleep = sleep
        self.on_pushback = on_pushback

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a retry sends the very same bytes
        attempts: list[Attempt] = []
        used = {_RATE: 0, _FAULT: 0}
        for _ in range(self.policy.retries + self.policy.rate_limit_retries):
            outcome = self._try(request)
            retry = self._retry(outcome, used, request)
            if retry is None:
                return _final(outcome, attempts)
            used[retry.kind] += 1
            if retry.kind == _RATE and self.bucket is not None:
                self.bucket.defer(retry.wait_s)  # the server's window is used up for every cell of the model
            attempts.append(_settle(outcome, retry))
            self._wait(retry.wait_s)
        return _final(self._try(request), attempts)

    def close(self) -> None:
        self.inner.close()

    def _try(self, request: httpx.Request) -> Outcome:
        if self.bucket is not None:
            self._wait(self.bucket.reserve())
            self._wait(self.bucket.admit())
        try:
            response = self.inner.handle_request(request)
            followable(request, response)
        except httpx.TransportError as exc:
            return exc
        if response.status_code in PUSHBACK and self.on_pushback is not None:
            self.on_pushback(response.status_code)
        if self.bucket is not None:
            self._note_window(self.bucket, response.headers)
        return response

    def _wait(self, seconds: float) -> None:
        """A wait for the rate limit, which the probe's deadline does not count; never longer than what is
        left of the run's budget."""
        seconds = min(seconds, _budget_left())
        if seconds > 0:
            excuse(seconds)
            self.sleep(seconds)

    def _note_window(self, bucket: TokenBucket, headers: httpx.Headers) -> None:
        """Follow what the answer says of the model's window: its limit, and whether any request is left."""
        if (limit := _number(headers.get("x-ratelimit-limit-minute", ""))) is not None and limit > 0:
            bucket.slow_to(max(limit, MINUTE_S / self.policy.max_wait_s))
        if headers.get("x-ratelimit-remaining-requests", "").strip() == "0":
            reset = _duration(headers.get("x-ratelimit-reset-requests", "")) or _number(
                headers.get("ratelimit-reset", "")
            )
        elif headers.get("x-ratelimit-remaining-minute", "").strip() == "0":
            reset = _number(headers.get("ratelimit-reset", "")) or MINUTE_S
        else:
            return
        if reset is not None:
            bucket.defer(min(reset, self.policy.max_wait_s))

    def _retry(self, outcome: Outcome, used: dict[str, int], request: httpx.Request) -> _Retry | None:
        """The retry this outcome calls for, or None: it is final (and its evidence says why)."""
        retry = self._wanted(outcome, used)
        if retry is None or used[retry.kind] >= self.policy.budget(retry.kind):
            return None
        if retry.wait_s > self.policy.max_wait_s:
            return None
        if isinstance(self.inner, CassetteTransport) and not self.inner.can_record:
            return retry if self.inner.has_recording(request) else None
        return retry

    def _wanted(self, outcome: Outcome, used: dict[str, int]) -> _Retry | None:
        if isinstance(outcome, httpx.TransportError):
            if _error_name(outcome) not in _RETRYABLE_ERRORS:
                return None
            return _Retry(_FAULT, self._backoff(used[_FAULT]), "backoff")
        status = outcome.status_code
        if status != 429 and status < 500:
            return None
        kind = _RATE if status == 429 else _FAULT
        hinted = server_wait(outcome.headers)
        if hinted is not None:
            return _Retry(kind, *hinted)
        return _Retry(kind, self._backoff(used[kind]), "backoff")

    def _backoff(self, retries_so_far: int) -> float:
        return self.policy.backoff_s * 2**retries_so_far


def server_wait(headers: httpx.Headers) -> tuple[float, str] | None:
    """The wait the server asks for, and the header that said so; None when no header says."""
    if (value := headers.get("retry-after-ms")) is not None and (ms := _number(value)) is not None:
        return ms / 1000, f"retry-after-ms: {value}"
    if (value := headers.get("retry-after")) is not None and (seconds := _retry_after(value, headers)) is not None:
        return seconds, f"retry-after: {value}"
    value = headers.get("x-ratelimit-reset-requests")
    if value is not None and (seconds := _duration(value)) is not None:
        return seconds, f"x-ratelimit-reset-requests: {value}"
    if (value := headers.get("ratelimit-reset")) is not None and (seconds := _number(value)) is not None:
        return seconds, f"ratelimit-reset: {value}"
    return None


def _retry_after(value: str, headers: httpx.Headers) -> float | None:
    seconds = _number(value)
    if seconds is not None:
        return seconds
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(headers.get("date", "")) or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _duration(value: str) -> float | None:
    """`1s`, `6m0s`, `250ms`, `1h2m3.5s`, or plain seconds."""
    text = value.strip().lower()
    if (seconds := _number(text)) is not None:
        return seconds
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    return seconds if math.isfinite(seconds) else None


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _error_name(exc: httpx.TransportError) -> str:
    """A replayed failure names the recorded one first ("ConnectError: ..."), so replay retries alike."""
    if isinstance(exc, ReplayedError):
        return exc.recorded.split(":", 1)[0]
    return type(exc).__name__


def _settle(outcome: Outcome, retry: _Retry) -> Attempt:
    """Describe a try that a retry replaces; its body is read (so the cassette keeps it) and closed."""
    wait = {"wait_s": round(retry.wait_s, 3), "basis": retry.basis}
    if isinstance(outcome, httpx.TransportError):
        text = outcome.recorded if isinstance(outcome, ReplayedError) else f"{type(outcome).__name__}: {outcome}"
        return {"status": None, "error": text, **wait}
    drain(outcome)
    return {"status": outcome.status_code, **wait}


def _final(outcome: Outcome, attempts: Sequence[Attempt]) -> httpx.Response:
    if isinstance(outcome, httpx.TransportError):
        setattr(outcome, _ATTEMPTS_ATTR, tuple(attempts))
        raise outcome
    if attempts:
        outcome.extensions = {**outcome.extensions, ATTEMPTS_EXTENSION: tuple(attempts)}
    return outcome


def prior_attempts(source: httpx.Response | BaseException, secrets: Sequence[str]) -> tuple[Attempt, ...]:
    """The tries a paced transport made before this answer (or failure), scrubbed for the evidence."""
    if isinstance(source, httpx.Response):
        raw = source.extensions.get(ATTEMPTS_EXTENSION, ())
    else:
        raw = getattr(source, _ATTEMPTS_ATTR, ())
    return tuple({k: scrub(v, list(secrets)) if isinstance(v, str) else v for k, v in a.items()} for a in raw)


def replays_only(transport: httpx.BaseTransport) -> bool:
    """True when the transport, or the one a pacer wraps, answers from a cassette and never records."""
    inner = transport.inner if isinstance(transport, PacedTransport) else transport
    return isinstance(inner, CassetteTransport) and not inner.can_record


def no_wait(seconds: float) -> None:
    """Replay has nothing to wait for."""
