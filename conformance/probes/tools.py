"""Tools probes: function tools offered, forced, refused, called in parallel, streamed, and answered.

Every tool is Responses-shaped and strict-compatible (all properties required, no extra ones), since
Responses function tools are strict unless they say otherwise. Two probes send what the provider's
guide shows instead of the Responses format (chat-completions-shaped tool definitions, and chat-style
`tool_calls` / `role: tool` messages): a clean 4xx there is UNSUPPORTED, not a failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from conformance.checks.core import (
    RESPONSE_CHECKS,
    json_body,
    response_body,
    response_completed,
    response_schema,
    usage_consistent,
)
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.tools import (
    CALL_CHECKS,
    answer_uses_result,
    call_ids_and_names,
    calls_every_tool,
    echoes_tool_settings,
    function_calls,
    streamed_calls,
    tool_choice_honoured,
)
from conformance.evidence import Exchange
from conformance.probes.base import Probe, Request, Script, text_input


def function_tool(name: str, description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    """A Responses-shaped strict function tool whose parameters are all required."""
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"type": "function", "name": name, "description": description, "parameters": parameters, "strict": True}


CITY = {"type": "string", "description": "a city name, e.g. Paris"}
WEATHER = function_tool("get_weather", "Current weather in a city.", city=CITY)
TIME = function_tool("get_time", "Current local time in a city.", city=CITY)
WEATHER_IN_UNIT = function_tool(
    "get_weather", "Current weather in a city.", city=CITY, unit={"type": "string", "enum": ["celsius", "fahrenheit"]}
)
ONLY_TIME = {"type": "function", "name": "get_time"}  # a tool_choice entry naming a tool, as allowed_tools lists it
CHAT_WEATHER = {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}

WEATHER_QUESTION = "What is the weather in Paris right now?"
# Forcing a call only shows when the question needs none: a server that ignored tool_choice answers in text.
NO_TOOL_QUESTION = "Say hello in one short sentence."
BOTH_QUESTION = "What is the weather in Paris, and what time is it in Tokyo? Use both tools at once."
# Values a model is unlikely to guess, so an answer that names one has read the tool output.
TOOL_RESULT = json.dumps({"city": "Paris", "temperature_c": 13, "conditions": "volcanic ash"})
RESULT_WORDS = ("volcanic", "13")

CALL_RESPONSE = (json_body, response_schema, response_completed, usage_consistent)
TOOL_CHECKS = (*CALL_RESPONSE, *CALL_CHECKS)


def _chat_call(call: dict[str, Any]) -> dict[str, Any]:
    """A function_call item as a chat-completions `tool_calls` entry."""
    return {"id": call.get("call_id"), "type": "function", "function": {k: call.get(k) for k in ("name", "arguments")}}


def call_output(call: dict[str, Any], output: Any = TOOL_RESULT) -> dict[str, Any]:
    """The function_call_output a client sends back for `call`: `output` under the call's call_id."""
    return {"type": "function_call_output", "call_id": call.get("call_id"), "output": output}


def responses_turn(call: dict[str, Any]) -> list[dict[str, Any]]:
    """The Responses format: the model's own function_call item, then its output under the same call_id."""
    return [call, call_output(call)]


def chat_turn(call: dict[str, Any]) -> list[dict[str, Any]]:
    """What the provider's guide sends back: an assistant message with tool_calls, then a `role: tool` message."""
    return [
        {"role": "assistant", "content": "", "tool_calls": [_chat_call(call)]},
        {"role": "tool", "tool_call_id": call.get("call_id"), "content": TOOL_RESULT},
    ]


