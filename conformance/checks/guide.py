"""Checks for the provider guide's own examples: does each one, run as written, do what the guide says?

Each check runs the rest of the example's code (what follows its `client.responses.create(...)`)
through the official SDK on the recorded answer, via `RecordedSDK`, so it is what a reader of the
guide would see, at no extra request: `print(resp.output_text)`; the streaming loop that prints
`getattr(event, "delta", None)`; `json.loads(resp.output_text)`; and the tool example, which reads
`tool_calls` off the Response. The Responses API has no `tool_calls`: it returns `function_call`
output items, so on a conformant server the example never runs its tool. That is reported as
what happens (`guide.tool_calls`), whatever the server is.

The examples are in conformance/probes/guide.py, with where their description comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openai import OpenAI

from conformance.checks.core import output_text, response_body
from conformance.checks.rules import quote, rule
from conformance.checks.sdk import Outcome, RecordedSDK, Steps, answered, sdk_kwargs, served
from conformance.checks.structured import schema_errors
from conformance.evidence import Exchange, Finding, Level

RUNS = rule("guide.runs", Level.MUST, "the guide's example runs through the official SDK without raising on the answer")
PRINTS = rule("guide.prints_text", Level.MUST, "what the example prints, response.output_text, is non-empty text")
STREAM_TEXT = rule("guide.stream_text", Level.MUST, "the streaming example's loop prints the answer as it arrives")
STREAM_ANSWER = rule(
    "guide.stream_answer_only",
    Level.SHOULD,
    "the streaming loop prints only the answer: the events carrying a `delta` are output_text deltas",
)
JSON_PARSES = rule(
    "guide.json_parses", Level.MUST, "the JSON example's json.loads(resp.output_text) succeeds", effect=True
)
JSON_SCHEMA = rule(
    "guide.json_schema",
    Level.MUST,
    "the JSON the example parses matches the schema it sent, as the guide says",
    effect=True,
)
TOOL_CALLS = rule(
    "guide.tool_calls",
    Level.MUST,
    "the Response carries the `tool_calls` the guide's tool example reads, so the example runs the tool",
)
NO_CALL = rule("guide.tool_not_called", Level.INFO, "the model answered the tool example without calling the tool")

ANSWER_DELTA = "response.output_text.delta"


def _guide_call(ex: Exchange) -> tuple[Exchange, dict[str, Any]] | None:
    """A 2xx exchange and the request its SDK call sent: the example's code goes on from there."""
    body = ex.request_json()
    return (ex, body) if isinstance(body, dict) and answered(ex) else None


def _failure(outcome: Outcome[Any], ex: Exchange) -> Finding | None:
    if outcome.error is None:
        return None
    return RUNS.finding(f"{outcome.step} raised {quote(outcome.error, 300)} on {served(ex)}")


def run_example(ex: Exchange, use: Callable[[OpenAI], Steps[Any]]) -> Outcome[Any]:
    with RecordedSDK() as sdk:
        return sdk.run(ex, use)


def _printing(body: dict[str, Any]) -> Callable[[OpenAI], Steps[str]]:
    """`resp = client.responses.create(...)`, then `print(resp.output_text)`."""

    def use(client: OpenAI) -> Steps[str]:
        yield "resp = client.responses.create(...)"
        resp = client.responses.create(**sdk_kwargs(body, client.responses.create))
        yield "print(resp.output_text)"
        return str(resp.output_text)

    return use


def _printed_answer(ex: Exchange, body: dict[str, Any]) -> Iterator[Finding]:
    outcome = run_example(ex, _printing(body))
    failure = _failure(outcome, ex)
    if failure is not None:
        yield failure
    elif outcome.sent and not str(outcome.value).strip():
        output = response_body(ex)
        output = output.get("output") if isinstance(output, dict) else output
        yield PRINTS.finding(
            f"the example prints resp.output_text {quote(outcome.value)}; the output was {quote(output, 200)}"
        )


