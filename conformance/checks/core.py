"""Checks on a (non-streamed or final) Response object: shape, status, text, usage, echoes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from conformance import safejson
from conformance.checks import Check
from conformance.checks.echo import absent, absent_echo
from conformance.checks.rules import Tag, quote, rule
from conformance.checks.view import view
from conformance.evidence import Exchange, Finding, Level
from conformance.jsonpath import MISSING
from conformance.openapi import stricter_problems
from conformance.schemas import missing_listed_fields, response_problems, summary

JSON_BODY = rule("core.json_body", Level.MUST, "without `stream`, the body is one JSON Response, not SSE")
SCHEMA = rule(
    "response.schema", Level.MUST, "the Response has every field the SDK types require, well typed", home=("core",)
)
FIELDS = rule("response.fields", Level.SHOULD, "the Response carries every field the SDK types list")
OBJECT = rule(
    "response.object",
    Level.MUST,
    "a JSON Response says object 'response': the Node SDK adds output_text to no other",
    home=("core",),
)
REFERENCE = rule(
    "response.reference",
    Level.SHOULD,
    "the Response keeps what the published API reference adds to the SDK types: "
    "whole-second timestamps, its enums, required fields even when null",
)
COMPLETED = rule("response.completed", Level.MUST, "a finished response has status 'completed'")
# The server's own word that the answer failed decides the cell, as a cut answer's reason does: what else breaks
# (no text, a stream without its terminal event) follows from it.
FAILED = rule(
    "response.failed",
    Level.MUST,
    "the server does not report the answer failed: a Response with an `error`, or an error event in the stream",
)
INCOMPLETE = rule(
    "response.incomplete",
    Level.MUST,
    "an answer is not cut short (status incomplete) unless the request set the max_output_tokens that cut it",
)
OUTPUT_TEXT = rule("response.output_text", Level.MUST, "the output holds a message with non-empty output_text")
# A refusal part is how the API says the model declined; the probes ask plain questions, so a client that gets one
# gets no answer: the SDKs' output_text leaves it out (parse()'s output_parsed is None), the Agents SDK raises
# ModelRefusalError, LangChain's text is empty. Not IGNORED: declining is no sign that the request was ignored.
REFUSAL = rule(
    "response.refusal",
    Level.MUST,
    "the answer is not a refusal part: on one, the SDKs read no output_text and the Agents SDK raises",
)
USAGE = rule(
    "response.usage",
    Level.SHOULD,
    "usage is present, no count negative or a placeholder 0, and total_tokens = input_tokens + output_tokens",
)
ECHO_INSTRUCTIONS = rule("response.instructions_echo", Level.SHOULD, "the Response echoes the request's instructions")
MENTIONS = rule(
    "semantic.answer_mentions",
    Level.MUST,
    "the answer contains the word the prompt asked for",
    tag=Tag.SEMANTIC,
    effect=True,
)


def response_body(ex: Exchange) -> Any:
    """The Response object of an exchange: the JSON body, or a stream's terminal event's response."""
    return view(ex).response


def text_parts(body: Any) -> list[dict[str, Any]]:
    """Every output_text part of every message item, in order."""
    return message_parts(body, "output_text")


def message_parts(body: Any, kind: str) -> list[dict[str, Any]]:
    """Every content part of type `kind` of every message item, in order."""
    output = body.get("output") if isinstance(body, dict) else None
    return [
        part
        for item in (output if isinstance(output, list) else [])
        if isinstance(item, dict) and item.get("type") == "message" and isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, dict) and part.get("type") == kind
    ]


def refusal_text(body: Any) -> str:
    """The text of every refusal part, joined: what the Agents SDK raises ModelRefusalError with when not empty."""
    return "".join(part["refusal"] for part in message_parts(body, "refusal") if isinstance(part.get("refusal"), str))


def output_text(body: Any) -> str:
    """All output_text of all message items, joined: what `response.output_text` gives in the SDK."""
    return "".join(part["text"] for part in text_parts(body) if isinstance(part.get("text"), str))


RouteKind = Literal["create", "count", "retrieve", "input_items", "delete", ""]


@dataclass(frozen=True)
class Route:
    """What a request asks of the Responses API, read off its method and path ("" for anything else), and
    the response id the path names. One reading for the checks and both SDK columns, so none disagree."""

    kind: RouteKind
    response_id: str = ""


def route(ex: Exchange) -> Route:
    return route_of(ex.method, ex.url)


def route_of(method: str, url: str) -> Route:
    """`route` of a request not yet sent: its method and URL (or path under the base URL)."""
    try:
        parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    except ValueError:
        return Route("")
    if method == "POST" and parts[-1:] == ["responses"]:
        return Route("create")
    if method == "POST" and parts[-2:] == ["responses", "input_tokens"]:
        return Route("count")
    if method == "GET" and len(parts) >= 3 and parts[-3] == "responses" and parts[-1] == "input_items":
        return Route("input_items", parts[-2])
    if method in ("GET", "DELETE") and len(parts) >= 2 and parts[-2] == "responses":
        return Route("retrieve" if method == "GET" else "delete", parts[-1])
    return Route("")


def is_create(ex: Exchange) -> bool:
    """A POST to /responses itself: the request that creates a Response."""
    return route(ex).kind == "create"


def on_creates(checks: Iterable[Check]) -> tuple[Check, ...]:
    """Each check over the creates alone. A DELETE's answer, an item list or a token count that a probe also
    asked for is no Response, and the Response checks read the last answer as one. A GET of the Response
    made (state.delete's first look) is left out too: it only shows the response can be found."""

    def created(check: Check) -> Check:
        @functools.wraps(check)
        def only_creates(exchanges: Sequence[Exchange]) -> Iterable[Finding]:
            return check([ex for ex in exchanges if is_create(ex)])

        return only_creates

    return tuple(created(check) for check in checks)


def _ok(exchanges: Sequence[Exchange]) -> list[Exchange]:
    return [ex for ex in exchanges if ex.status is not None and 200 <= ex.status < 300]


def json_body(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        if ex.is_stream or ex.content_type == "text/event-stream":
            yield JSON_BODY.finding(f"`stream` was not set, yet the server answered {quote(ex.content_type)}")
        elif ex.content_type != "application/json":
            yield JSON_BODY.finding(
                f"expected content-type application/json, got {quote(ex.content_type)}: {quote(ex.body)}"
            )
        elif not isinstance(ex.json_or_none(), dict):
            why = safejson.problem(ex.body)
            yield JSON_BODY.finding(
                f"expected a JSON object (content-type {quote(ex.content_type)}), got {quote(ex.body)}"
                + (f" ({why})" if why else "")
            )


def response_schema(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for ex in _ok(exchanges):
        body = response_body(ex)
        if body is None:
            continue
        if not ex.is_stream and isinstance(body, dict) and body.get("object") != "response":
            yield OBJECT.finding(
                f"expected object 'response', got {quote(body.get('object'))}: "
                "the Node SDK's response.output_text is undefined on it"
            )
        problems = response_problems(body)
        if problems:
            yield SCHEMA.finding(summary(problems))
        for path, lacking in missing_listed_fields(body).items():
            yield FIELDS.finding(f"{path} lacks {len(lacking)} listed field(s): {', '.join(lacking)}")
        stricter = stricter_problems(body, sdk_problems=problems)
        if stricter:
            yield REFERENCE.finding(summary(stricter))


def response_completed(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A cut answer is reported as cut, with its reason: the effects it was to show cannot be judged."""
    ok = _ok(exchanges)
    if not ok:
        return
    body = response_body(ok[-1])
    status = body.get("status") if isinstance(body, dict) else None
    if status == "incomplete" and isinstance(body, dict):
        details = body.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        sent = ok[-1].request_json()
        limit = sent.get("max_output_tokens") if isinstance(sent, dict) else None
        if limit is not None and reason == "max_output_tokens":
            return  # the limit the request asked for
        usage = body.get("usage")
        used = usage.get("output_tokens") if isinstance(usage, dict) else None
        asked = "no max_output_tokens sent" if limit is None else f"max_output_tokens {quote(limit)} sent"
        yield INCOMPLETE.finding(
            f"the answer was cut: status 'incomplete', incomplete_details.reason {quote(reason)} "
            f"after {quote(used)} output tokens ({asked})"
        )
    elif status != "completed":
        said = reported_error(ok[-1])
        if said and (status is not None or view(ok[-1]).is_stream):  # not an error envelope: http.error_in_success
            ended = "no final Response" if status is None else f"status {quote(status)}"
            yield FAILED.finding(f"{said} ({ended}, not 'completed')")
        else:
            yield COMPLETED.finding(f"expected status 'completed', got {quote(status)}")


def reported_error(ex: Exchange) -> str | None:
    """The error the server reported inside a 2xx, in its words: a failed Response's `error`, or a stream's
    error event, so the cell's reason says why it failed. That event is the Responses `error` event, or an
    event of Chat Completions' `{"error": {...}}`, as gateways send a failure met mid-stream (LiteLLM's proxy,
    OpenRouter): both SDKs raise APIError with its message."""
    v = view(ex)
    response = v.response
    said = response.get("error") if isinstance(response, dict) else None
    if not isinstance(said, dict):
        said = next((error for e in reversed(v.events) if (error := _event_error(e.payload)) is not None), None)
    if not isinstance(said, dict):
        return None
    code, message = said.get("code"), said.get("message")
    words = [quote(w, 200) for w in (code, message) if w not in (None, "")]
    return "the server reported " + ": ".join(words) if words else None


def _event_error(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The error an event reports: a Responses `error` event itself, or Chat Completions' `{"error": {...}}`."""
    if payload is None:
        return None
    if payload.get("type") == "error":  # its fields flat, as the reference has them, or nested under `error`, as
        nested = payload.get("error")  # LocalAI sends them (both SDKs raise APIError with that error.message)
        return nested if isinstance(nested, dict) else payload
    error = payload.get("error") if "type" not in payload else None
    return error if isinstance(error, dict) else None


def has_output_text(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A refusal is said in the model's words, with or without output_text beside it: either way clients lose it."""
    ok = _ok(exchanges)
    if not ok:
        return
    body = response_body(ok[-1])
    refused = refusal_text(body)
    if refused.strip():
        yield REFUSAL.finding(f"the model refused: {quote(refused, 300)}")
    elif not output_text(body).strip() and not called_under_none(ok[-1], body):
        output = body.get("output") if isinstance(body, dict) else body
        yield OUTPUT_TEXT.finding(f"expected a message with output_text, got output {quote(output, 200)}")


def called_under_none(ex: Exchange, body: Any) -> bool:
    """A call in answer to a request whose `tool_choice: none` forbade one: the call came instead of the text, which
    is the setting ignored (`tools.choice_none`, IGNORED), not a second breach beside it. Ollama drops tool_choice
    and answers the call alone; llama-server and vLLM write it as text, already IGNORED: one effect, one verdict."""
    sent = ex.request_json()
    return isinstance(sent, dict) and sent.get("tool_choice") == "none" and _calls(body)


def _calls(body: Any) -> bool:
    """Whether the Response's output holds a function_call item."""
    output = body.get("output") if isinstance(body, dict) else None
    return isinstance(output, list) and any(isinstance(i, dict) and i.get("type") == "function_call" for i in output)


def usage_consistent(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A negative count parses in every client and is added up as it is: the Agents SDK's usage and LangChain's
    usage_metadata then report it, so a user's token accounting goes wrong without a word. So does a count of 0
    where there were tokens to count: any input costs prompt tokens, any answer output tokens (SGLang's gpt-oss
    path sent 0 for both, sgl-project/sglang#10012), and every client reports the 0."""
    ok = _ok(exchanges)
    if not ok:
        return
    body = response_body(ok[-1])
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        yield USAGE.finding(f"expected a usage object, got {quote(usage)}")
        return
    sent, made, total = (usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens"))
    if not (isinstance(sent, int) and isinstance(made, int) and isinstance(total, int)):
        yield USAGE.finding(f"expected integer input/output/total tokens, got {quote(usage, 200)}")
    elif min(sent, made, total) < 0:
        yield USAGE.finding(f"expected token counts of zero or more, got {quote(usage, 200)}")
    elif sent + made != total:
        yield USAGE.finding(f"expected total_tokens {sent} + {made} = {sent + made}, got {total}")
    elif sent == 0 and _has_input(ok[-1].request_json()):
        yield USAGE.finding("expected input_tokens above 0 for a request with input, got 0")
    elif made == 0 and _has_output(body):
        yield USAGE.finding("expected output_tokens above 0 for an answer with output, got 0")


def _has_input(request: Any) -> bool:
    """Whether a create asked the model something: a prompt of it costs tokens."""
    return isinstance(request, dict) and any(request.get(key) for key in ("input", "instructions"))


def _has_output(body: Any) -> bool:
    """Whether the model produced something: answer text or a function call, each at least one token."""
    return _calls(body) or bool(output_text(body).strip())


def echoes_instructions(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Other instructions echoed are a SHOULD; none echoed (absent or null) is the echo gap of checks/echo.py."""
    ok = _ok(exchanges)
    if not ok:
        return
    request = ok[-1].request_json()
    sent = request.get("instructions", MISSING) if isinstance(request, dict) else MISSING
    if sent is MISSING:
        return
    body = response_body(ok[-1])
    got = body.get("instructions", MISSING) if isinstance(body, dict) else MISSING
    if absent(got):
        yield absent_echo("instructions", sent)
    elif sent != got:
        yield ECHO_INSTRUCTIONS.finding(f"expected instructions {quote(sent)}, got {quote(got)}")


def answer_mentions(word: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """A semantic check: the final answer contains `word` (case-insensitive)."""

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        if not ok:
            return
        text = output_text(response_body(ok[-1]))
        if word.lower() not in text.lower():
            yield MENTIONS.finding(f"expected the answer to mention {word!r}, got {quote(text)}")

    check.__name__ = f"answer_mentions_{word.lower()}"
    return check


RESPONSE_CHECKS = (json_body, response_schema, response_completed, has_output_text, usage_consistent)
