"""Every rule of the core checks modules can fire, and a conformant exchange fires none.

Each case is a hand-made broken exchange (see tests/exchanges.py) and a piece of evidence the
finding's message must quote. The meta-test fails when a rule declared in checks/__init__, http,
core, errors or streaming has no case that fires it, so a rule added there without a failing test
breaks the build. Feature-group modules (checks/tools.py, ...) prove their own rules the same way,
each in its own test file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest

import conformance.checks
from conformance.checks import RULES, Check, core, echo, errors, http, run_checks, streaming
from conformance.checks.core import RESPONSE_CHECKS, answer_mentions, echoes_instructions
from conformance.checks.errors import rejected_with
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.structured import STRUCTURED_CHECKS
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.probes import BY_ID, Expect
from conformance.probes.streaming import FINAL_CHECKS
from conformance.runner import Target, judge, run_cell
from conformance.schedule import Deadline, over_budget
from conformance.session import not_run
from conformance.sse import parse_events
from conformance.transports import CassetteError
from conformance.verdict import Decision, decide, verdict
from tests.exchanges import (
    MODEL,
    RESPONSE_ID,
    conformant_response,
    conformant_stream,
    error_exchange,
    exchange,
    json_exchange,
    raw_exchange,
    request,
    retried,
    stream_exchange,
    transport_error,
)
from tests.rulecases import Case, assert_fires, checked, declared_in, fired

STREAM = (*STREAM_CHECKS, *FINAL_CHECKS)
PROPER_ERROR = error_exchange().body
BRIEF_REQUEST = request(instructions="Be brief.")
TARGET = Target("test-provider", "http://conformance.invalid/v1", semantic=True)

Events = list[dict[str, Any]]


def response(change: Callable[[dict[str, Any]], object]) -> Exchange:
    """The conformant JSON answer after `change` edits its body in place."""
    body = conformant_response()
    change(body)
    return json_exchange(body)


def stream(change: Callable[[Events], object] | None = None, **kwargs: Any) -> Exchange:
    """The conformant stream after `change` edits its event list in place."""
    events = conformant_stream()
    if change is not None:
        change(events)
    return stream_exchange(events, **kwargs)


def renumbered(events: Events) -> None:
    for i, event in enumerate(events):
        event["sequence_number"] = i


def insert(index: int, event: dict[str, Any]) -> Callable[[Events], None]:
    def change(events: Events) -> None:
        events.insert(index, event)
        renumbered(events)

    return change


def drop(index: int) -> Callable[[Events], None]:
    def change(events: Events) -> None:
        del events[index]
        renumbered(events)

    return change


def move(source: int, target: int) -> Callable[[Events], None]:
    def change(events: Events) -> None:
        events.insert(target, events.pop(source))
        renumbered(events)

    return change


def setting(index: int, path: str, value: Any) -> Callable[[Events], None]:
    """Set a dotted path ("response.output.0.id") inside event `index`."""

    def change(events: Events) -> None:
        *parents, last = path.split(".")
        target: Any = events[index]
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value

    return change


def deleting(index: int, key: str) -> Callable[[Events], None]:
    return lambda events: events[index].pop(key)


def replacing(index: int, payload: Any) -> Callable[[Events], None]:
    """Put `payload` in place of event `index`; a str is sent as raw, non-JSON data."""
    return lambda events: events.__setitem__(index, payload)


CALL = {
    "type": "function_call",
    "id": "fc_test",
    "call_id": "call_test",
    "name": "get_weather",
    "arguments": '{"city": "Paris"}',
    "status": "completed",
}


def then_a_call(final_order: Sequence[int]) -> Exchange:
    """The conformant stream with a function_call item streamed after its message; the final Response lists the two
    items in `final_order`, as mistral.rs lists its function calls before the message it streamed first
    (mistralrs-server-core/src/responses.rs, build_current_response)."""
    events = conformant_stream()
    where = {"item_id": CALL["id"], "output_index": 1}
    events[9:9] = [
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**CALL, "arguments": "", "status": "in_progress"},
        },
        {"type": "response.function_call_arguments.delta", **where, "delta": CALL["arguments"]},
        {
            "type": "response.function_call_arguments.done",
            **where,
            "name": CALL["name"],
            "arguments": CALL["arguments"],
        },
        {"type": "response.output_item.done", "output_index": 1, "item": CALL},
    ]
    final = events[-1]["response"]
    items = [*final["output"], CALL]
    final["output"] = [items[i] for i in final_order]
    renumbered(events)
    return stream_exchange(events)


def boom(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    raise RuntimeError("kaput")


def unreadable_cassette() -> list[Finding]:
    def transport_for(probe: object, model: str) -> httpx.BaseTransport:
        raise CassetteError("cassettes/x.json", "unknown cassette version 9")

    cell = run_cell(BY_ID["core.text_input"], MODEL, TARGET, transport_for)
    assert cell.status is Status.ERROR
    return list(cell.findings)


def out_of_budget() -> list[Finding]:
    """The rule's firing in a real session is tested in test_pacing.py."""
    return list(over_budget(TARGET, MODEL, BY_ID["core.text_input"], Deadline(0.0)).findings)


def never_recorded() -> list[Finding]:
    return list(not_run(TARGET, MODEL, BY_ID["core.text_input"], "no cassette at cassettes/x.json").findings)