def round_trip(second_turn: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> Script:
    """Ask, and when the answer calls a tool, send the result back; with no call there is nothing to send."""

    def script(model: str) -> Generator[Request, Exchange, None]:
        question = {"role": "user", "content": WEATHER_QUESTION}
        first = yield Request({"model": model, "input": [question], "tools": [WEATHER]})
        calls = function_calls(response_body(first))
        if calls:
            yield Request({"model": model, "input": [question, *second_turn(calls[0])], "tools": [WEATHER]})

    return script


PROBES = (
    Probe(
        "tools.function_call",
        "tools",
        "a flat function tool: a function_call item with call_id, declared name and valid JSON arguments",
        text_input(WEATHER_QUESTION, tools=[WEATHER]),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.choice_auto",
        "tools",
        "`tool_choice: auto` is accepted and the model calls the tool the question needs",
        text_input(WEATHER_QUESTION, tools=[WEATHER], tool_choice="auto"),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.choice_required",
        "tools",
        "`tool_choice: required` gives a function_call, even to a question that needs no tool",
        text_input(NO_TOOL_QUESTION, tools=[WEATHER], tool_choice="required"),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.choice_named",
        "tools",
        "a named `tool_choice` forces that function, though the question needs only the other tool",
        text_input(
            WEATHER_QUESTION,
            tools=[WEATHER, TIME],
            tool_choice={"type": "function", "name": "get_time"},
        ),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.choice_allowed",
        "tools",
        "`tool_choice: allowed_tools` (mode required) listing one of two tools: only that one is called, "
        "though the question needs the other",
        text_input(
            WEATHER_QUESTION,
            tools=[WEATHER, TIME],
            tool_choice={"type": "allowed_tools", "mode": "required", "tools": [ONLY_TIME]},
        ),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.choice_none",
        "tools",
        "`tool_choice: none` gives a text answer and no call, even when a tool fits",
        text_input(WEATHER_QUESTION, tools=[WEATHER], tool_choice="none"),
        (*RESPONSE_CHECKS, call_ids_and_names, tool_choice_honoured, echoes_tool_settings),
    ),
    Probe(
        "tools.parallel",
        "tools",
        "two tools and a question needing both: both are called in one turn, with distinct call_ids",
        text_input(BOTH_QUESTION, tools=[WEATHER, TIME]),
        (*TOOL_CHECKS, calls_every_tool),
    ),
    Probe(
        "tools.parallel_off",
        "tools",
        "`parallel_tool_calls: false`: at most one call, even when the question needs two tools",
        text_input(BOTH_QUESTION, tools=[WEATHER, TIME], parallel_tool_calls=False),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.strict_enum",
        "tools",
        "a strict tool with two required parameters, one an enum: the arguments validate",
        text_input("What is the weather in Paris, in celsius?", tools=[WEATHER_IN_UNIT]),
        TOOL_CHECKS,
    ),
    Probe(
        "tools.stream",
        "tools",
        "a streamed call: function_call_arguments.delta then .done, concatenating to the final arguments",
        text_input(WEATHER_QUESTION, tools=[WEATHER], stream=True),
        (*STREAM_CHECKS, response_schema, response_completed, *CALL_CHECKS, streamed_calls),
    ),
    Probe(
        "tools.stream_required",
        "tools",
        "a streamed call forced by `tool_choice: required`: a well-formed stream whose output is the call",
        text_input(WEATHER_QUESTION, tools=[WEATHER], tool_choice="required", stream=True),
        (*STREAM_CHECKS, response_schema, response_completed, *CALL_CHECKS, streamed_calls),
    ),
    Probe(
        "tools.round_trip",
        "tools",
        "round trip in the Responses format: function_call + function_call_output, then an answer using the result",
        round_trip(responses_turn),
        (*RESPONSE_CHECKS, *CALL_CHECKS, answer_uses_result(*RESULT_WORDS)),
    ),
    Probe(
        "tools.chat_round_trip",
        "tools",
        "round trip as the provider's guide shows it: assistant `tool_calls` and a `role: tool` message",
        round_trip(chat_turn),
        (*RESPONSE_CHECKS, *CALL_CHECKS, answer_uses_result(*RESULT_WORDS)),
    ),
    Probe(
        "tools.chat_definition",
        "tools",
        "a chat-completions-shaped tool definition ({type, function: {...}}): a proper call, or a clean 4xx",
        text_input(WEATHER_QUESTION, tools=[CHAT_WEATHER]),
        TOOL_CHECKS,
    ),
)
