"""Checks every probe gets: did the exchange complete, what did a rejection say, and in which envelope.

A 5xx is a finding about the server only when it repeats: the pacing transport retries a 5xx, and
when every try got one (503, which the server itself calls temporary, aside) the request breaks the
server, so the cell FAILs with the tries as evidence. A 5xx that changed between tries, or that was
not retried, is undecided (ERROR). 501 Not Implemented is no breakage but a refusal: the server says
it does not do what was asked (RFC 9110, 15.6.2), as vLLM answers a `tool_choice` it cannot honour,
so it is read as a 4xx is. A status past 599 is no class HTTP defines (RFC 9110, 15): a client
library calls it a server error, but it is the server breaking the protocol, and FAILs once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from conformance.checks.rules import quote, rule
from conformance.checks.view import view
from conformance.evidence import Exchange, Finding, Level
from conformance.safejson import BOM
from conformance.schemas import error_object_problems

TRANSPORT = rule("harness.transport", Level.MUST, "the exchange completed at the transport level")
SERVER_ERROR = rule(
    "http.not_server_error", Level.MUST, "a request does not get a 5xx on every try (a reproducible server error)"
)
SERVER_ERROR_ONCE = rule(
    "http.server_error_transient",
    Level.INFO,
    "a 5xx that did not repeat on every try, or was not retried, leaves the cell undecided",
)
REJECTION = rule("http.rejection", Level.INFO, "what the server said when it answered a 4xx")
RATE_LIMITED = rule("harness.rate_limited", Level.MUST, "the request was not rate-limited (429)")
ERROR_OBJECT = rule("error.object", Level.SHOULD, "a 4xx/5xx body is an OpenAI error object with error.message")
ERROR_FIELDS = rule(
    "error.fields", Level.SHOULD, "the error object carries type, param and code, typed as the SDK says"
)
AUTH = rule("harness.auth", Level.MUST, "the endpoint accepts the key (a 401/403 judges the key, not the feature)")
UTF8 = rule("http.utf8", Level.MUST, "bodies and event streams are valid UTF-8, as JSON and SSE require")
STATUS_CLASS = rule(
    "http.status_class", Level.MUST, "the answer is a 2xx, 4xx or 5xx, not a 1xx, a redirect or a code past 599"
)
ERROR_IN_SUCCESS = rule(
    "http.error_in_success",
    Level.MUST,
    "an error is served with a 4xx or 5xx, not a 2xx: the SDKs read a 2xx body as the answer, not as an error",
)
ERROR_CONTENT_TYPE = rule("error.content_type", Level.SHOULD, "an error body is served as application/json")
JSON_BOM = rule(
    "http.json_bom",
    Level.SHOULD,
    "a JSON body does not start with a byte order mark (RFC 8259: the SDKs skip it, stricter parsers refuse it)",
)


def not_a_transport_error(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in exchanges:
        if ex.error is not None:
            yield TRANSPORT.finding(f"{ex.method} {ex.url}: {ex.error}")


TEMPORARY = 503  # Service Unavailable: the server says the condition is temporary
NOT_IMPLEMENTED = 501  # the server does not support what the request needs (RFC 9110, 15.6.2)


def server_words(ex: Exchange) -> str:
    """What the server said, as it said it: the error envelope's message, a gateway's `message` or
    a framework's `detail`, else the body itself."""
    body = ex.json_or_none()
    if isinstance(body, dict):
        error = body.get("error")
        candidates = [error.get("message") if isinstance(error, dict) else error, body.get("message")]
        candidates.append(body.get("detail"))
        for said in candidates:
            if (isinstance(said, str) and said.strip()) or (isinstance(said, list | dict) and said):
                return quote(said, 200)
    return quote(ex.body, 200) if ex.body.strip() else "an empty body"


def tries(ex: Exchange) -> list[int | None]:
    """The status of every try of this request, oldest first (None where no answer came)."""
    return [a.get("status") for a in ex.attempts] + [ex.status]


def reproducible(ex: Exchange) -> bool:
    """Every try of the request, and there was more than one, got a 5xx the server does not call temporary."""
    statuses = tries(ex)
    return len(statuses) > 1 and all(isinstance(s, int) and server_error(s) and s != TEMPORARY for s in statuses)


def server_error(status: int) -> bool:
    return 500 <= status < 600


def refusal(status: int) -> bool:
    """The server declined the request as asked: a 4xx, or a 501 saying it does not implement it."""
    return 400 <= status < 500 or status == NOT_IMPLEMENTED


def said_status(status: int) -> str:
    """A rejection's status as a reader needs it: a 501 is retried as a server error by both SDKs."""
    if status == NOT_IMPLEMENTED:
        return f"{status} Not Implemented (both SDKs raise InternalServerError for it, after retrying it)"
    return str(status)


