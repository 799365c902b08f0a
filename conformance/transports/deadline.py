"""The live transport, with the probe's deadline enforced on every socket read and write.

httpx's timeouts are per operation, so a server that drips its headers one byte at a time, each
byte within the read timeout, would hold a cell for ever. httpcore lets us supply the network
backend; ours caps each operation's timeout by what is left of the deadline set for the request.

The deadline measures the server, not our own queue: a wait for the model's rate limit moves it
later (`excuse`), so an anonymous run at 2 requests/min does not turn a probe of several requests
into a timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from conformance.transports import CheckedTransport


class ProbeDeadline:
    """A probe's deadline on time.perf_counter(), shared by its requests; pacing waits push it back."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.end = time.perf_counter() + timeout_s

    def left(self) -> float:
        return max(0.0, self.end - time.perf_counter())

    def passed(self) -> bool:
        return time.perf_counter() >= self.end

    def excuse(self, seconds: float) -> None:
        """Time spent waiting for the rate limit is not the server's: it does not count."""
        self.end += max(0.0, seconds)


_DEADLINE: contextvars.ContextVar[ProbeDeadline | None] = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def deadline_scope(deadline: ProbeDeadline) -> Iterator[None]:
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float:
    """Seconds until the current probe's deadline; infinite outside a probe."""
    scope = _DEADLINE.get()
    return float("inf") if scope is None else scope.left()


def excuse(seconds: float) -> None:
    """Move the current probe's deadline later by a pacing wait (nothing outside a probe)."""
    scope = _DEADLINE.get()
    if scope is not None:
        scope.excuse(seconds)


def _capped(timeout: float | None) -> float | None:
    scope = _DEADLINE.get()
    if scope is None:
        return timeout
    _raise_if_past()
    left = scope.left()
    return left if timeout is None else min(timeout, left)


def _raise_if_past() -> None:
    scope = _DEADLINE.get()
    if scope is not None and scope.passed():
        raise httpcore.ReadTimeout(f"probe deadline of {scope.timeout_s:.0f}s passed while reading")


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, _capped(timeout))
        except httpcore.ReadTimeout:
            _raise_if_past()  # say it was the deadline, not the server's silence
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _capped(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(super().connect_tcp(host, port, _capped(timeout), local_address, socket_options))


_SSL_LOCK = threading.Lock()


def _ssl_context() -> ssl.SSLContext:
    """Built once, under a lock: loading the CA bundle costs tens of ms of CPU, and a run's first cells
    all start at once (an unlocked cache let each of them build its own)."""
    with _SSL_LOCK:
        return _built_ssl_context()


@functools.cache
def _built_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def live_transport() -> httpx.BaseTransport:
    """httpx's own transport, on a network backend that honours the probe deadline, passing on only
    answers httpx's client can take in (`followable`)."""
    transport = httpx.HTTPTransport(retries=0, verify=_ssl_context())
    transport._pool._network_backend = _DeadlineBackend()
    return CheckedTransport(transport)
