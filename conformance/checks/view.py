"""One parsed view of an exchange, shared by every check, and the scopes that say which exchanges a check judges.

An exchange's body and events are parsed once, however many checks read them: `view(ex)` is cached
by identity (exchanges are immutable). A check that judges one exchange at a time declares its
scope where it is defined, with `@scoped(Scope.EVERY_OK)`, instead of re-deriving which exchange
of a multi-request probe it is about.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from conformance import safejson
from conformance.evidence import Exchange, Finding

TERMINAL_EVENTS = ("response.completed", "response.failed", "response.incomplete")
# The Chat Completions end-of-stream marker; the official SDK stops reading at it, without error.
SENTINEL = "[DONE]"


@dataclass(frozen=True)
class Ev:
    """One event with its position in the stream and its parsed payload (None when not a JSON object)."""

    index: int
    name: str | None
    data: str
    payload: dict[str, Any] | None
    offset_ms: float

    @property
    def type(self) -> str | None:
        t = self.payload.get("type") if self.payload is not None else None
        return t if isinstance(t, str) else None

    def get(self, key: str, default: Any = None) -> Any:
        """A payload field, or `default` when the event is not a JSON object."""
        return default if self.payload is None else self.payload.get(key, default)

    def where(self) -> str:
        return f"event #{self.index} {self.type or self.name or '?'}"


def _parse(data: str) -> dict[str, Any] | None:
    try:
        payload = safejson.loads(data)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class View:
    """An exchange with its JSON body, its events and its final Response parsed once."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        status = exchange.status
        self.ok = status is not None and 200 <= status < 300
        raw = [Ev(i, e.event, e.data, _parse(e.data), e.offset_ms) for i, e in enumerate(exchange.events or ())]
        # the SDKs' own test (`data.startswith("[DONE]")`): a sentinel after a space is JSON to them, and raises
        trailing = raw[-1] if raw and raw[-1].data.startswith(SENTINEL) else None
        self.sentinel: Ev | None = trailing
        self.events: tuple[Ev, ...] = tuple(raw[:-1] if trailing is not None else raw)
        self.body: Any = None if exchange.is_stream else exchange.json_or_none()
        self.response: Any = self.body if not exchange.is_stream else _final_response(self.events)

    @property
    def is_stream(self) -> bool:
        return self.exchange.is_stream


def _final_response(events: Sequence[Ev]) -> Any:
    """The Response a stream's last terminal event carries."""
    for e in reversed(events):
        if e.type in TERMINAL_EVENTS:
            return e.get("response")
    return None


@dataclass(frozen=True)
class _Same:
    """A cache key that is the exchange itself, compared by identity (an Exchange holds unhashable dicts)."""

    exchange: Exchange

    def __hash__(self) -> int:
        return id(self.exchange)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.exchange is self.exchange


@functools.lru_cache(maxsize=32)
def _view(key: _Same) -> View:
    return View(key.exchange)


def view(exchange: Exchange) -> View:
    """The exchange's parsed view, built once per exchange.

    The cache holds the exchange, so an id is never reused while cached; it is small because a
    cell's checks run one after another on a few exchanges, and an exchange may hold a body of
    tens of MB.
    """
    return _view(_Same(exchange))


class Scope(Enum):
    """Which of a probe's exchanges a check judges."""

    FIRST_OK = "first 2xx"
    LAST_OK = "last 2xx"
    EVERY_OK = "every 2xx"
    EVERY = "every exchange"

    def pick(self, exchanges: Sequence[Exchange]) -> list[View]:
        views = [view(ex) for ex in exchanges]
        if self is Scope.EVERY:
            return views
        ok = [v for v in views if v.ok]
        if self is Scope.FIRST_OK:
            return ok[:1]
        if self is Scope.LAST_OK:
            return ok[-1:]
        return ok


Judge = Callable[[View], Iterable[Finding]]


def scoped(scope: Scope) -> Callable[[Judge], Callable[[Sequence[Exchange]], Iterator[Finding]]]:
    """A check made of a function that judges one view: `scope` picks the views it is given."""

    def wrap(judge: Judge) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
        @functools.wraps(judge)
        def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
            for v in scope.pick(exchanges):
                yield from judge(v)

        setattr(check, "scope", scope)  # noqa: B010 (a plain attribute, read by the suite's own tests)
        return check

    return wrap