def not_a_server_error(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in exchanges:
        if ex.status is not None and server_error(ex.status) and not refusal(ex.status):
            statuses = ", ".join(str(s) for s in tries(ex))
            if reproducible(ex):
                yield SERVER_ERROR.finding(
                    f"reproducible server error: {ex.status} on all {len(tries(ex))} tries ({statuses}): "
                    f"{server_words(ex)}"
                )
            else:
                yield SERVER_ERROR_ONCE.finding(
                    f"{ex.status} after {len(tries(ex))} try(ies) ({statuses}), not reproduced on every try: "
                    f"{server_words(ex)}"
                )
        if ex.status is not None and refusal(ex.status):
            yield REJECTION.finding(f"{ex.method} answered {said_status(ex.status)}: {server_words(ex)}")
        if ex.status == 429:
            yield RATE_LIMITED.finding(
                f"got 429 (retry-after: {ex.headers.get('retry-after', 'absent')}): {quote(ex.body)}"
            )


def key_accepted(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Not a common check: a probe that sends a bad key on purpose expects the 401."""
    for ex in exchanges:
        if ex.status in (401, 403):
            yield AUTH.finding(
                f"got {ex.status}: the key was refused, so this cell says nothing of the feature: {quote(ex.body)}"
            )


def valid_utf8(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in exchanges:
        if ex.invalid_utf8:
            where = "event stream" if ex.is_stream else "body"
            yield UTF8.finding(f"expected UTF-8, the {where} holds invalid bytes (shown as U+FFFD): {quote(ex.body)}")


def no_json_bom(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A JSON body after a byte order mark: both SDKs read it, Go's encoding/json and jq do not."""
    for ex in exchanges:
        if not ex.is_stream and ex.body.startswith(BOM) and ex.json_or_none() is not None:
            yield JSON_BOM.finding(
                f"expected the JSON body to start at its first byte, got a BOM first: {quote(ex.body)}"
            )


def expected_status_class(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in exchanges:
        if ex.status is not None and not (200 <= ex.status < 300 or 400 <= ex.status < 600):
            location = ex.headers.get("location")
            where = f" to {quote(location)}" if location else ""
            yield STATUS_CLASS.finding(f"expected a 2xx or an error, got {ex.status}{where}: {quote(ex.body)}")


def error_envelope(body: object) -> bool:
    """An error and no Response: `{"error": ...}` set, or vLLM's `{"object": "error", "message": ...}`; a failed
    Response carries its `error` too, and its `status` or `output` tell it apart even without `object`."""
    if not isinstance(body, dict) or body.get("object") == "response" or "status" in body or "output" in body:
        return False
    return body.get("object") == "error" or body.get("error") not in (None, "", {})


def no_error_in_success(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A refusal under a 2xx reaches the client as an answer: the Python SDK raises TypeError reading its
    output_text, the Node SDK reads output_text undefined, and neither raises the error it was."""
    for ex in exchanges:
        if ex.status is not None and 200 <= ex.status < 300 and error_envelope(view(ex).body):
            yield ERROR_IN_SUCCESS.finding(
                f"expected a 4xx or 5xx with the error, got {ex.status}: {server_words(ex)}; the SDKs read it "
                "as a Response (Python raises TypeError on output_text, Node's output_text is undefined)"
            )


def rejection_is_error_object(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """SHOULD: a JSON body with error.message, the rest well typed. The status already picks the SDKs' exception
    class; the envelope is what they say why with (without an `error` key the Node SDK's message is
    "400 status code (no body)", the Python SDK keeps the body in `e.body`)."""
    for ex in exchanges:
        if ex.status is None or ex.status < 400:
            continue
        if ex.content_type != "application/json":
            yield ERROR_CONTENT_TYPE.finding(
                f"expected content-type application/json for a {ex.status}, got {quote(ex.content_type)}"
            )
        body = ex.json_or_none()
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            yield ERROR_OBJECT.finding(
                f'expected a JSON body {{"error": {{"message": ...}}}} with the {ex.status}, got {quote(ex.body)}'
            )
            continue
        absent = [k for k in ("type", "param", "code") if k not in error]
        if absent:
            yield ERROR_FIELDS.finding(f"error object lacks {', '.join(absent)}: {quote(error, 200)}")
        for problem in error_object_problems(body)[:3]:
            yield ERROR_FIELDS.finding(f"error object is not as the SDK types it: {problem}")


COMMON_CHECKS = (
    not_a_transport_error,
    not_a_server_error,
    expected_status_class,
    valid_utf8,
    no_json_bom,
    no_error_in_success,
    rejection_is_error_object,
)

CASSETTE = rule("harness.cassette", Level.MUST, "the cell's cassette is readable")
NOT_RECORDED = rule("harness.not_recorded", Level.INFO, "the probe has a cassette to replay")
BUDGET = rule("harness.budget", Level.MUST, "the run's time budget (--budget) lasted until the cell started")
