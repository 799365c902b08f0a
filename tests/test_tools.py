"""Tools checks and probes: every rule fires on a broken exchange, and conformant answers fire none.

Every exchange here is hand-made with the builders of tests/exchanges.py plus the function-call
builders below: none came from a server.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Generator, Sequence
from typing import Any

import httpx
import pytest

from conformance.checks import RULES, run_checks
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.tools import (
    CALL_CHECKS,
    answer_uses_result,
    calls_every_tool,
    declared_tools,
    markup_in,
    streamed_calls,
)
from conformance.evidence import Exchange, Status
from conformance.probes import Probe, Request
from conformance.probes.tools import CHAT_WEATHER, PROBES, TIME, TOOL_RESULT, WEATHER
from conformance.runner import Target, judge, run_cell
from conformance.schemas import listed_fields
from tests.exchanges import (
    conformant_response,
    error_exchange,
    in_progress_response,
    json_exchange,
    message_item,
    request,
    stream_exchange,
)
from tests.rulecases import Case, assert_fires, checked, fired, judged

ARGS = '{"city": "Paris"}'
CHAT_UNSET = {"type": "function", "function": {k: v for k, v in CHAT_WEATHER["function"].items() if k != "strict"}}
BY_ID = {p.id: p for p in PROBES}
FORCE_TIME = {"type": "function", "name": "get_time"}
CHAT_FORCE_TIME = {"type": "function", "function": {"name": "get_time"}}
ALLOW_TIME = {"type": "allowed_tools", "mode": "required", "tools": [FORCE_TIME]}
CHAT_ALLOW_TIME = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [CHAT_FORCE_TIME]}}
Events = list[dict[str, Any]]
# Calls as servers have left them in the answer text, unparsed (hand-made in the shapes reported): gpt-oss's Harmony
# recipient and call token, and MiniMax's XML call.
HARMONY_CALL = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>'
MINIMAX_CALL = (
    '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n</invoke>\n'
    "</minimax:tool_call>"
)


def call_item(
    name: str = "get_weather", arguments: Any = ARGS, call_id: Any = "call_1", item_id: str = "fc_1", **extra: Any
) -> dict[str, Any]:
    """A completed function_call item with every field the SDK lists (null where OpenAI sends nothing)."""
    realistic = {"id": item_id, "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
    listed = {f: realistic.get(f) for f in listed_fields("output_item", "function_call")}
    return {**listed, "status": "completed", **extra}


def tool_response(sent: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
    """A completed Response with `output`, echoing the tool settings of the request `sent`."""
    body = conformant_response()
    body["output"] = output
    body["tools"] = [t if "function" not in t else {"type": "function", **t["function"]} for t in sent.get("tools", [])]
    body["tool_choice"] = sent.get("tool_choice", "auto")
    body["parallel_tool_calls"] = sent.get("parallel_tool_calls", True)
    return body


def calling(*items: dict[str, Any], text: str | None = None, **sent: Any) -> Exchange:
    """A hand-made JSON answer holding `items` (or the message `text`) to a request with `sent` fields."""
    sent = {"tools": [WEATHER], **sent}
    output = list(items) if text is None else conformant_response(text)["output"]
    return json_exchange(tool_response(sent, output), request_body=request(**sent))


def echoing(echo: dict[str, Any], **sent: Any) -> Exchange:
    """A hand-made answer with one call to a request with `sent` fields, whose echo fields are `echo`."""
    return json_exchange({**tool_response(sent, [call_item()]), **echo}, request_body=request(**sent))


def call_stream(
    pieces: Sequence[str] = ('{"city": ', '"Paris"}'),
    change: Callable[[Events], object] | None = None,
    sent: dict[str, Any] | None = None,
) -> Exchange:
    """A hand-made conformant stream of one function_call whose arguments arrive as `pieces`, to a request `sent`."""
    arguments = "".join(pieces)
    opened = call_item(arguments="", status="in_progress")
    where = {"item_id": "fc_1", "output_index": 0}
    sent = {"tools": [WEATHER]} if sent is None else sent
    events: Events = [
        {"type": "response.created", "response": in_progress_response()},
        {"type": "response.in_progress", "response": in_progress_response()},
        {"type": "response.output_item.added", "output_index": 0, "item": opened},
        *({"type": "response.function_call_arguments.delta", **where, "delta": p} for p in pieces),
        {"type": "response.function_call_arguments.done", **where, "arguments": arguments},
        {"type": "response.output_item.done", "output_index": 0, "item": call_item(arguments=arguments)},
        {"type": "response.completed", "response": tool_response(sent, [call_item(arguments=arguments)])},
    ]
    events = [{**e, "sequence_number": i} for i, e in enumerate(events)]
    if change is not None:
        change(events)
    return dataclasses.replace(
        stream_exchange(events), request_body=request(stream=True, **{k: v for k, v in sent.items() if k != "stream"})
    )


def renumbered(change: Callable[[Events], object]) -> Callable[[Events], None]:
    def apply(events: Events) -> None:
        change(events)
        for i, event in enumerate(events):
            event["sequence_number"] = i

    return apply


def round_trip(answer: str) -> list[Exchange]:
    """A hand-made first turn with a call, then a text answer to the request carrying its output."""
    second = {"input": [{"type": "function_call_output", "call_id": "call_1", "output": TOOL_RESULT}]}
    return [calling(call_item()), calling(text=answer, **second)]


# Conformant stream, by index: 0 created, 1 in_progress, 2 output_item.added, 3-4 deltas, 5 arguments.done,
# 6 output_item.done, 7 completed.
CASES = [
    Case(
        "tools.call_made",
        "prose",
        checked(CALL_CHECKS, calling(text="It is sunny in Paris.")),
        "got output types ['message'] with text 'It is sunny in Paris.'",
    ),
    Case("tools.call_made", "empty output", checked(CALL_CHECKS, calling()), "got output types []"),
    Case(
        "tools.call_shape",
        "empty call_id",
        checked(CALL_CHECKS, calling(call_item(call_id=""))),
        "expected a non-empty call_id, got ''",
    ),
    Case(
        "tools.call_shape",
        "duplicate call_id",
        checked(CALL_CHECKS, calling(call_item(), call_item(item_id="fc_2"))),
        "expected unique call_ids, got 'call_1' twice",
    ),
    Case(
        "tools.call_shape",
        "undeclared name",
        checked(CALL_CHECKS, calling(call_item(name="get_wether"))),
        "expected the name of a declared tool ['get_weather'], got 'get_wether'",
    ),
    Case(
        "tools.arguments_json",
        "not json",
        checked(CALL_CHECKS, calling(call_item(arguments="{city: Paris}"))),
        "got '{city: Paris}'",
    ),
    Case(
        "tools.arguments_json",
        "an object, not a string",
        checked(CALL_CHECKS, calling(call_item(arguments={"city": "Paris"}))),
        "got {'city': 'Paris'}",
    ),
    Case(
        # Hand-made, the shape servers give a call to a tool without parameters. Kept a MUST although the Agents SDK
        # reads '' as {}: LangChain files the call under invalid_tool_calls and answers '' (its loop ends with no
        # call made), and both SDKs' responses.parse() raise on it for a strict tool. 'null' makes LangChain raise.
        "tools.arguments_json",
        "empty, for a tool without parameters",
        checked(CALL_CHECKS, calling(call_item(arguments=""), tools=[{**WEATHER, "parameters": {"type": "object"}}])),
        "expected arguments as a string holding a JSON object, got ''",
    ),
    Case(
        "tools.arguments_json",
        "a JSON array",
        checked(CALL_CHECKS, calling(call_item(arguments='["Paris"]'))),
        "got '[\"Paris\"]'",
    ),
    Case(
        "tools.arguments_valid",
        "wrong property",
        checked(CALL_CHECKS, calling(call_item(arguments='{"town": "Paris"}'))),
        "$: 'city' is a required property",
    ),
    Case(
        "tools.arguments_valid",
        "chat-shaped strict tool",
        checked(CALL_CHECKS, calling(call_item(arguments='{"city": 75}'), tools=[CHAT_WEATHER])),
        "$.city: 75 is not of type 'string'",
    ),
    Case(
        "tools.arguments_valid_loose",
        "non-strict tool",
        checked(CALL_CHECKS, calling(call_item(arguments="{}"), tools=[{**WEATHER, "strict": False}])),
        "'get_weather' (strict: False)",
    ),
    Case(
        "tools.arguments_valid_loose",
        "chat-shaped tool, strict by default off",
        checked(CALL_CHECKS, calling(call_item(arguments="{}"), tools=[CHAT_UNSET])),
        "'city' is a required property",
    ),
    Case(
        "tools.no_markup_in_text",
        "hermes tags",
        checked(CALL_CHECKS, calling(text='<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>')),
        "tool-call syntax '<tool_call>'",
    ),
    Case(
        "tools.no_markup_in_text",
        "bare JSON call",
        checked(CALL_CHECKS, calling(text='{"name": "get_weather", "arguments": {"city": "Paris"}}')),
        'tool-call syntax \'"name": "get_weather"\'',
    ),
    Case(
        "tools.no_markup_in_text",
        "gpt-oss Harmony call left in the text",
        checked(CALL_CHECKS, calling(text=HARMONY_CALL)),
        "tool-call syntax 'to=functions.'",
    ),
    Case(
        "tools.no_markup_in_text",
        "MiniMax XML call left in the text",
        checked(CALL_CHECKS, calling(text=MINIMAX_CALL)),
        "tool-call syntax '<minimax:tool_call>'",
    ),
    Case(
        "tools.choice_none",
        "called anyway",
        checked(CALL_CHECKS, calling(call_item(), tool_choice="none")),
        "expected no call with tool_choice 'none', got calls to ['get_weather']",
    ),
    Case(
        "tools.choice_none",
        "called as text",
        checked(CALL_CHECKS, calling(text="[TOOL_CALLS]get_weather", tool_choice="none")),
        "got a call written as text ('[TOOL_CALLS]')",
    ),
    Case(
        "tools.choice_named",
        "other tool",
        checked(CALL_CHECKS, calling(call_item(), tools=[WEATHER, TIME], tool_choice=FORCE_TIME)),
        "expected only calls to 'get_time' (tool_choice), got ['get_weather']",
    ),
    Case(
        "tools.choice_named",
        "chat-shaped choice",
        checked(CALL_CHECKS, calling(call_item(), tools=[WEATHER, TIME], tool_choice=CHAT_FORCE_TIME)),
        "expected only calls to 'get_time'",
    ),
    Case(
        "tools.choice_allowed",
        "a tool not allowed",
        checked(CALL_CHECKS, calling(call_item(), tools=[WEATHER, TIME], tool_choice=ALLOW_TIME)),
        "expected only calls to ['get_time'] (tool_choice allowed_tools), got ['get_weather']",
    ),
    Case(
        "tools.choice_allowed",
        "chat-shaped allowed_tools",
        checked(CALL_CHECKS, calling(call_item(), tools=[WEATHER, TIME], tool_choice=CHAT_ALLOW_TIME)),
        "expected only calls to ['get_time']",
    ),
    Case(
        "tools.call_made",
        "allowed_tools required, answered in text",
        checked(CALL_CHECKS, calling(text="It is sunny.", tools=[WEATHER, TIME], tool_choice=ALLOW_TIME)),
        "expected a function_call item",
    ),
    Case(
        "tools.parallel_calls",
        "one of two",
        checked([calls_every_tool], calling(call_item(), tools=[WEATHER, TIME])),
        "expected calls to every tool offered ['get_weather', 'get_time'] in one turn, got ['get_weather']",
    ),
    Case(
        "tools.parallel_off",
        "two calls",
        checked(
            CALL_CHECKS,
            calling(
                call_item(),
                call_item("get_time", call_id="call_2", item_id="fc_2"),
                tools=[WEATHER, TIME],
                parallel_tool_calls=False,
            ),
        ),
        "got 2: ['get_weather', 'get_time']",
    ),
    Case(
        "tools.stream_arguments_done",
        "no done event",
        checked([streamed_calls], call_stream(change=renumbered(lambda e: e.pop(5)))),
        "event #5: function_call 'fc_1' closed by output_item.done without a response.function_call_arguments.done",
    ),
    Case(
        "tools.stream_arguments_done",
        "done after the item closed",
        checked([streamed_calls], call_stream(change=renumbered(lambda e: e.insert(6, e.pop(5))))),
        "event #5: function_call 'fc_1' closed",
    ),
    Case(
        "tools.stream_arguments",
        "deltas disagree",
        checked([streamed_calls], call_stream(change=lambda e: e[3].update(delta='{"town": '))),
        'followed by the deltas, \'{"town": "Paris"}\', got \'{"city": "Paris"}\'',
    ),
    Case(
        # vLLM (entrypoints/openai/responses/simple_streaming_events.py) opens a call with the arguments of the
        # parser's first tool delta and streams that delta too; mistral.rs (mistralrs-server-core/src/responses.rs)
        # opens every call whole and streams its whole arguments. LangChain's chunks then hold them twice, and it
        # sends the call back so on the next turn.
        "tools.stream_arguments",
        "opened whole, then streamed again",
        checked([streamed_calls], call_stream((ARGS,), change=lambda e: e[2]["item"].update(arguments=ARGS))),
        'followed by the deltas, \'{"city": "Paris"}{"city": "Paris"}\', got \'{"city": "Paris"}\'',
    ),
    Case(
        # Hand-made in the shape servers send when their parser yields a call only once it is whole: opened with
        # empty arguments, no deltas, the arguments in the done events alone. LangChain's streamed call is built
        # from output_item.added and the deltas, so its tool ran with {}.
        "tools.stream_arguments",
        "arguments only in the done events",
        checked([streamed_calls], call_stream(change=renumbered(lambda e: e.__delitem__(slice(3, 5))))),
        "followed by no deltas, '', got '{\"city\": \"Paris\"}' (LangChain builds",
    ),
    Case(
        # Hand-made: a call opened without `arguments` (or with null) and then streamed; the Python SDK's
        # accumulator does `arguments += delta` and raises TypeError, while the Node SDK and LangChain cope.
        "tools.stream_arguments",
        "opened without arguments",
        checked([streamed_calls], call_stream(change=lambda e: e[2]["item"].pop("arguments"))),
        "got None (the Python SDK's accumulator appends each delta to it and raises TypeError)",
    ),
    Case(
        "tools.stream_arguments",
        "done disagrees",
        checked([streamed_calls], call_stream(change=lambda e: e[5].update(arguments="{}"))),
        "function_call_arguments.done's '{}'",
    ),
    Case(
        "tools.stream_arguments",
        "call_id changes",
        checked([streamed_calls], call_stream(change=lambda e: e[6]["item"].update(call_id="call_9"))),
        "expected call_id 'call_1' as at output_item.added, got 'call_9'",
    ),
    Case(
        "tools.stream_arguments",
        "final response disagrees",
        checked([streamed_calls], call_stream(change=lambda e: e[7]["response"]["output"][0].update(arguments="{}"))),
        "final response's arguments to equal the streamed '{\"city\": \"Paris\"}', got '{}'",
    ),
    Case(
        "tools.answer_uses_result",
        "result unused",
        checked([answer_uses_result("volcanic", "13")], *round_trip("It is sunny.")),
        "mention one of ['volcanic', '13']), got 'It is sunny.'",
    ),
    Case(
        "tools.echo",
        "tool_choice changed",
        checked(CALL_CHECKS, echoing({"tool_choice": "auto"}, tools=[WEATHER], tool_choice="required")),
        "expected tool_choice 'required' echoed, got 'auto'",
    ),
    Case(
        "tools.echo",
        "tools dropped",
        checked(CALL_CHECKS, echoing({"tools": []}, tools=[WEATHER])),
        "expected tools ['get_weather'] echoed, got []",
    ),
    Case(
        "tools.echo",
        "parallel_tool_calls not echoed, second turn",
        checked(
            CALL_CHECKS,
            calling(call_item()),
            echoing({"parallel_tool_calls": True}, tools=[WEATHER], parallel_tool_calls=False),
        ),
        "turn 2: expected parallel_tool_calls False echoed, got True",
    ),
    Case(
        "tools.echo",
        "parallel_tool_calls unsent, echoed false",
        checked(CALL_CHECKS, echoing({"parallel_tool_calls": False}, tools=[WEATHER])),
        "expected parallel_tool_calls true (the default, as none was sent), got False",
    ),
    Case(
        "tools.no_empty_message",
        "empty message beside the call",
        checked(CALL_CHECKS, calling(call_item(), message_item(""))),
        "response.output[1]: expected no message without text beside a function_call",
    ),
    Case(
        "tools.no_empty_message",
        "message without content parts",
        checked(CALL_CHECKS, calling(message_item(None), call_item())),
        "response.output[0]: expected no message without text",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_tools_rule_has_a_case() -> None:
    assert fired(CASES) == {rule for rule in RULES if rule.startswith("tools.")}


def test_conformant_call_stream_has_no_findings() -> None:
    checks = (*COMMON_CHECKS, *BY_ID["tools.stream"].checks)
    for pieces in [(ARGS,), ('{"city": ', '"Paris"}'), ("", "{", '"city": "Paris"', "}")]:
        assert run_checks(checks, [call_stream(pieces)]) == []


def test_the_stream_grammar_and_the_tool_checks_agree_on_a_conformant_call_stream() -> None:
    assert run_checks(STREAM_CHECKS, [call_stream()]) == []


def test_a_call_opened_with_the_start_of_its_arguments_streams_the_rest() -> None:
    """The SDKs' accumulators and LangChain append each delta to the arguments the call was opened with."""
    whole = call_stream()
    events = [json.loads(e.data) for e in whole.events or ()]
    events[2]["item"]["arguments"] = events[3].pop("delta")
    del events[3]
    for i, event in enumerate(events):
        event["sequence_number"] = i
    assert run_checks([streamed_calls], [dataclasses.replace(whole, events=stream_exchange(events).events)]) == []