# The conformant stream, by index: 0 created, 1 in_progress, 2 output_item.added, 3 content_part.added,
# 4 delta "Hel", 5 delta "lo.", 6 output_text.done, 7 content_part.done, 8 output_item.done, 9 completed.
CASES = [
    # harness
    Case(
        "harness.check_crashed",
        "raising check",
        checked([boom], json_exchange(conformant_response())),
        "boom: RuntimeError: kaput",
    ),
    Case(
        "harness.transport",
        "timeout",
        checked(COMMON_CHECKS, transport_error("ReadTimeout: timed out")),
        "ReadTimeout",
    ),
    Case(
        "harness.rate_limited",
        "429",
        checked(COMMON_CHECKS, exchange(status=429, headers={"retry-after": "7"}, body="slow down")),
        "retry-after: 7",
    ),
    Case(
        "harness.auth",
        "bad key",
        checked([http.key_accepted], error_exchange(401)),
        "got 401: the key was refused",
    ),
    Case(
        "http.utf8",
        "latin-1",
        checked(COMMON_CHECKS, replace(json_exchange(conformant_response()), invalid_utf8=True)),
        "expected UTF-8, the body holds invalid bytes",
    ),
    Case(
        "http.json_bom",
        "a byte order mark first",
        checked(
            COMMON_CHECKS, raw_exchange("\ufeff" + json.dumps(conformant_response()), content_type="application/json")
        ),
        "got a BOM first",
    ),
    Case(
        "http.status_class",
        "redirect",
        checked(COMMON_CHECKS, exchange(status=307, headers={"location": "/v1/responses"})),
        "got 307 to '/v1/responses'",
    ),
    Case(
        "http.status_class",
        "a code past 599",
        checked(COMMON_CHECKS, raw_exchange("oops", status=600)),
        "expected a 2xx or an error, got 600: 'oops'",
    ),
    Case("harness.cassette", "bad version", unreadable_cassette, "unknown cassette version 9"),
    Case("harness.not_recorded", "no cassette", never_recorded, "no cassette at cassettes/x.json"),
    Case("harness.budget", "budget spent", out_of_budget, "the run's budget of 0s was spent"),
    # http
    Case(
        "http.not_server_error",
        "500 on every try",
        checked(COMMON_CHECKS, retried(error_exchange(500, {"message": "boom", "type": "server_error"}), 500, 500)),
        "reproducible server error: 500 on all 3 tries (500, 500, 500): 'boom'",
    ),
    Case(
        "http.not_server_error",
        "different 5xx on every try",
        checked(COMMON_CHECKS, retried(raw_exchange("Bad Gateway", status=502), 500)),
        "on all 2 tries (500, 502): 'Bad Gateway'",
    ),
    Case(
        "http.server_error_transient",
        "503 says temporary",
        checked(COMMON_CHECKS, retried(raw_exchange("upstream down", status=503), 503, 503)),
        "503 after 3 try(ies) (503, 503, 503), not reproduced on every try: 'upstream down'",
    ),
    Case(
        "http.server_error_transient",
        "not retried",
        checked(COMMON_CHECKS, raw_exchange("upstream down", status=500)),
        "500 after 1 try(ies) (500)",
    ),
    Case(
        "http.server_error_transient",
        "after a failed connect",
        checked(COMMON_CHECKS, retried(raw_exchange("oops", status=500), None)),
        "(None, 500)",
    ),
    Case(
        "http.rejection",
        "error envelope",
        checked(COMMON_CHECKS, error_exchange(400)),
        "POST answered 400: \"Missing required parameter: 'input'.\"",
    ),
    Case(
        "http.rejection",
        "gateway body",
        checked(COMMON_CHECKS, json_exchange({"message": "Invalid API key"}, status=401)),
        "answered 401: 'Invalid API key'",
    ),
    Case(
        "http.rejection",
        "framework detail",
        checked(COMMON_CHECKS, json_exchange({"detail": [{"loc": ["body"], "msg": "bad"}]}, status=422)),
        "answered 422: [{'loc': ['body'], 'msg': 'bad'}]",
    ),
    Case(
        "http.rejection",
        "empty body",
        checked(COMMON_CHECKS, raw_exchange("", status=404)),
        "answered 404: an empty body",
    ),
    Case(
        "http.rejection",
        "501 Not Implemented",
        checked(COMMON_CHECKS, retried(error_exchange(501, {"message": "Only 'auto' tool_choice"}), 501, 501)),
        "answered 501 Not Implemented (both SDKs raise InternalServerError for it, after retrying it): \"Only 'auto'",
    ),
    Case(
        "http.error_in_success",
        "error envelope under a 200",
        checked(
            COMMON_CHECKS, json_exchange({"error": {"message": "input is required", "type": "invalid_request_error"}})
        ),
        "expected a 4xx or 5xx with the error, got 200: 'input is required'",
    ),
    Case(
        "http.error_in_success",
        "vLLM's top-level envelope under a 200",
        checked(COMMON_CHECKS, json_exchange({"object": "error", "message": "The model `x` does not exist."})),
        "got 200: 'The model `x` does not exist.'",
    ),
    Case(
        "error.object",
        "no error key",
        checked(COMMON_CHECKS, json_exchange({"detail": "bad"}, status=400)),
        '\'{"detail": "bad"}\'',
    ),
    Case(
        "error.object",
        "plain text",
        checked(COMMON_CHECKS, raw_exchange("Bad Request", status=400)),
        "'Bad Request'",
    ),
    Case(
        "error.fields",
        "absent",
        checked(COMMON_CHECKS, error_exchange(400, {"message": "bad"})),
        "lacks type, param, code",
    ),
    Case(
        "error.fields",
        "mistyped",
        checked(COMMON_CHECKS, error_exchange(400, {"message": "bad", "type": 1, "param": None, "code": None})),
        "error.type: expected string, got integer 1",
    ),
    Case(
        "error.content_type",
        "text/plain",
        checked(COMMON_CHECKS, exchange(status=400, headers={"content-type": "text/plain"}, body=PROPER_ERROR)),
        "got 'text/plain'",
    ),
    # errors
    Case(
        "error.rejected",
        "served",
        checked([rejected_with(400)], json_exchange(conformant_response())),
        "expected a 400, got 200",
    ),
    Case(
        "error.client_status",
        "500",
        checked([rejected_with(400)], raw_exchange("oops", status=500)),
        "expected a 400, got 500",
    ),
    Case("error.status_code", "422", checked([rejected_with(400)], error_exchange(422)), "expected 400, got 422"),
    # core
    Case("core.json_body", "streamed", checked(RESPONSE_CHECKS, stream()), "answered 'text/event-stream'"),
    Case("core.json_body", "not json", checked(RESPONSE_CHECKS, raw_exchange("Hello.")), "got 'text/plain': 'Hello.'"),
    Case(
        "core.json_body",
        "json as text",
        checked(RESPONSE_CHECKS, raw_exchange("Hello.", content_type="application/json")),
        "expected a JSON object (content-type 'application/json'), got 'Hello.'",
    ),
    Case(
        "response.schema",
        "no id",
        checked(RESPONSE_CHECKS, response(lambda b: b.pop("id"))),
        "response lacks required id",
    ),
    Case(
        "response.schema",
        "created_at a string",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(created_at="yesterday"))),
        "response.created_at: expected number, got string 'yesterday'",
    ),
    Case(
        "response.schema",
        "item role",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0].update(role="user"))),
        "response.output[0].role",
    ),
    Case(
        "response.schema",
        "output not a list",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(output=5))),
        "response.output: expected array, got integer 5",
    ),
    Case(
        "response.schema",
        "item type a list",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0].update(type=["message"]))),
        "unknown output item type ['message']",
    ),
    Case(
        "response.schema",
        "nested field of a nullable union",
        checked(RESPONSE_CHECKS, response(lambda b: b["usage"].pop("output_tokens_details"))),
        "response.usage lacks required output_tokens_details",
    ),
    Case(
        "response.schema",
        "content part of no known type",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0]["content"][0].update(type="text"))),
        "response.output[0].content[0]: expected type 'output_text' or type 'refusal', got an object of type 'text'",
    ),
    Case(
        "response.reference",
        "created_at a float",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(created_at=1_700_000_000.25))),
        "response.created_at: expected format 'unixtime', got number 1700000000.25",
    ),
    Case(
        "response.reference",
        "required nested field absent",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0]["content"][0].pop("logprobs"))),
        "response.output[0].content[0] lacks required logprobs",
    ),
    Case(
        "response.object",
        "absent",
        # Bifrost's /openai/v1/responses answered without `object` (https://github.com/maximhq/bifrost/issues/1638).
        checked(RESPONSE_CHECKS, response(lambda b: b.pop("object"))),
        "expected object 'response', got None: the Node SDK's response.output_text is undefined on it",
    ),
    Case(
        "response.object",
        "Chat Completions' object",
        # LiteLLM's proxy answered /responses with object 'chat.completion' (https://github.com/BerriAI/litellm/issues/16624).
        checked(RESPONSE_CHECKS, response(lambda b: b.update(object="chat.completion"))),
        "expected object 'response', got 'chat.completion'",
    ),
    Case(
        "response.fields",
        "no top_p",
        checked(RESPONSE_CHECKS, response(lambda b: b.pop("top_p"))),
        "response lacks 1 listed field(s): top_p",
    ),
    Case(
        "response.fields",
        "item without phase",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0].pop("phase"))),
        "response.output[0] lacks 1 listed field(s): phase",
    ),
    Case(
        "response.completed",
        "failed",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(status="failed"))),
        "got 'failed'",
    ),
    Case(
        "response.failed",
        "failed with the server's error",
        checked(
            RESPONSE_CHECKS,
            response(lambda b: b.update(status="failed", error={"code": "server_error", "message": "Out of memory"})),
        ),
        "the server reported 'server_error': 'Out of memory' (status 'failed', not 'completed')",
    ),
    Case(
        # Hand-made: a gateway's failure met mid-stream, sent as Chat Completions sends one (LiteLLM's proxy
        # yields `data: {"error": {...}}`; OpenRouter documents the same mid-stream): both SDKs raise APIError.
        "response.failed",
        "an error object in Chat Completions' form ends the stream",
        checked(
            (*STREAM, *RESPONSE_CHECKS),
            stream_exchange(
                [*conformant_stream()[:5], {"error": {"message": "upstream closed", "type": None, "code": "500"}}]
            ),
        ),
        "the server reported '500': 'upstream closed' (no final Response, not 'completed')",
    ),
    Case(
        "response.incomplete",
        "cut by the server's own cap",
        checked(
            RESPONSE_CHECKS,
            response(lambda b: b.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})),
        ),
        "incomplete_details.reason 'max_output_tokens' after 1 output tokens (no max_output_tokens sent)",
    ),
    Case(
        "response.incomplete",
        "cut by a content filter despite a limit",
        checked(
            RESPONSE_CHECKS,
            replace(
                response(lambda b: b.update(status="incomplete", incomplete_details={"reason": "content_filter"})),
                request_body=request(max_output_tokens=64),
            ),
        ),
        "reason 'content_filter'",
    ),
    Case(
        "response.echo_absent",
        "no text.format echo",
        checked(
            STRUCTURED_CHECKS,
            json_exchange(
                {**conformant_response(), "text": None},
                request_body=request(text={"format": {"type": "json_object"}}),
            ),
        ),
        "text.format {'type': 'json_object'} was sent and the Response has no text.format",
    ),
    Case(
        "response.output_text",
        "no output",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(output=[]))),
        "got output []",
    ),
    Case(
        "response.output_text",
        "blank text",
        checked(RESPONSE_CHECKS, response(lambda b: b["output"][0]["content"][0].update(text="  "))),
        "'text': '  '",
    ),
    Case(
        "response.refusal",
        "refusal part",
        # Hand-made: OpenAI's refusal shape, a refusal part where the answer's output_text would be.
        checked(
            RESPONSE_CHECKS,
            response(lambda b: b["output"][0].update(content=[{"type": "refusal", "refusal": "I can't help."}])),
        ),
        'the model refused: "I can\'t help."',
    ),
    Case(
        "response.usage",
        "absent",
        checked(RESPONSE_CHECKS, response(lambda b: b.update(usage=None))),
        "expected a usage object, got None",
    ),
    Case(
        "response.usage",
        "wrong total",
        checked(RESPONSE_CHECKS, response(lambda b: b["usage"].update(total_tokens=99))),
        "got 99",
    ),
    Case(
        "response.usage",
        "string count",
        checked(RESPONSE_CHECKS, response(lambda b: b["usage"].update(input_tokens="9"))),
        "'input_tokens': '9'",
    ),
    Case(
        # Hand-made: a negative count that still adds up. Every client takes it as it is (the Agents SDK's usage and
        # LangChain's usage_metadata report output_tokens -1), so the user's accounting is wrong without a word.
        "response.usage",
        "negative count",
        checked(RESPONSE_CHECKS, response(lambda b: b["usage"].update(output_tokens=-1, total_tokens=8))),
        "expected token counts of zero or more, got {",
    ),
    Case(
        # Hand-made, as SGLang's gpt-oss path answered (sgl-project/sglang#10012): input_tokens 0 for a prompt, so
        # total_tokens is the output alone; every client reports the 0.
        "response.usage",
        "placeholder input count",
        checked(RESPONSE_CHECKS, response(lambda b: b["usage"].update(input_tokens=0, total_tokens=1))),
        "expected input_tokens above 0 for a request with input, got 0",
    ),
    Case(
        # Hand-made: every count 0 (the same path's "TODO: these are all 0 for now") beside an answer.
        "response.usage",
        "placeholder output count",
        checked(
            RESPONSE_CHECKS,
            response(lambda b: b["usage"].update(input_tokens=9, output_tokens=0, total_tokens=9)),
        ),
        "expected output_tokens above 0 for an answer with output, got 0",
    ),
    Case(
        "response.instructions_echo",
        "other instructions",
        checked(
            [echoes_instructions],
            json_exchange({**conformant_response(), "instructions": "Be verbose."}, request_body=BRIEF_REQUEST),
        ),
        "expected instructions 'Be brief.', got 'Be verbose.'",
    ),
    Case(
        "semantic.answer_mentions",
        "absent word",
        checked([answer_mentions("pineapple")], json_exchange(conformant_response())),
        "'pineapple', got 'Hello.'",
    ),
    # streaming
    Case(
        "stream.is_sse",
        "json answer",
        checked(STREAM, json_exchange(conformant_response())),
        "got 'application/json'",
    ),
    Case("stream.is_sse", "no events", checked(STREAM, stream_exchange([])), "empty event stream"),
    Case("stream.data_json", "not json", checked(STREAM, stream(replacing(4, "Hel"))), "got 'Hel'"),
    Case(
        "stream.data_json",
        "a BOM before an event's data: both SDKs' JSON parsers refuse it there",
        checked(STREAM, stream(lambda e: e.__setitem__(4, "\ufeff" + json.dumps(e[4])))),
        "got '\\ufeff{",
    ),
    Case(
        "stream.data_json",
        "no type",
        checked(STREAM, stream(replacing(4, {"delta": "Hel"}))),
        'got \'{"delta": "Hel"}\'',
    ),
    Case(
        "stream.event_field",
        "unnamed",
        checked(STREAM, stream(names=False)),
        "10 of 10 events lack an `event:` line",
    ),
    Case(
        "stream.event_matches_type",
        "message",
        checked(STREAM, stream(names=["message"] + [e["type"] for e in conformant_stream()[1:]])),
        "expected `event: response.created`, got `event: message`",
    ),
    Case(
        "stream.event_name_thread",
        "thread name",
        checked(STREAM, stream(names=["thread.run.created"] + [e["type"] for e in conformant_stream()[1:]])),
        "1 of 10 events are named `thread.*`, first event #0 response.created (`event: thread.run.created`)",
    ),
    Case(
        "stream.event_schema",
        "delta a number",
        checked(STREAM, stream(setting(4, "delta", 5))),
        "response.output_text.delta.delta: expected string, got integer 5",
    ),
    Case(
        "stream.event_schema",
        "no item_id",
        checked(STREAM, stream(deleting(4, "item_id"))),
        "lacks required item_id",
    ),
    Case(
        "stream.event_fields",
        "no logprobs",
        checked(STREAM, stream(deleting(6, "logprobs"))),
        "response.output_text.done events lack listed field(s): logprobs",
    ),
    Case(
        "stream.known_event_type",
        "invented",
        checked(STREAM, stream(insert(9, {"type": "response.heartbeat"}))),
        "'response.heartbeat'",
    ),
    Case("stream.created_first", "missing", checked(STREAM, stream(drop(0))), "got event #0 response.in_progress"),
    Case(
        "stream.in_progress_second",
        "missing",
        checked(STREAM, stream(drop(1))),
        "got event #1 response.output_item.added",
    ),
    Case("stream.terminal_last", "missing", checked(STREAM, stream(drop(9))), "no terminal event"),
    Case(
        "stream.terminal_last",
        "twice",
        checked(STREAM, stream(lambda e: e.append(copy.deepcopy(e[9])))),
        "expected one terminal event, got 2",
    ),
    Case(
        "stream.terminal_last",
        "early",
        checked(STREAM, stream(move(9, 8))),
        "got event #9 response.output_item.done after it",
    ),
    Case(
        "stream.sequence_number_present",
        "absent",
        checked(STREAM, stream(deleting(5, "sequence_number"))),
        "first event #5 response.output_text.delta (got None)",
    ),
    Case(
        "stream.sequence_number_present",
        "string",
        checked(STREAM, stream(setting(5, "sequence_number", "5"))),
        "(got '5')",
    ),
    Case(
        "stream.sequence_number_increasing",
        "backwards",
        checked(STREAM, stream(setting(6, "sequence_number", 3))),
        "expected sequence_number > 5, got 3",
    ),
    Case(
        "stream.grammar",
        "item never opened",
        checked(STREAM, stream(drop(2))),
        "output_index 0 was not opened by output_item.added",
    ),
    Case("stream.grammar", "part left open", checked(STREAM, stream(drop(7))), "content part(s) [0] still open"),
    Case("stream.grammar", "item never closed", checked(STREAM, stream(drop(8))), "output item(s) [0] never closed"),
    Case(
        "stream.grammar",
        "delta after done",
        checked(STREAM, stream(move(5, 6))),
        "after the done event of the same content",
    ),
    Case(
        "stream.response_id",
        "completed under another id",
        # LiteLLM's Responses streaming iterator rewrote the id of response.completed alone (its
        # tests/test_litellm/responses/test_responses_streaming_iterator.py: "applies model ID updates only
        # to completed responses"), so response.created and response.completed named two Responses.
        checked(STREAM, stream(setting(9, "response.id", "resp_encoded"))),
        "event #9 response.completed: expected the Response id 'resp_test' that event #0 response.created gave, "
        "got 'resp_encoded'",
    ),
    Case(
        "stream.response_output",
        "no output in response.created",
        # llama.cpp's llama-server opens its stream with a Response of id, object and status alone (its
        # shipped cassettes hold it), which the Node SDK's accumulator cannot take as its snapshot.
        checked(STREAM, stream(setting(0, "response", {"id": RESPONSE_ID, "object": "response"}))),
        "expected the Response of every lifecycle event to hold an output list, got none in event #0 response.created",
    ),
    Case(
        "stream.item_lists",
        "message opened with content null",
        checked(STREAM, stream(setting(2, "item.content", None))),
        "message item 'msg_test' was opened by output_item.added with content None, not a list",
    ),
    Case(
        "stream.indices",
        "item_id",
        checked(STREAM, stream(setting(4, "item_id", "msg_other"))),
        "expected item_id 'msg_test' (output_index 0), got 'msg_other'",
    ),
    Case(
        "stream.indices",
        "closed item's id",
        checked(STREAM, stream(setting(8, "item.id", "msg_other"))),
        "response.output_item.done: expected item_id 'msg_test' (output_index 0), got 'msg_other'",
    ),
    Case(
        "stream.indices",
        "content_index a string",
        checked(STREAM, stream(setting(4, "content_index", "0"))),
        "expected an integer content_index, got '0'",
    ),
    Case(
        "stream.indices",
        "a message's first part at content_index 1",
        # vLLM's gpt-oss stream kept counting content parts across items, so the message after a reasoning item
        # opened its first part at content_index 1 (https://github.com/vllm-project/vllm/issues/45742).
        checked(STREAM, stream(lambda e: [ev.update(content_index=1) for ev in e if "content_index" in ev])),
        "response.content_part.added: expected content_index 0, the part's place in the item, got 1",
    ),
    Case(
        "stream.indices",
        "a part after those the item came with",
        checked(
            STREAM,
            stream(
                lambda e: (
                    setting(2, "item.content", [{"type": "output_text", "text": "", "annotations": []}])(e),
                    [ev.update(content_index=2) for ev in e if "content_index" in ev],
                )
            ),
        ),
        "expected content_index 1, the part's place in the item, got 2",
    ),
    Case(
        "stream.indices",
        "output_index 1 first",
        checked(STREAM, stream(setting(2, "output_index", 1))),
        "expected output_index 0, got 1",
    ),
    Case(
        "stream.done_events",
        "no output_text.done",
        checked(STREAM, stream(drop(6))),
        "response.output_text.delta not closed by response.output_text.done (index 0)",
    ),
    Case(
        "stream.done_sentinel",
        "trailing [DONE]",
        checked(STREAM, stream(lambda e: e.append("[DONE]"))),
        "event #10: `data: [DONE]` after the last event",
    ),
    Case(
        "stream.data_json",
        "[DONE] before the end",
        checked(STREAM, stream(lambda e: e.insert(8, "[DONE]"))),
        "event #8 ?: expected a JSON object with a `type`, got '[DONE]'",
    ),
    Case(
        "stream.grammar",
        "part closed over an open part",
        checked(STREAM, stream(insert(4, {**conformant_stream()[3], "content_index": 1}))),
        "content_index 0 closed while content_index 1 inside it is still open",
    ),
    Case(
        "stream.text_concat",
        "done text",
        checked(STREAM, stream(setting(6, "text", "Help."))),
        "concatenation 'Hello.', got 'Help.'",
    ),
    Case(
        "stream.text_concat",
        "part text",
        checked(STREAM, stream(setting(7, "part.text", "Hullo."))),
        "expected part text 'Hello.', got 'Hullo.'",
    ),
    Case(
        "stream.text_concat",
        "final text",
        checked(STREAM, stream(setting(9, "response.output.0.content.0.text", "Goodbye."))),
        "streamed text 'Hello.', got 'Goodbye.'",
    ),
    Case(
        "stream.final_items",
        "item id",
        checked(STREAM, stream(setting(9, "response.output.0.id", "msg_other"))),
        "got [('msg_other', 'message')]",
    ),
    Case("stream.final_items", "no items", checked(STREAM, stream(setting(9, "response.output", []))), "got []"),
    Case(
        "stream.final_items",
        "a streamed call missing",
        checked(STREAM, then_a_call([0])),
        "expected output items (id, type) [('msg_test', 'message'), ('fc_test', 'function_call')], "
        "got [('msg_test', 'message')]",
    ),
    Case(
        "stream.final_order",
        "the call listed first",
        checked(STREAM, then_a_call([1, 0])),
        "in the order streamed, [('msg_test', 'message'), ('fc_test', 'function_call')], "
        "got [('fc_test', 'function_call'), ('msg_test', 'message')]",
    ),
    Case(
        "stream.incremental",
        "buffered",
        checked(STREAM, stream(offsets=[5.0] * 10)),
        "all 10 events arrived at once, at 5.0 ms",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    findings = assert_fires(case)
    assert all(f.level is RULES[f.rule].level for f in findings)


CORE_RULES = declared_in(conformance.checks, http, core, errors, streaming, echo)


def test_every_core_rule_has_a_broken_exchange_that_fires_it() -> None:
    assert fired(CASES) == CORE_RULES
    assert set(RULES) >= CORE_RULES


def test_conformant_json_response_has_no_findings() -> None:
    checks = (*COMMON_CHECKS, *RESPONSE_CHECKS, echoes_instructions, answer_mentions("hello"))
    assert run_checks(checks, [json_exchange(conformant_response())]) == []


@pytest.mark.parametrize("pieces", [("Hello.",), ("Hel", "lo."), ("", "Hi", " there", "!")])
def test_conformant_stream_has_no_findings(pieces: tuple[str, ...]) -> None:
    checks = (*COMMON_CHECKS, *STREAM, answer_mentions("".join(pieces).strip() or "hi"))
    assert run_checks(checks, [stream_exchange(conformant_stream(pieces))]) == []


def test_a_trailing_done_marker_is_information_and_leaves_the_stream_passing() -> None:
    """The official SDK stops at `data: [DONE]` without error, so the streaming cells must not fail for it."""
    broken = stream(lambda e: e.append("[DONE]"))
    findings = run_checks((*COMMON_CHECKS, *STREAM), [broken])
    assert [(f.rule, f.level) for f in findings] == [("stream.done_sentinel", Level.INFO)]
    assert verdict(Expect.WORKS, [broken], findings) is Status.PASS


@pytest.mark.parametrize(("marker", "stops"), [("[DONE] ", True), ("[DONE]\r", True), (" [DONE]", False)])
def test_the_done_marker_is_what_the_sdks_take_for_one(marker: str, stops: bool) -> None:
    """The SDKs stop at data that starts with [DONE]; `data:  [DONE]` (two spaces) they parse as JSON, and raise."""
    from conformance.checks.sdk import complaint, sdk_reads

    broken = stream(lambda e: e.append(marker))
    findings = run_checks((*COMMON_CHECKS, *STREAM), [broken])
    sdk_said = complaint(next(sdk_reads([broken])))
    if stops:
        assert [f.rule for f in findings] == ["stream.done_sentinel"] and sdk_said is None
    else:
        assert [f.rule for f in findings if f.level is Level.MUST] == ["stream.data_json"]
        assert "stream.done_sentinel" not in {f.rule for f in findings}
        assert "JSONDecodeError" in str(sdk_said)


def test_text_agreement_reads_the_deltas_when_no_done_event_carries_the_text() -> None:
    """Deltas that match the final text agree with it, though no output_text.done came: no "streamed text ''"."""
    findings = run_checks(STREAM, [stream(drop(6))])
    assert [f.rule for f in findings] == ["stream.done_events"]
    wrong = run_checks(
        STREAM, [stream(lambda e: (drop(6)(e), setting(8, "response.output.0.content.0.text", "Bye.")(e)))]
    )
    assert any("streamed text 'Hello.', got 'Bye.'" in f.message for f in wrong if f.rule == "stream.text_concat")


def test_items_without_output_index_are_followed_by_the_id_they_carry() -> None:
    """output_item.done carries its id in `item.id`: a server that omits output_index gets one finding
    per omission (stream.indices), not a false "already closed" on the first item."""
    events = conformant_stream()
    second = [copy.deepcopy(e) for e in events[2:9]]
    for e in second:
        if "item" in e:
            e["item"]["id"] = "msg_two"
        if "item_id" in e:
            e["item_id"] = "msg_two"
    events[8:8] = second[:1]  # the second item opens before the first one closes
    events[10:10] = second[1:]
    events[-1]["response"]["output"].append({**events[-1]["response"]["output"][0], "id": "msg_two"})
    for e in events:
        e.pop("output_index", None)
    renumbered(events)
    rules = {f.rule for f in run_checks(STREAM, [stream_exchange(events)])}
    assert "stream.indices" in rules
    assert not rules & {"stream.grammar", "stream.final_items", "stream.text_concat"}, rules


def test_stream_checks_declare_their_scope() -> None:
    from conformance.checks.view import Scope

    assert {getattr(check, "scope", None) for check in STREAM_CHECKS} == {Scope.EVERY_OK}


def test_conformant_stream_still_passes_after_a_trip_through_the_sse_parser() -> None:
    """The fixture's events, framed as bytes and parsed back, are what a recorded stream would hold."""
    wire = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in conformant_stream()).encode()
    events, pending = parse_events([(float(i), wire[i : i + 50]) for i in range(0, len(wire), 50)])
    assert not pending
    parsed = exchange(headers={"content-type": "text/event-stream"}, events=events)
    assert run_checks((*COMMON_CHECKS, *STREAM), [parsed]) == []


