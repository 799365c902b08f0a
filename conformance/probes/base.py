"""What a probe is: data plus a request script. Probes hold no judging logic; their checks do."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from conformance.checks import Check
from conformance.evidence import Exchange


class Expect(str, Enum):
    """What a well-behaved server does with the probe, which decides how an outcome is read."""

    WORKS = "works"  # 2xx with an observable effect: PASS when the checks agree
    UNOBSERVABLE = "unobservable"  # 2xx, but the effect cannot be seen from outside: ACCEPTED
    REJECTED = "rejected"  # an invalid request: a clean 4xx is PASS


@dataclass(frozen=True)
class Request:
    """One request of a probe. `raw` sends bytes as they are (malformed JSON); `api_key` overrides the key.

    `delay_s` is a wait before sending (polling a background response): honoured live, skipped on
    replay, where there is nothing to wait for. `sized` builds the body from the provider's request
    body cap (its profile's `body_cap_bytes`), which only the run knows; it takes the place of `body`.
    """

    body: dict[str, Any] | None = None
    method: str = "POST"
    path: str = "/responses"
    stream: bool = False
    raw: bytes | None = None
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    sized: Callable[[int], dict[str, Any]] | None = None


# A script yields requests and is sent back each request's Exchange, so a later turn can use an
# earlier answer (a call_id, a response id). It receives the model id.
Script = Callable[[str], Generator[Request, Exchange, None]]


@dataclass(frozen=True)
class Probe:
    id: str
    feature: str
    title: str
    script: Script
    checks: tuple[Check, ...]
    expect: Expect = Expect.WORKS
    library: str | None = None  # the client library it runs: loading one takes a process seconds, once

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]


def single(build: Callable[[str], Request]) -> Script:
    """A script of one request."""

    def script(model: str) -> Generator[Request, Exchange, None]:
        yield build(model)

    return script


def text_input(text: str | list[dict[str, Any]], **extra: Any) -> Script:
    """The most common script: one request with `input` and any extra body fields."""
    stream = bool(extra.get("stream"))
    return single(lambda model: Request({"model": model, "input": text, **extra}, stream=stream))