def test_a_call_streamed_without_argument_events_reaches_every_client() -> None:
    """Hand-made fixture, LocalAI's shape (core/http/endpoints/openresponses/responses.go): the function_call item is
    added with its arguments whole, then done, with no argument event. Both SDKs' accumulators, the Agents SDK and
    LangChain take the call from the items and response.completed, so the gap is NON-STRICT, not FAIL."""
    from conformance.checks.sdk import complaint, sdk_reads

    def whole(events: Events) -> None:
        events[2]["item"] = call_item()
        del events[3:5]

    exchanges = [call_stream((ARGS,), change=renumbered(whole))]
    assert [complaint(read) for read in sdk_reads(exchanges)] == [None]
    status, findings = judge(BY_ID["tools.stream"], exchanges, semantic=False)
    assert (status, findings[0].rule) == (Status.NON_STRICT, "tools.stream_arguments_done"), findings


def test_a_call_without_arguments_may_send_its_empty_object_in_the_done_events_alone() -> None:
    """Hand-made: a call to a tool without parameters, opened with '' and closed with '{}', no delta. LangChain's
    streamed call, built of '' alone, runs the tool with {}: what the arguments say, so nothing is lost."""

    def empty(events: Events) -> None:
        del events[3:5]  # now 3 arguments.done, 4 output_item.done, 5 completed
        events[3]["arguments"] = events[4]["item"]["arguments"] = "{}"
        events[5]["response"]["output"][0]["arguments"] = "{}"

    assert run_checks([streamed_calls], [call_stream(change=renumbered(empty))]) == []