@pytest.mark.parametrize("echo", [None, "absent"])
def test_instructions_not_echoed_are_the_echo_gap_not_the_probes_should(echo: str | None) -> None:
    """Absent or null, the echo is a field the Response lacks: information here, judged in core by the shape rules."""
    body = conformant_response()
    if echo is None:
        body["instructions"] = None
    else:
        del body["instructions"]
    findings = run_checks([echoes_instructions], [json_exchange(body, request_body=BRIEF_REQUEST)])
    assert [(f.rule, f.level) for f in findings] == [("response.echo_absent", Level.INFO)]


def test_instructions_echoed_as_sent_pass() -> None:
    body = {**conformant_response(), "instructions": "Be brief."}
    assert run_checks([echoes_instructions], [json_exchange(body, request_body=BRIEF_REQUEST)]) == []


@pytest.mark.parametrize("sent", ["true", "[1]", '"Be brief."', "{"])
def test_echo_check_reads_a_request_body_that_is_not_an_object(sent: str) -> None:
    """A replayed cassette may hold any request body; with no instructions sent, none are expected back."""
    assert run_checks([echoes_instructions], [json_exchange(conformant_response(), request_body=sent)]) == []


@pytest.mark.parametrize("status", [400, 404])
def test_clean_rejection_has_only_the_servers_reason(status: int) -> None:
    findings = run_checks((*COMMON_CHECKS, rejected_with(status)), [error_exchange(status)])
    assert [(f.rule, f.level) for f in findings] == [("http.rejection", Level.INFO)]