def prints_answer(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The text examples (basic, multi-turn, instructions, system role, vision, reasoning) print an answer."""
    call = _guide_call(exchanges[0]) if exchanges else None
    if call is not None:
        yield from _printed_answer(*call)


@dataclass(frozen=True)
class Printed:
    """One `delta` the streaming loop printed, and the type of the event that carried it."""

    event_type: str
    delta: str


def _streaming(body: dict[str, Any]) -> Callable[[OpenAI], Steps[list[Printed]]]:
    """`for event in client.responses.create(..., stream=True)`: print `getattr(event, "delta", None)` if set."""

    def use(client: OpenAI) -> Steps[list[Printed]]:
        yield "stream = client.responses.create(..., stream=True)"
        stream = client.responses.create(**sdk_kwargs(body, client.responses.create))
        events, printed = iter(stream), list[Printed]()
        count = 0
        while True:
            yield f"for event in stream (after {count} events)"
            event = next(events, None)
            if event is None:
                return printed
            delta = getattr(event, "delta", None)
            if delta:
                printed.append(Printed(str(getattr(event, "type", None)), str(delta)))
            count += 1

    return use


def streams_deltas(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The streaming example prints the answer's text deltas, and nothing else."""
    call = _guide_call(exchanges[0]) if exchanges else None
    if call is None:
        return
    outcome = run_example(call[0], _streaming(call[1]))
    failure = _failure(outcome, call[0])
    if failure is not None:
        yield failure
        return
    printed: list[Printed] = outcome.value or []
    answer = "".join(p.delta for p in printed if p.event_type == ANSWER_DELTA)
    if outcome.sent and not answer.strip():
        kinds = sorted({p.event_type for p in printed})
        yield STREAM_TEXT.finding(f"the loop printed no {ANSWER_DELTA} text (deltas printed: {quote(kinds)})")
    others: dict[str, list[str]] = {}
    for p in printed:
        if p.event_type != ANSWER_DELTA:
            others.setdefault(p.event_type, []).append(p.delta)
    for kind, deltas in others.items():
        yield STREAM_ANSWER.finding(
            f"the loop also printed {len(deltas)} delta(s) of {kind} as if answer text: {quote(''.join(deltas))}"
        )


def _parsing(body: dict[str, Any]) -> Callable[[OpenAI], Steps[Any]]:
    """`data = json.loads(resp.output_text)`, then `print(json.dumps(data, indent=2))`."""

    def use(client: OpenAI) -> Steps[Any]:
        yield "resp = client.responses.create(...)"
        resp = client.responses.create(**sdk_kwargs(body, client.responses.create))
        yield "resp.output_text"
        text = resp.output_text
        yield "json.loads(resp.output_text)"
        data = json.loads(text)
        yield "json.dumps(data, indent=2)"
        json.dumps(data, indent=2)
        return data

    return use


def parses_json(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The JSON example parses the answer, and the JSON matches the schema the example sent."""
    call = _guide_call(exchanges[0]) if exchanges else None
    if call is None:
        return
    ex, body = call
    outcome = run_example(ex, _parsing(body))
    if outcome.error is not None and outcome.step == "json.loads(resp.output_text)":
        text = output_text(response_body(ex))
        yield JSON_PARSES.finding(f"json.loads raised {quote(outcome.error)} on resp.output_text {quote(text)}")
        return
    failure = _failure(outcome, ex)
    if failure is not None:
        yield failure
        return
    text_config = body.get("text")
    fmt = text_config.get("format") if isinstance(text_config, dict) else None
    schema = fmt.get("schema") if isinstance(fmt, dict) else None
    errors = schema_errors(outcome.value, schema) if outcome.sent else []
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        yield JSON_SCHEMA.finding(
            f"the parsed JSON {quote(outcome.value)} breaks the schema: {'; '.join(errors[:3])}{more}"
        )


def _tool_example(body: dict[str, Any]) -> Callable[[OpenAI], Steps[str | None]]:
    """The guide's tool example after its first call: read `tool_calls`; print output_text when there are none.

    With tool calls, the example parses `tool_calls[0].function.arguments` before its chat-style second
    call. The SDK keeps a field its Response type lacks as plain JSON (dicts), so that step raises
    whatever a server put in `tool_calls`: the second call is never reached, and the probe never sends it.
    """

    def use(client: OpenAI) -> Steps[str | None]:
        yield "first = client.responses.create(...)"
        first = client.responses.create(**sdk_kwargs(body, client.responses.create))
        yield 'tool_calls = getattr(first, "tool_calls", None) or []'
        tool_calls = getattr(first, "tool_calls", None) or []
        if not tool_calls:
            yield "print(first.output_text)"
            return str(first.output_text)
        yield "json.loads(tool_calls[0].function.arguments)"
        json.loads(tool_calls[0].function.arguments)
        return None

    return use


def _function_calls(ex: Exchange) -> list[str]:
    body = response_body(ex)
    output = body.get("output") if isinstance(body, dict) else None
    return [
        f"{item.get('name')}({item.get('arguments')}) call_id {item.get('call_id')!r}"
        for item in (output if isinstance(output, list) else [])
        if isinstance(item, dict) and item.get("type") == "function_call"
    ]


def runs_tool(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The tool example finds the model's call where it looks (`tool_calls`), or the model answered without one."""
    call = _guide_call(exchanges[0]) if exchanges else None
    if call is None:
        return
    ex, body = call
    outcome = run_example(ex, _tool_example(body))
    failure = _failure(outcome, ex)
    if failure is not None:
        yield failure
        return
    if not outcome.sent:
        return
    calls = _function_calls(ex)
    if calls:
        yield TOOL_CALLS.finding(
            f"the example reads first.tool_calls, which the Response does not carry, so it never runs the tool the "
            f"model called ({'; '.join(calls)}) and prints first.output_text {quote(outcome.value)} instead"
        )
    elif not (outcome.value or "").strip():
        yield PRINTS.finding(f"no tool call, and the example prints first.output_text {quote(outcome.value)}")
    else:
        yield NO_CALL.finding(f"the model answered without calling the tool: {quote(outcome.value)}")