def conformant_answer(spec: Request, turn: int) -> Exchange:
    """What a conformant server answers to one request of a tools probe (hand-made)."""
    body = spec.body or {}
    choice, tools = body.get("tool_choice"), declared_tools(body)
    if turn > 0 or choice == "none":
        output = conformant_response("In Paris: volcanic ash and 13 °C.")["output"]
    elif isinstance(choice, dict):
        output = [call_item(choice["name"] if choice["type"] == "function" else choice["tools"][0]["name"])]
    elif "unit" in json.dumps(body["tools"]):
        output = [call_item(arguments='{"city": "Paris", "unit": "celsius"}')]
    else:
        names = list(tools)[: 1 if body.get("parallel_tool_calls") is False else None]
        output = [call_item(n, call_id=f"call_{i}", item_id=f"fc_{i}") for i, n in enumerate(names)]
    if spec.stream:
        return dataclasses.replace(call_stream(sent=body), request_body=json.dumps(body))
    return json_exchange(tool_response(body, output), request_body=json.dumps(body))


def drive(probe: Probe, answer: Callable[[Request, int], Exchange]) -> list[Exchange]:
    """Run a probe's script against hand-made answers, as the runner would against a server."""
    script: Generator[Request, Exchange, None] = probe.script("test-model")
    exchanges: list[Exchange] = []
    try:
        spec = next(script)
        while True:
            exchanges.append(answer(spec, len(exchanges)))
            spec = script.send(exchanges[-1])
    except StopIteration:
        return exchanges


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_every_probe_passes_a_conformant_server(probe: Probe) -> None:
    exchanges = drive(probe, conformant_answer)
    findings = run_checks((*COMMON_CHECKS, *probe.checks), exchanges)
    assert findings == []
    assert judge(probe, exchanges, semantic=True)[0] is Status.PASS