def judged(expect: Expect, checks: Sequence[Check], *exchanges: Exchange) -> Status:
    """The verdict on the findings the checks really produce, not on hand-picked ones."""
    return verdict(expect, exchanges, run_checks((*COMMON_CHECKS, *checks), exchanges))


VERDICTS = [
    (Status.PASS, Expect.WORKS, RESPONSE_CHECKS, [json_exchange(conformant_response())]),
    (Status.PASS, Expect.REJECTED, [rejected_with(400)], [error_exchange(400)]),
    (Status.NON_STRICT, Expect.WORKS, RESPONSE_CHECKS, [response(lambda b: b.update(usage=None))]),
    (Status.NON_STRICT, Expect.REJECTED, [rejected_with(400)], [error_exchange(422)]),
    (Status.FAIL, Expect.WORKS, RESPONSE_CHECKS, [response(lambda b: b.update(status="incomplete"))]),
    (Status.FAIL, Expect.WORKS, RESPONSE_CHECKS, [retried(raw_exchange("boom", status=500), 500, 500)]),
    (Status.UNSUPPORTED, Expect.WORKS, RESPONSE_CHECKS, [json_exchange({"detail": "bad"}, status=400)]),
    (Status.NON_STRICT, Expect.REJECTED, [rejected_with(401)], [json_exchange({"message": "bad key"}, status=401)]),
    (Status.IGNORED, Expect.WORKS, STREAM, [json_exchange(conformant_response())]),
    (Status.IGNORED, Expect.REJECTED, [rejected_with(400)], [json_exchange(conformant_response())]),
    (Status.UNSUPPORTED, Expect.WORKS, RESPONSE_CHECKS, [error_exchange(400)]),
    (Status.ACCEPTED, Expect.UNOBSERVABLE, RESPONSE_CHECKS, [json_exchange(conformant_response())]),
    (Status.ERROR, Expect.WORKS, RESPONSE_CHECKS, []),
    (Status.ERROR, Expect.WORKS, RESPONSE_CHECKS, [transport_error()]),
    (Status.ERROR, Expect.WORKS, RESPONSE_CHECKS, [raw_exchange("upstream down", status=502)]),
    (Status.ERROR, Expect.WORKS, RESPONSE_CHECKS, [retried(raw_exchange("busy", status=503), 503, 503)]),
    (Status.ERROR, Expect.WORKS, [boom], [json_exchange(conformant_response())]),
    # a code past 599 breaks the protocol once, not only when it repeats; a rejection probe says so too
    (Status.FAIL, Expect.WORKS, RESPONSE_CHECKS, [raw_exchange("oops", status=600)]),
    (Status.FAIL, Expect.WORKS, RESPONSE_CHECKS, [retried(raw_exchange("oops", status=999), 999, 999)]),
    (Status.FAIL, Expect.REJECTED, [rejected_with(400)], [error_exchange(600)]),
    # 501 Not Implemented is the server declining the feature, once or on every try
    (Status.UNSUPPORTED, Expect.WORKS, RESPONSE_CHECKS, [error_exchange(501)]),
    (Status.UNSUPPORTED, Expect.WORKS, RESPONSE_CHECKS, [retried(error_exchange(501), 501, 501)]),
    # an invalid request: a 5xx on every try FAILs, one that did not repeat says nothing (ERROR)
    (Status.FAIL, Expect.REJECTED, [rejected_with(400)], [retried(raw_exchange("boom", status=500), 500, 500)]),
    (Status.FAIL, Expect.REJECTED, [rejected_with(400)], [retried(error_exchange(501), 501, 501)]),
    (Status.FAIL, Expect.REJECTED, [rejected_with(400)], [error_exchange(501)]),  # a refusal, if once: no blip
    (Status.ERROR, Expect.REJECTED, [rejected_with(400)], [raw_exchange("bad gateway", status=502)]),
    (Status.ERROR, Expect.REJECTED, [rejected_with(400)], [retried(raw_exchange("busy", status=503), 503, 503)]),
    # refused, but under a 200: clients read the error as a Response
    (Status.FAIL, Expect.REJECTED, [rejected_with(400)], [json_exchange({"error": {"message": "input is required"}})]),
]


