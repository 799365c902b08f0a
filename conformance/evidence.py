"""The evidence model: what was sent, what came back, and what the checks found in it.

Everything here is plain data with a JSON form, so results written tonight can be re-read, re-judged
and re-rendered by any later version of the suite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from conformance import safejson

# A record keeps this much of a request body; the cassette keeps all of it. A probe that sends an
# oversized body on purpose would otherwise put megabytes of padding into every results line.
REQUEST_BODY_LIMIT = 64 * 1024
STRING_LIMIT = 1024  # in a clipped JSON body, each string is cut to this, so the body keeps its shape


class Level(StrEnum):
    """How binding a rule is; decides whether breaking it is FAIL or NON-STRICT. Shown as its bare name."""

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

    @property
    def info(self) -> StatusInfo:
        return STATUSES[self]


class Outcome(str, Enum):
    """What a cell is to a test runner: pytest's outcome, and the JUnit element that says the same."""

    PASSED = "passed"  # JUnit: a plain <testcase>
    XFAILED = "xfailed"  # JUnit: <skipped>, as pytest's own JUnit writer shows an xfail
    SKIPPED = "skipped"  # JUnit: <skipped>
    FAILED = "failed"  # JUnit: <failure>
    ERROR = "error"  # JUnit: <error>; pytest fails the item

    @property
    def junit(self) -> str | None:
        """The JUnit child element, or None for a testcase that passed."""
        return _JUNIT[self]


_JUNIT = {
    Outcome.PASSED: None,
    Outcome.XFAILED: "skipped",
    Outcome.SKIPPED: "skipped",
    Outcome.FAILED: "failure",
    Outcome.ERROR: "error",
}


@dataclass(frozen=True)
class StatusInfo:
    """Everything any layer needs to know about one status; the table below is its only statement.

    `rank` orders statuses by use to a client (0 best) for regressions; None is neutral (NOT RUN: a
    cell that appears or goes away). `shows` is what the cell says of the feature, for DRIFT against a
    claim: it works (True), it does not (False), or nothing (None).
    """

    status: Status
    glyph: str
    slug: str
    meaning: str
    rank: int | None
    outcome: Outcome
    shows: bool | None

    @property
    def passing(self) -> bool:
        return self.outcome is Outcome.PASSED


STATUSES: dict[Status, StatusInfo] = {
    i.status: i
    for i in (
        StatusInfo(Status.PASS, "✓", "pass", "works and conforms", 0, Outcome.PASSED, True),
        StatusInfo(
            Status.NON_STRICT, "≈", "non-strict", "works for clients but breaks a SHOULD", 2, Outcome.PASSED, True
        ),
        StatusInfo(Status.FAIL, "✗", "fail", "accepted but broken, or a 5xx on every try", 5, Outcome.FAILED, False),
        StatusInfo(
            Status.IGNORED, "∅", "ignored", "accepted, and the documented effect is absent", 4, Outcome.XFAILED, False
        ),
        StatusInfo(
            Status.UNSUPPORTED,
            "⊘",
            "unsupported",
            "rejected with a 4xx that says why",
            3,
            Outcome.XFAILED,
            False,
        ),
        StatusInfo(
            Status.ACCEPTED,
            "•",
            "accepted",
            "accepted; the effect is not observable from outside",
            1,
            Outcome.PASSED,
            None,
        ),
        StatusInfo(
            Status.ERROR,
            "!",
            "error",
            "could not decide (a transient 5xx, timeout, transport, rate limit)",
            6,
            Outcome.ERROR,
            None,
        ),
        StatusInfo(Status.NOT_RUN, "–", "not-run", "not run in this session", None, Outcome.SKIPPED, None),
    )
}


def status_info(name: str) -> StatusInfo | None:
    """The table's row for a status written as text, or None for a status this version does not know."""
    try:
        return STATUSES[Status(name)]
    except ValueError:
        return None


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "level": self.level.value, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        from conformance.records import FindingRecord  # the records module builds on this one

        return FindingRecord.model_validate(data).finding()


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
        from conformance.records import EventRecord  # the records module builds on this one

        return EventRecord.of(self).model_dump(mode="json", exclude_unset=True)


@dataclass(frozen=True)
class Chunk:
    """Bytes as one network read delivered them (content-encoding intact), and when (ms from request start)."""

    offset_ms: float
    data: bytes


@dataclass
class Exchange:
    """One HTTP request and what came back: the unit of evidence every check reads, and a cassette's interaction.

    `body` is the decoded text of a non-stream body; `events` is set when the response was an
    event stream. `error` names a transport failure (timeout, reset, ...), in which case `status`
    may be None. `attempts` lists the answers a retry replaced; its JSON key is absent when there were none.
    `chunks` are the wire bytes with their arrival times and `error_type` the failure's class: a cassette
    keeps them (replay serves the chunks), the results do not. A cassette transport fills them in as the
    answer arrives, which is why the record is mutable.
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
    chunks: list[Chunk] = field(default_factory=list)
    error_type: str | None = None

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON, as a client parses it; raises ValueError when it is not JSON."""
        return safejson.loads_answer(self.body)

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
        """The results form, as conformance.records.ExchangeRecord states it."""
        from conformance.records import ExchangeRecord  # the records module builds on this one

        return ExchangeRecord.of(self).model_dump(mode="json", exclude_unset=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Exchange:
        """An exchange back from its results form, validated; nothing the checks read is lost."""
        from conformance.records import ExchangeRecord

        return ExchangeRecord.model_validate(data).exchange()


def request_body_fields(body: str) -> dict[str, Any]:
    """The body as sent; an oversized one clipped, with its full length and digest so the record still names it.

    A JSON body keeps its structure, its long strings cut short, so what reads the record as a request
    (the SDK column replays it through the SDK) still sees the same call.
    """
    if len(body) <= REQUEST_BODY_LIMIT:
        return {"body": body}
    try:
        clipped = json.dumps(_clip_strings(safejson.loads(body)), ensure_ascii=False)
    except (ValueError, RecursionError):
        clipped = body
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return {"body": clipped[:REQUEST_BODY_LIMIT], "body_length": len(body), "body_sha256": digest}


def _clip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= STRING_LIMIT else value[:STRING_LIMIT] + f"…[{len(value):,} characters]"
    if isinstance(value, dict):
        return {k: _clip_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip_strings(v) for v in value]
    return value