def _second_request(probe: Probe) -> dict[str, Any]:
    exchanges = drive(probe, conformant_answer)
    assert len(exchanges) == 2
    return json.loads(exchanges[1].request_body)


def test_round_trip_sends_back_the_call_and_its_output_under_the_same_call_id() -> None:
    sent = _second_request(BY_ID["tools.round_trip"])
    user, call, output = sent["input"]
    assert user["role"] == "user"
    assert call == call_item(call_id="call_0", item_id="fc_0")
    assert output == {"type": "function_call_output", "call_id": "call_0", "output": TOOL_RESULT}


def test_chat_round_trip_sends_tool_calls_and_a_tool_message() -> None:
    sent = _second_request(BY_ID["tools.chat_round_trip"])
    _, assistant, tool = sent["input"]
    assert assistant["tool_calls"] == [
        {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}}
    ]
    assert tool == {"role": "tool", "tool_call_id": "call_0", "content": TOOL_RESULT}


def test_round_trip_stops_after_the_first_turn_when_there_is_no_call() -> None:
    probe = BY_ID["tools.round_trip"]
    exchanges = drive(probe, lambda spec, turn: calling(text="It is sunny."))
    assert len(exchanges) == 1
    status, findings = judge(probe, exchanges, semantic=True)
    assert status is Status.IGNORED
    assert {f.rule for f in findings} == {"tools.call_made"}