def test_a_json_body_after_a_bom_is_read_as_the_sdks_read_it() -> None:
    """Both SDKs skip a byte order mark before a JSON body (response.json()), so the answer works: NON-STRICT,
    not the FAIL of a body that is not JSON. Hand-made answers."""
    body = "\ufeff" + json.dumps(conformant_response())
    answered = replace(raw_exchange(body, content_type="application/json"), request_body=request())
    status, findings = judge(BY_ID["core.text_input"], [answered], True)
    assert status is Status.NON_STRICT and [f.rule for f in findings] == ["http.json_bom"]
    rejected = raw_exchange("\ufeff" + PROPER_ERROR, status=400, content_type="application/json")
    assert {f.rule for f in run_checks(COMMON_CHECKS, [rejected], True)} == {"http.rejection", "http.json_bom"}


@pytest.mark.parametrize("status", [600, 999])
def test_a_code_past_599_is_the_status_class_not_a_server_error(status: int) -> None:
    exchanges = [retried(raw_exchange("oops", status=status), status, status)]
    findings = run_checks((*COMMON_CHECKS, rejected_with(400)), exchanges)
    musts = [f for f in findings if f.level is Level.MUST]
    assert [f.rule for f in musts] == ["http.status_class"]
    assert decide(Expect.WORKS, exchanges, findings) == Decision(Status.FAIL, musts[0])


