"""The evidence model: what was sent, what came back, and what the checks found in it.

Everything here is plain data with a JSON form, so results written tonight can be re-read, re-judged
and re-rendered by any later version of the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from conformance import safejson


class Level(str, Enum):
    """How binding a rule is; decides whether breaking it is FAIL or NON-STRICT."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


class Status(str, Enum):
    """One status per matrix cell; the strings are the published vocabulary."""

    PASS = "PASS"
    NON_STRICT = "NON-STRICT"
    FAIL = "FAIL"
    IGNORED = "IGNORED"
    UNSUPPORTED = "UNSUPPORTED"
    ACCEPTED = "ACCEPTED"
    ERROR = "ERROR"
    NOT_RUN = "NOT RUN"


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "level": self.level.value, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(rule=data["rule"], level=Level(data["level"]), message=data["message"])


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched server-sent event, with when its last byte arrived (ms from request start)."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    offset_ms: float = 0.0

    def json(self) -> Any:
        """The data parsed as JSON; raises ValueError when it is not JSON."""
        return safejson.loads(self.data)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"offset_ms": round(self.offset_ms, 3), "event": self.event, "data": self.data}
        if self.id is not None:
            out["id"] = self.id
        if self.retry is not None:
            out["retry"] = self.retry
        return out


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and what came back: the unit of evidence every check reads.

    `body` is the decoded text of a non-stream body; `events` is set when the response was an
    event stream. `error` names a transport failure (timeout, reset, ...), in which case `status`
    may be None. `attempts` lists the answers a retry replaced; its JSON key is absent when there were none.
    """

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    events: tuple[SSEEvent, ...] | None = None
    elapsed_ms: float = 0.0
    first_byte_ms: float | None = None
    error: str | None = None
    invalid_utf8: bool = False  # bytes that are not UTF-8 were replaced by U+FFFD in body or events
    # the tries before this answer, oldest first (a 429, a 5xx, a failed connect), each with its wait
    attempts: tuple[dict[str, Any], ...] = ()

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return safejson.loads(self.body)

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except ValueError:
            return None

    def request_json(self) -> Any:
        try:
            return safejson.loads(self.request_body)
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": self.request_headers,
                "body": self.request_body,
            },
            "status": self.status,
            "headers": self.headers,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "first_byte_ms": None if self.first_byte_ms is None else round(self.first_byte_ms, 3),
            "error": self.error,
        }
        if self.invalid_utf8:
            out["invalid_utf8"] = True
        if self.attempts:
            out["attempts"] = [dict(a) for a in self.attempts]
        if self.events is None:
            out["body"] = self.body
        else:
            out["events"] = [e.to_json() for e in self.events]
        return out