def test_tool_choice_none_answered_with_markup_is_ignored() -> None:
    probe = BY_ID["tools.choice_none"]
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    status, findings = judge(probe, [calling(text=text, tool_choice="none")], semantic=True)
    assert status is Status.IGNORED
    assert [f.rule for f in findings] == ["tools.choice_none"]


def test_tool_choice_none_answered_with_a_call_alone_is_ignored() -> None:
    """Hand-made, Ollama's shape (openai/responses.go: tool_choice is not read, and a call is answered with no message
    beside it). The missing text is the call made instead of it: the setting ignored, not a broken answer."""
    status, findings = judge(BY_ID["tools.choice_none"], [calling(call_item(), tool_choice="none")], semantic=True)
    assert (status, [f.rule for f in judged(findings)]) == (Status.IGNORED, ["tools.choice_none"])
    status, findings = judge(BY_ID["tools.choice_none"], [calling(call_item())], semantic=True)
    assert (status, findings[0].rule) == (Status.FAIL, "response.output_text"), "a call where no choice forbade one"


@pytest.mark.parametrize("text", [HARMONY_CALL, MINIMAX_CALL])
def test_tool_choice_none_answered_with_an_unparsed_call_is_ignored(text: str) -> None:
    """The client is handed the call's syntax as its answer: the 'none' was not honoured, not a clean text answer."""
    status, findings = judge(BY_ID["tools.choice_none"], [calling(text=text, tool_choice="none")], semantic=True)
    assert (status, findings[0].rule) == (Status.IGNORED, "tools.choice_none")