@pytest.mark.parametrize(
    ("expected", "expect", "checks", "exchanges"),
    VERDICTS,
    ids=[f"{status.value}-{expect.value}-{i}" for i, (status, expect, _, _) in enumerate(VERDICTS)],
)
def test_verdict(expected: Status, expect: Expect, checks: Sequence[Check], exchanges: list[Exchange]) -> None:
    assert judged(expect, checks, *exchanges) is expected


def test_every_status_a_verdict_can_give_is_covered() -> None:
    """NOT RUN is set by the session for cells without a cassette, never by verdict()."""
    assert {status for status, *_ in VERDICTS} == set(Status) - {Status.NOT_RUN}


def test_a_generic_shape_rule_is_judged_at_home_and_information_elsewhere() -> None:
    from conformance.checks.core import SCHEMA
    from conformance.runner import judge

    body = conformant_response()
    del body["tools"]
    exchanges = [json_exchange(body)]
    home_status, home = judge(BY_ID["core.text_input"], exchanges, semantic=False)
    away_status, away = judge(BY_ID["parameters.user"], exchanges, semantic=False)
    assert home_status is Status.NON_STRICT and home[0].rule == SCHEMA.id and home[0].level is Level.SHOULD
    moved = next(f for f in away if f.rule == SCHEMA.id)
    assert away_status is Status.ACCEPTED and moved.level is Level.INFO
    assert moved.message.endswith("(judged in the core column)")


def test_a_stream_without_usage_is_judged_in_streaming_as_a_json_answer_is_in_core() -> None:
    """Hand-made: a stream whose response.completed carries no usage (servers that count only when asked, or send
    the count in an event of their own). The Agents SDK's streamed run then counts zero tokens, as it does for a JSON
    answer without usage, which core reads NON-STRICT; the stream read PASS everywhere."""
    events = conformant_stream()
    events[-1]["response"]["usage"] = None
    home_status, home = judge(BY_ID["streaming.text"], [stream_exchange(events)], semantic=False)
    away_status, away = judge(BY_ID["parameters.stream_options"], [stream_exchange(events)], semantic=False)
    assert (home_status, home[0].rule, home[0].level) == (Status.NON_STRICT, "response.usage", Level.SHOULD)
    assert (away_status, away[0].rule, away[0].level) == (Status.ACCEPTED, "response.usage", Level.INFO)


def test_a_shape_must_that_breaks_the_sdk_fails_every_column_it_shows_in() -> None:
    """Output indices that are not integers break the SDK's stream accumulator, in a structured stream too."""
    from conformance.runner import judge

    events = conformant_stream()
    for event in events:
        event.pop("output_index", None)
    home_status, home = judge(BY_ID["streaming.text"], [stream_exchange(events)], semantic=False)
    away_status, away = judge(BY_ID["parameters.stream_options"], [stream_exchange(events)], semantic=False)
    assert (home_status, home[0].rule) == (Status.FAIL, "stream.indices")
    assert (away_status, away[0].rule, away[0].level) == (Status.FAIL, "stream.indices", Level.MUST)


@pytest.mark.parametrize("name", ["message", "error", "response.output_text.delta"])
def test_an_event_name_that_is_not_the_type_breaks_no_sdk_and_is_a_should_at_home(name: str) -> None:
    """Both SDKs read an event's `type` and pass over its `event:` name, so a wrong name loses no client anything."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    renamed = [stream_exchange(conformant_stream(), names=[name] * len(conformant_stream()))]
    home_status, home = judge(BY_ID["streaming.text"], renamed, semantic=False)
    away_status, away = judge(BY_ID["parameters.stream_options"], renamed, semantic=False)
    assert [complaint(read) for read in sdk_reads(renamed)] == [None]
    assert (home_status, home[0].rule, home[0].level) == (Status.NON_STRICT, "stream.event_matches_type", Level.SHOULD)
    assert away_status is not Status.FAIL
    assert {f.level for f in away if f.rule == "stream.event_matches_type"} == {Level.INFO}


@pytest.mark.parametrize("numbers", [[0] * 10, [0, 1, 2, 3, 3, 5, 6, 7, 8, 9], [0, 1, 2, 3, 4, 1, 6, 7, 8, 9]])
def test_sequence_numbers_out_of_step_break_no_client_and_are_a_should_at_home(numbers: list[int]) -> None:
    """Hand-made fixtures: both SDKs read sequence_number only to resume a stream after `starting_after`, so a
    create stream numbered all 0, repeated or backwards reaches them whole, in the order its events came."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    events = [{**event, "sequence_number": n} for event, n in zip(conformant_stream(), numbers, strict=True)]
    exchanges = [stream_exchange(events, request_body=request(stream=True))]
    assert [complaint(read) for read in sdk_reads(exchanges)] == [None]
    home_status, home = judge(BY_ID["streaming.text"], exchanges, semantic=False)
    away_status, away = judge(BY_ID["parameters.stream_options"], exchanges, semantic=False)
    assert (home_status, home[0].rule) == (Status.NON_STRICT, "stream.sequence_number_increasing")
    assert away_status is not Status.FAIL
    assert {f.level for f in away if f.rule == "stream.sequence_number_increasing"} == {Level.INFO}


def test_a_message_opened_without_its_content_list_fails_every_stream_column() -> None:
    """Hand-made fixture: output_item.added's message carries content null. The required field alone would be a
    SHOULD judged in the streaming column, but both SDKs' accumulators append the next part to it and raise."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    exchanges = [stream(setting(2, "item.content", None))]
    assert "'NoneType' object has no attribute 'append'" in str(complaint(next(sdk_reads(exchanges))))
    for probe in ("streaming.text", "parameters.stream_options"):
        status, findings = judge(BY_ID[probe], exchanges, semantic=False)
        assert (status, findings[0].rule, findings[0].level) == (Status.FAIL, "stream.item_lists", Level.MUST)


def test_an_event_named_thread_fails_every_stream_column_as_the_sdks_lose_it() -> None:
    """Under a `thread.` name the SDKs yield {event, data}: the Python SDK's accumulator never sees response.created."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    renamed = [stream_exchange(conformant_stream(), names=["thread.message.delta"] * len(conformant_stream()))]
    assert "Expected to have received `response.created`" in str(complaint(next(sdk_reads(renamed))))
    for probe in ("streaming.text", "parameters.stream_options"):
        status, findings = judge(BY_ID[probe], renamed, semantic=False)
        assert (status, findings[0].rule) == (Status.FAIL, "stream.event_name_thread")


@pytest.mark.parametrize(
    "block",
    [b"event: ping\n\n", b"retry: 3000\n\n", b": keep-alive\n\n"],
    ids=["event only", "retry only", "comment after an id"],
)
def test_a_block_without_data_fails_the_stream_as_the_sdk_raises_on_it(block: bytes) -> None:
    """The SDKs dispatch such a block (openai-python #2722) and raise parsing its empty data, though WHATWG drops it.

    The comment is such a block only for the Python SDK, and only because an id was set before it."""
    from conformance.checks.sdk import complaint, sdk_reads, sse_bytes
    from conformance.runner import judge

    conformant = stream_exchange(conformant_stream())
    assert conformant.events is not None
    served = sse_bytes(conformant.events).split(b"\n\n")
    served[0] = b"id: 1\n" + served[0]
    served.insert(1, block.rstrip(b"\n"))
    events, _ = parse_events([(0.0, b"\n\n".join(served))])
    broken = [replace(conformant, events=tuple(events))]
    status, findings = judge(BY_ID["streaming.text"], broken, semantic=False)
    assert (status, findings[0].rule) == (Status.FAIL, "stream.data_json")
    assert "got an event with no data" in findings[0].message
    assert "JSONDecodeError" in str(complaint(next(sdk_reads(broken))))
    # the SDK columns are served the block as it came, with no `data:` line: the Node SDK dispatches only on `event:`
    again, _ = parse_events([(0.0, sse_bytes(events))])
    assert b"data: \n" not in sse_bytes(events) and [e.data for e in again] == [e.data for e in events]


def test_the_cells_first_finding_is_the_one_that_decided_it() -> None:
    """An UNSUPPORTED cell leads with the server's reason, not with a nit about its error object."""
    from conformance.runner import judge

    rejected = error_exchange(400, {"message": "previous_response_id is not supported", "code": 400})
    status, findings = judge(BY_ID["state.previous_response_id"], [rejected], semantic=False)
    assert status is Status.UNSUPPORTED
    assert findings[0].rule == "http.rejection" and "previous_response_id is not supported" in findings[0].message
    assert any(f.rule == "error.fields" and f.level is Level.INFO for f in findings)


# What vLLM answers a tool_choice its Harmony path cannot honour (vllm-project/vllm#53626), as a hand-made exchange.
VLLM_501 = {
    "message": "Only 'auto' or 'none' tool_choice is supported in response API with Harmony",
    "type": "NotImplementedError",
    "param": None,
    "code": 501,
}


def test_a_501_is_the_server_declining_the_feature_with_its_words() -> None:
    """Both SDKs raise InternalServerError for a 501 after retrying it, with the server's message: the feature is
    refused, not broken, so the cell is UNSUPPORTED and leads with why, however many tries got it."""
    answered = retried(error_exchange(501, VLLM_501), 501, 501)
    status, findings = judge(BY_ID["tools.choice_named"], [answered], semantic=False)
    assert status is Status.UNSUPPORTED
    assert findings[0].rule == "http.rejection" and "Only 'auto' or 'none' tool_choice" in findings[0].message
    assert not [f for f in findings if f.rule.startswith("http.not_server_error")]


def test_a_refusal_under_a_200_fails_with_the_servers_words_not_ignored() -> None:
    """worker-vllm answered an unknown model with a 200 and vLLM's error object (runpod-workers/worker-vllm#57);
    the Python SDK raises TypeError on its output_text, the Node SDK reads undefined. Not served: it was refused,
    but no client can tell, so FAIL, not IGNORED. Hand-made exchange of the issue's body."""
    body = {"code": 404, "message": "The model `nope` does not exist.", "object": "error", "param": None}
    status, findings = judge(BY_ID["errors.unknown_model"], [json_exchange({**body, "type": "NotFoundError"})], True)
    assert status is Status.FAIL
    assert findings[0].rule == "http.error_in_success" and "The model `nope` does not exist." in findings[0].message


@pytest.mark.parametrize(
    "body",
    [
        conformant_response(),
        {**conformant_response(), "status": "failed", "error": {"code": "server_error"}},
        {k: v for k, v in conformant_response().items() if k != "object"}
        | {"status": "failed", "error": {"code": "x"}},
    ],
    ids=["completed", "failed Response", "failed Response without object"],
)
def test_a_response_is_not_an_error_envelope(body: dict[str, Any]) -> None:
    """A Response carries `error` (null, or set when it failed): it is the answer the SDKs expect, not a refusal."""
    assert not [f for f in run_checks(COMMON_CHECKS, [json_exchange(body)]) if f.rule == "http.error_in_success"]