@pytest.mark.parametrize("text", [HARMONY_CALL, MINIMAX_CALL])
def test_an_unparsed_call_is_a_failure_not_an_absent_call(text: str) -> None:
    status, findings = judge(BY_ID["tools.function_call"], [calling(text=text)], semantic=True)
    assert (status, findings[0].rule) == (Status.FAIL, "tools.no_markup_in_text")


def test_a_call_written_as_text_is_a_failure() -> None:
    probe = BY_ID["tools.choice_required"]
    exchange = calling(text="<tool_call>get_weather</tool_call>", tool_choice="required")
    assert judge(probe, [exchange], semantic=True)[0] is Status.FAIL


def test_chat_shaped_definition_rejected_cleanly_is_unsupported() -> None:
    rejection = dataclasses.replace(error_exchange(400), request_body=request(tools=[CHAT_WEATHER]))
    assert judge(BY_ID["tools.chat_definition"], [rejection], semantic=True)[0] is Status.UNSUPPORTED


def test_chat_shaped_definition_accepted_with_a_proper_call_passes() -> None:
    exchange = echoing({}, tools=[CHAT_WEATHER])
    assert judge(BY_ID["tools.chat_definition"], [exchange], semantic=True)[0] is Status.PASS


def test_semantic_findings_drop_out_when_semantic_checks_are_off() -> None:
    probe = BY_ID["tools.round_trip"]
    exchanges = round_trip("It is sunny.")
    assert judge(probe, exchanges, semantic=True)[0] is Status.IGNORED
    assert judge(probe, exchanges, semantic=False)[0] is Status.PASS