def test_openais_own_unknown_model_answer_passes() -> None:
    """OpenAI's /v1/responses answers an unknown model 400 model_not_found (chat completions answers 404): a server
    copying either is right. Hand-made exchange of that body."""
    said = {
        "message": "The requested model 'conformance-no-such-model' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    for code in (400, 404):
        status, findings = judge(BY_ID["errors.unknown_model"], [error_exchange(code, said)], True)
        assert status is Status.PASS, findings
    assert judge(BY_ID["errors.unknown_model"], [error_exchange(422, said)], True)[0] is Status.NON_STRICT


def test_a_failed_answer_says_what_the_server_reported() -> None:
    """A failed Response, or a stream that ends in an `error` event, FAILs with the server's own words as the reason
    (both SDKs stop there: Node throws the event, Python's get_final_response raises). Hand-made answers."""
    failed = {
        **conformant_response(),
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": "boom"},
    }
    status, findings = judge(BY_ID["core.text_input"], [json_exchange(failed)], True)
    assert status is Status.FAIL and findings[0].rule == "response.failed"
    assert findings[0].message == "the server reported 'server_error': 'boom' (status 'failed', not 'completed')"
    events = [*conformant_stream()[:3], {"type": "error", "code": "server_error", "message": "boom", "param": None}]
    status, findings = judge(BY_ID["streaming.text"], [stream_exchange(events)], True)
    assert status is Status.FAIL and "the server reported 'server_error': 'boom'" in findings[0].message
    # A stream ended by response.failed after some text: the server's words decide, not the text it never finished.
    ended = {"type": "response.failed", "sequence_number": 5, "response": failed}
    status, findings = judge(BY_ID["streaming.text"], [stream_exchange([*conformant_stream()[:5], ended])], True)
    assert status is Status.FAIL and findings[0].rule == "response.failed", findings


def test_an_error_event_nested_under_error_is_read_for_its_words() -> None:
    """Hand-made, LocalAI's shape (core/http/endpoints/openresponses/responses.go): an `error` event whose fields are
    nested under `error`, then response.failed carrying the created Response with `error` null, then [DONE]. Both SDKs
    raise APIError with that message, so the cell's reason quotes it too."""
    from conformance.checks.sdk import complaint, sdk_reads

    said = {"type": "model_error", "message": "model inference failed: backend died"}
    created = conformant_stream()[0]["response"]
    events = [
        *conformant_stream()[:2],
        {"type": "error", "sequence_number": 2, "error": said},
        {"type": "response.failed", "sequence_number": 3, "response": {**created, "status": "failed"}},
        "[DONE]",
    ]
    exchanges = [stream_exchange(events)]
    assert [complaint(read) for read in sdk_reads(exchanges)] == [
        "iterating the stream (after 2 SDK events) raised 'APIError: model inference failed: backend died' "
        "on a 200 text/event-stream answer"
    ]
    status, findings = judge(BY_ID["streaming.text"], exchanges, True)
    assert status is Status.FAIL
    assert (findings[0].rule, findings[0].message) == (
        "response.failed",
        "the server reported 'model inference failed: backend died' (status 'failed', not 'completed')",
    )


def test_every_graded_shape_rule_is_declared_and_declares_its_home() -> None:
    """A shape rule renamed where it is declared would silently lose its grading."""
    from conformance.checks.rules import SHAPES

    assert {rule: (RULES[rule].level, RULES[rule].home) for rule in SHAPES if rule in RULES} == {
        rule: (shape.level, shape.home) for rule, shape in SHAPES.items()
    }


@pytest.mark.parametrize(
    "usage",
    [
        # The usage of Chat Completions inside a Response, as the gateway documented in
        # xuzeyu91/Response2Chat (Response接口格式.md) answers /v1/responses.
        {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        None,
    ],
    ids=["chat-shaped", "null"],
)
def test_usage_is_judged_once_in_core_and_leaves_other_features_alone(usage: Any) -> None:
    """Hand-made fixture: the openai-agents and LangChain readers take such a usage as zero tokens and go on,
    so it is the core column's deviation, not one of every feature's cells."""
    from conformance.checks.core import USAGE
    from conformance.runner import judge

    body = {**conformant_response(), "usage": usage}
    home_status, home = judge(BY_ID["core.text_input"], [json_exchange(body)], semantic=False)
    away_status, away = judge(BY_ID["parameters.user"], [json_exchange(body)], semantic=False)
    assert home_status is Status.NON_STRICT and any(f.rule == USAGE.id and f.level is Level.SHOULD for f in home)
    assert away_status is Status.ACCEPTED and [f.level for f in away if f.rule == USAGE.id] == [Level.INFO]


def test_a_response_id_changed_mid_stream_fails_every_stream_column() -> None:
    """Hand-made fixture (LiteLLM's completed-only id rewrite, above): the openai SDK's stream accumulator raises
    "Lifecycle response identity changed" on it, so a working feature's stream is lost to that client too."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    events = conformant_stream()
    events[-1]["response"]["id"] = "resp_encoded"
    exchanges = [stream_exchange(events, request_body=request(stream=True))]
    said = [complaint(read) for read in sdk_reads(exchanges)]
    assert len(said) == 1 and "Lifecycle response identity changed" in str(said[0]), said
    for probe in ("streaming.text", "parameters.stream_options"):
        status, findings = judge(BY_ID[probe], exchanges, semantic=False)
        assert (status, findings[0].rule, findings[0].level) == (Status.FAIL, "stream.response_id", Level.MUST)


def test_a_lifecycle_response_without_output_fails_every_stream_column() -> None:
    """Hand-made fixture, llama-server's opening events (id, object and status alone): the Node SDK's accumulator
    raises "rsp.output is not iterable" at the first event, so the stream is lost to it whatever followed."""
    from conformance.runner import judge

    events = conformant_stream()
    for opening in events[:2]:
        opening["response"] = {"id": RESPONSE_ID, "object": "response", "status": "in_progress"}
    exchanges = [stream_exchange(events, request_body=request(stream=True))]
    for probe in ("streaming.text", "parameters.stream_options"):
        status, findings = judge(BY_ID[probe], exchanges, semantic=False)
        assert (status, findings[0].rule, findings[0].level) == (Status.FAIL, "stream.response_output", Level.MUST)


def test_the_streamed_items_in_another_order_lose_no_client_anything() -> None:
    """Hand-made fixture (mistral.rs's order, above): both SDKs take the terminal event's Response as the final one,
    and it holds every streamed item, so the order alone leaves a tool stream NON-STRICT, not FAIL."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.probes.tools import WEATHER
    from conformance.runner import judge

    reordered = replace(then_a_call([1, 0]), request_body=request(stream=True, tools=[WEATHER]))
    assert [complaint(read) for read in sdk_reads([reordered])] == [None]
    status, findings = judge(BY_ID["tools.stream"], [reordered], semantic=False)
    assert (status, findings[0].rule) == (Status.NON_STRICT, "stream.final_order")
    assert not {f.rule for f in findings} & {"stream.final_items", "stream.text_concat"}


def test_two_messages_in_another_order_are_compared_by_text_in_the_final_order() -> None:
    """The final output_text joins the messages in the final order; the streamed text, read in that order, agrees."""
    events = conformant_stream()
    second = [copy.deepcopy(e) for e in events[2:9]]
    for e in second:
        e["output_index"] = 1
        for holder in (e, e.get("item") or {}):
            if holder.get("item_id") == "msg_test":
                holder["item_id"] = "msg_two"
            if holder.get("id") == "msg_test":
                holder["id"] = "msg_two"
    second[2]["delta"], second[3]["delta"] = " Bye", "."
    second[4]["text"] = second[5]["part"]["text"] = second[6]["item"]["content"][0]["text"] = " Bye."
    events[9:9] = second
    final = events[-1]["response"]
    final["output"] = [copy.deepcopy(second[6]["item"]), *final["output"]]
    renumbered(events)
    findings = run_checks(STREAM, [stream_exchange(events)])
    assert [f.rule for f in findings] == ["stream.final_order"], findings


def test_a_part_opened_past_its_place_fails_as_both_sdks_raise() -> None:
    """Hand-made fixture (vLLM's content_index carried across items, above): the Python SDK's accumulator raises
    IndexError at the first delta, the Node SDK "missing content at index 1", so the stream is lost to both."""
    from conformance.checks.sdk import complaint, sdk_reads
    from conformance.runner import judge

    events = conformant_stream()
    for event in events:
        if "content_index" in event:
            event["content_index"] = 1
    exchanges = [stream_exchange(events, request_body=request(stream=True))]
    said = [complaint(read) for read in sdk_reads(exchanges)]
    assert len(said) == 1 and "IndexError" in str(said[0]), said
    status, findings = judge(BY_ID["streaming.text"], exchanges, semantic=False)
    assert (status, findings[0].rule) == (Status.FAIL, "stream.indices")