def test_a_profile_can_keep_semantic_checks_for_the_probes_a_fixture_model_is_scripted_for() -> None:
    """semantic_probes: the round trip is judged on meaning although the provider's semantic checks are off."""
    answers = iter([tool_response({}, [call_item()]), conformant_response("It is sunny.")])

    def transport_for(probe: Probe, model: str) -> httpx.BaseTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            body = json.dumps(next(answers)).encode()
            return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))

        return httpx.MockTransport(answer)

    probe = BY_ID["tools.round_trip"]
    target = Target("p", "http://peer.test/v1", semantic=False, semantic_probes=frozenset({probe.id}))
    cell = run_cell(probe, "m", target, transport_for)
    assert (cell.status, cell.semantic) == (Status.IGNORED, True)
    assert "tools.answer_uses_result" in {f.rule for f in cell.findings}
    assert not target.semantic_for("tools.parallel")


def test_an_allowed_tools_choice_lets_any_listed_tool_through() -> None:
    both = {**ALLOW_TIME, "tools": [FORCE_TIME, {"type": "function", "name": "get_weather"}]}
    exchange = calling(call_item(), tools=[WEATHER, TIME], tool_choice=both)
    assert run_checks(CALL_CHECKS, [exchange]) == []
    assert judge(BY_ID["tools.choice_allowed"], [exchange], semantic=True)[0] is Status.PASS


def test_an_allowed_tools_choice_that_is_ignored_reads_ignored() -> None:
    exchange = calling(call_item(), tools=[WEATHER, TIME], tool_choice=ALLOW_TIME)
    status, findings = judge(BY_ID["tools.choice_allowed"], [exchange], semantic=True)
    assert (status, findings[0].rule) == (Status.IGNORED, "tools.choice_allowed"), findings


def test_an_allowed_tools_choice_refused_cleanly_is_unsupported() -> None:
    refused = error_exchange(400, {"message": "allowed_tools is not supported", "type": "invalid_request_error"})
    assert judge(BY_ID["tools.choice_allowed"], [refused], semantic=True)[0] is Status.UNSUPPORTED


def test_declared_tools_read_both_shapes_and_their_strict_defaults() -> None:
    unset = {k: v for k, v in WEATHER.items() if k != "strict"}
    tools = declared_tools({"tools": [unset, CHAT_UNSET, TIME, {"type": "web_search"}, "junk", {"type": "function"}]})
    assert [(t.name, t.strict) for t in tools.values()] == [("get_weather", False), ("get_time", True)]
    assert declared_tools({"tools": [unset]})["get_weather"].strict is True
    assert declared_tools({"tools": [{**WEATHER, "strict": None}]})["get_weather"].strict is False


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("The weather is fine.", None),
        ("I would call get_weather for that.", None),
        ('Use {"name": "get_time"}', None),
        ('<|python_tag|>{"name": "get_weather"}', "<|python_tag|>"),
        ('{ "name" : "get_weather", "parameters": {} }', '"name" : "get_weather"'),
        ("<|channel|>analysis<|message|>Paris is in France.<|end|>", None),
        ("I can invoke the weather service for you.", None),
        (HARMONY_CALL, "to=functions."),
        ('<invoke name="get_weather"><parameter name="city">Paris</parameter></invoke>', "<invoke name="),
    ],
)
def test_markup_in(text: str, found: str | None) -> None:
    assert markup_in(text, ["get_weather"]) == found


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"output": None},
        {"output": [None, 3, {"type": "function_call"}, {"type": "function_call", "name": 5, "arguments": None}]},
        {"output": [{"type": "function_call", "call_id": ["x"], "name": "get_weather", "arguments": "1"}]},
    ],
    ids=repr,
)
def test_checks_do_not_crash_on_odd_bodies(body: Any) -> None:
    odd = [json_exchange(body, request_body=request(tools=[WEATHER, "x"], tool_choice=["odd"]))]
    odd_request = [json_exchange(conformant_response(), request_body='{"tools": {"a": 1}, "tool_choice": null}')]
    checks = (*CALL_CHECKS, calls_every_tool, streamed_calls, answer_uses_result("x"))
    for exchanges in (odd, odd_request, odd + odd_request):
        assert not [f for f in run_checks(checks, exchanges) if f.rule == "harness.check_crashed"]


def test_stream_checks_do_not_crash_on_odd_events() -> None:
    events: Events = [
        {"type": "response.output_item.added", "item": {"type": "function_call", "id": None}},
        {"type": "response.function_call_arguments.delta", "delta": 5},
        {"type": "response.function_call_arguments.done", "output_index": "0"},
        {"type": "response.output_item.done", "item": {"type": "function_call"}},
        {"type": "response.output_item.done", "item": "x"},
        "not json",
        [1, 2],
    ]
    exchange = stream_exchange(copy.deepcopy(events))
    assert not [f for f in run_checks([streamed_calls], [exchange]) if f.rule == "harness.check_crashed"]
