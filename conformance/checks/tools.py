"""Checks on function tools: the function_call item, its arguments, tool_choice, parallel calls,
streamed arguments and the answer after a tool result.

Like the structured checks, these read what was offered (tools, tool_choice, parallel_tool_calls)
from each exchange's own request, so the same checks judge every tools probe and any recording.
Both tool shapes are understood: the Responses one ({"type": "function", "name", "parameters"}) and
the chat-completions one ({"type": "function", "function": {...}}).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.checks.core import _ok, output_text, response_body
from conformance.checks.echo import absent, absent_echo
from conformance.checks.identity import id_prefixes
from conformance.checks.rules import Tag, quote, rule
from conformance.checks.stream_model import Item, stream_of
from conformance.checks.structured import parse_json, schema_errors
from conformance.checks.view import Scope, View, scoped
from conformance.evidence import Exchange, Finding, Level

CALL_MADE = rule(
    "tools.call_made",
    Level.MUST,
    "offered a tool the prompt needs, or forced to call one, the model answers with a function_call item",
    effect=True,
)
CALL_SHAPE = rule(
    "tools.call_shape",
    Level.MUST,
    "a function_call has a non-empty call_id, unique in the response, and a declared name",
)
ARGS_JSON = rule("tools.arguments_json", Level.MUST, "a function_call's arguments is a string holding a JSON object")
ARGS_VALID = rule(
    "tools.arguments_valid",
    Level.MUST,
    "arguments validate against the tool's parameters when the tool is strict (the Responses default)",
)
ARGS_VALID_LOOSE = rule(
    "tools.arguments_valid_loose", Level.SHOULD, "arguments validate against the parameters of a non-strict tool"
)
NO_MARKUP = rule(
    "tools.no_markup_in_text", Level.MUST, "a tool call comes as a function_call item, never as raw markup in the text"
)
CHOICE_NONE = rule(
    "tools.choice_none",
    Level.MUST,
    "with tool_choice 'none' the model makes no call, neither as an item nor as markup in the text",
    effect=True,
)
CHOICE_NAMED = rule(
    "tools.choice_named", Level.MUST, "with a named tool_choice, every call is to that function", effect=True
)
CHOICE_ALLOWED = rule(
    "tools.choice_allowed",
    Level.MUST,
    "with an allowed_tools tool_choice, every call is to one of the tools it lists",
    effect=True,
)
PARALLEL = rule(
    "tools.parallel_calls",
    Level.MUST,
    "asked for what two tools give, the model calls both in one turn",
    tag=Tag.SEMANTIC,
    effect=True,
)
PARALLEL_OFF = rule(
    "tools.parallel_off", Level.MUST, "with parallel_tool_calls false, at most one call per turn", effect=True
)
# A SHOULD, as stream.done_events is for text: both SDKs' accumulators, the Agents SDK and LangChain take a call
# from output_item.added, the deltas, output_item.done and response.completed, so a call streamed without its done
# event (LocalAI sends the item whole, added then done) reaches every client whole.
STREAM_DONE = rule(
    "tools.stream_arguments_done",
    Level.SHOULD,
    "each streamed function_call gets response.function_call_arguments.done before its output_item.done",
)
STREAM_ARGS = rule(
    "tools.stream_arguments",
    Level.MUST,
    "the arguments output_item.added opened the call with, then its deltas, make its final arguments; "
    "call_id and name do not change",
)
USES_RESULT = rule(
    "tools.answer_uses_result",
    Level.MUST,
    "after the tool output is sent back, the answer uses a value from it",
    tag=Tag.SEMANTIC,
    effect=True,
)
ECHO = rule(
    "tools.echo",
    Level.SHOULD,
    "the Response echoes tools, tool_choice and parallel_tool_calls as sent (parallel_tool_calls: true when unsent)",
)
EMPTY_MESSAGE = rule(
    "tools.no_empty_message",
    Level.SHOULD,
    "a turn that calls a tool carries no message item without text beside the call",
)

# Chat-template tool-call syntaxes (Hermes/Qwen, Mistral, Llama 3, Functionary, DeepSeek, Kimi, gpt-oss's
# Harmony, MiniMax) that a server should have parsed into a function_call item. Harmony's is its recipient and
# its call token, not `<|channel|>`, which a reasoning leak without any call shows too; MiniMax's `<invoke name=`
# is also the Anthropic-style XML call.
MARKERS = (
    "<tool_call>",
    "</tool_call>",
    "<|tool_call",
    "<tool_calls>",
    "[TOOL_CALLS]",
    "<|python_tag|>",
    "<function=",
    "<｜tool▁call",
    "<|tool_calls_section_begin|>",
    "to=functions.",
    "<|call|>",
    "<minimax:tool_call>",
    "<invoke name=",
)


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: Any
    strict: bool


def declared_tools(request: Any) -> dict[str, Tool]:
    """The function tools a request (or a Response echo) offers, by name, in either shape.

    `strict` defaults to true for Responses-shaped tools and false for chat-shaped ones, as each API documents.
    """
    tools = request.get("tools") if isinstance(request, dict) else None
    out: dict[str, Tool] = {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        nested = tool.get("function")
        spec = nested if isinstance(nested, dict) else tool
        if isinstance(spec.get("name"), str):
            out[spec["name"]] = Tool(spec["name"], spec.get("parameters"), spec.get("strict", nested is None) is True)
    return out


def function_calls(body: Any) -> list[dict[str, Any]]:
    """The function_call items of a Response's output."""
    output = body.get("output") if isinstance(body, dict) else None
    items = output if isinstance(output, list) else []
    return [i for i in items if isinstance(i, dict) and i.get("type") == "function_call"]


def forced_name(tool_choice: Any) -> str | None:
    """The function a tool_choice forces, in the Responses shape or the chat one."""
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "function":
        return None
    nested = tool_choice.get("function")
    name = nested.get("name") if isinstance(nested, dict) else tool_choice.get("name")
    return name if isinstance(name, str) else None


def allowed_names(tool_choice: Any) -> frozenset[str] | None:
    """The functions an allowed_tools tool_choice lists (each in the Responses shape or the chat one), or None.

    The chat-completions form nests its mode and tools under `allowed_tools`; the Responses one does not.
    """
    if not isinstance(tool_choice, dict) or tool_choice.get("type") != "allowed_tools":
        return None
    nested = tool_choice.get("allowed_tools")
    tools = (nested if isinstance(nested, dict) else tool_choice).get("tools")
    names = (forced_name(t) for t in tools) if isinstance(tools, list) else ()
    return frozenset(name for name in names if name is not None)


def markup_in(text: str, names: Sequence[str]) -> str | None:
    """The tool-call syntax found in answer text: a template marker, or a JSON call naming a declared tool."""
    for marker in MARKERS:
        if marker in text:
            return marker
    for name in names:
        found = re.search(r'"name"\s*:\s*"' + re.escape(name) + '"', text)
        if found:
            return found.group(0)
    return None


def _turns(exchanges: Sequence[Exchange]) -> Iterator[tuple[str, Exchange]]:
    """Each successful exchange with a message prefix naming its turn when a probe had several."""
    ok = _ok(exchanges)
    for i, ex in enumerate(ok):
        yield (f"turn {i + 1}: " if len(ok) > 1 else ""), ex


def _names(calls: Sequence[dict[str, Any]]) -> list[Any]:
    return [c.get("name") for c in calls]


def _outline(body: Any) -> str:
    """What an answer holds instead of a call: its item types and text."""
    output = body.get("output") if isinstance(body, dict) else None
    types = [i.get("type") if isinstance(i, dict) else i for i in output] if isinstance(output, list) else output
    return f"output types {quote(types)} with text {quote(output_text(body))}"


def calls_a_tool(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Judged on the first turn: later turns of a round trip answer the tool result instead."""
    ok = _ok(exchanges)
    if ok and not function_calls(body := response_body(ok[0])):
        yield CALL_MADE.finding(f"expected a function_call item, got {_outline(body)}")


def call_ids_and_names(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for turn, ex in _turns(exchanges):
        declared = declared_tools(ex.request_json())
        seen: set[str] = set()
        for call in function_calls(response_body(ex)):
            call_id, name = call.get("call_id"), call.get("name")
            if not isinstance(call_id, str) or not call_id:
                yield CALL_SHAPE.finding(
                    f"{turn}expected a non-empty call_id, got {quote(call_id)} in {quote(call, 200)}"
                )
            elif call_id in seen:
                yield CALL_SHAPE.finding(f"{turn}expected unique call_ids, got {quote(call_id)} twice")
            else:
                seen.add(call_id)
            if name not in declared:
                yield CALL_SHAPE.finding(
                    f"{turn}expected the name of a declared tool {sorted(declared)}, got {quote(name)}"
                )


def arguments_match_parameters(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for turn, ex in _turns(exchanges):
        declared = declared_tools(ex.request_json())
        for call in function_calls(response_body(ex)):
            arguments, name = call.get("arguments"), call.get("name")
            value, _ = parse_json(arguments) if isinstance(arguments, str) else (None, False)
            if not isinstance(value, dict):
                yield ARGS_JSON.finding(
                    f"{turn}{quote(name)}: expected arguments as a string holding a JSON object, got {quote(arguments)}"
                )
                continue
            tool = declared.get(name) if isinstance(name, str) else None
            errors = [] if tool is None or tool.parameters is None else schema_errors(value, tool.parameters)
            if tool is not None and errors:
                yield (ARGS_VALID if tool.strict else ARGS_VALID_LOOSE).finding(
                    f"{turn}{quote(name)} (strict: {tool.strict}): expected arguments valid against its parameters, "
                    f"got {quote(arguments)}: " + "; ".join(errors[:3])
                )


def no_markup_in_text(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    for turn, ex in _turns(exchanges):
        text = output_text(body := response_body(ex))
        marker = markup_in(text, list(declared_tools(ex.request_json())))
        if marker is not None:
            yield NO_MARKUP.finding(
                f"{turn}expected a function_call item, got tool-call syntax {quote(marker)} in the text "
                f"{quote(text, 200)} (and {len(function_calls(body))} function_call items)"
            )


def tool_choice_honoured(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """tool_choice 'none', named and allowed_tools, and parallel_tool_calls false, each as its own request set them."""
    for turn, ex in _turns(exchanges):
        sent = ex.request_json()
        if not isinstance(sent, dict):
            continue
        body = response_body(ex)
        calls = function_calls(body)
        choice = sent.get("tool_choice")
        marker = markup_in(output_text(body), list(declared_tools(sent)))
        if choice == "none" and calls:
            yield CHOICE_NONE.finding(
                f"{turn}expected no call with tool_choice 'none', got calls to {quote(_names(calls))}"
            )
        elif choice == "none" and marker is not None:
            yield CHOICE_NONE.finding(
                f"{turn}expected no call with tool_choice 'none', got a call written as text ({quote(marker)}): "
                f"{quote(output_text(body), 200)}"
            )
        forced = forced_name(choice)
        if forced is not None and any(name != forced for name in _names(calls)):
            yield CHOICE_NAMED.finding(
                f"{turn}expected only calls to {forced!r} (tool_choice), got {quote(_names(calls))}"
            )
        allowed = allowed_names(choice)
        if allowed is not None and any(name not in allowed for name in _names(calls)):
            yield CHOICE_ALLOWED.finding(
                f"{turn}expected only calls to {quote(sorted(allowed))} (tool_choice allowed_tools), "
                f"got {quote(_names(calls))}"
            )
        if sent.get("parallel_tool_calls") is False and len(calls) > 1:
            yield PARALLEL_OFF.finding(
                f"{turn}expected at most one call with parallel_tool_calls false, "
                f"got {len(calls)}: {quote(_names(calls))}"
            )


def calls_every_tool(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    ok = _ok(exchanges)
    if not ok:
        return
    offered = list(declared_tools(ok[0].request_json()))
    called = _names(function_calls(response_body(ok[0])))
    if any(name not in called for name in offered):
        yield PARALLEL.finding(
            f"expected calls to every tool offered {quote(offered)} in one turn, got {quote(called)}"
        )


def answer_uses_result(*values: str) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """A semantic check on the turn after the tool result: the answer mentions one of `values`.

    Not applicable when the script stopped after the first turn (no call to answer): calls_a_tool says why.
    """

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ok = _ok(exchanges)
        if len(ok) < 2:
            return
        text = output_text(response_body(ok[-1]))
        if not any(v.lower() in text.lower() for v in values):
            yield USES_RESULT.finding(
                f"expected the answer to use the tool result (mention one of {quote(list(values))}), "
                f"got {quote(text, 200)}"
            )

    check.__name__ = "answer_uses_result"
    return check


def echoes_tool_settings(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """Only what the request sent is compared; a Response lacking these fields is judged in core (checks/echo.py)."""
    for turn, ex in _turns(exchanges):
        sent, body = ex.request_json(), response_body(ex)
        if not isinstance(sent, dict) or not isinstance(body, dict):
            continue
        for key in ("tool_choice", "parallel_tool_calls", "tools"):
            if key not in sent:
                continue
            if absent(body.get(key)):
                yield absent_echo(key, sent[key], turn)
            elif key != "tools" and body[key] != sent[key]:
                yield ECHO.finding(f"{turn}expected {key} {quote(sent[key])} echoed, got {quote(body[key])}")
            elif key == "tools" and list(declared_tools(body)) != list(declared_tools(sent)):
                yield ECHO.finding(
                    f"{turn}expected tools {quote(list(declared_tools(sent)))} echoed, got {quote(body[key], 200)}"
                )
        parallel = body.get("parallel_tool_calls")
        if "parallel_tool_calls" not in sent and not absent(parallel) and parallel is not True:
            yield ECHO.finding(
                f"{turn}expected parallel_tool_calls true (the default, as none was sent), got {quote(parallel)}"
            )


def no_empty_message(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """An empty assistant message beside a call shows up as a blank turn in chat UIs and agent transcripts."""
    for turn, ex in _turns(exchanges):
        body = response_body(ex)
        if not function_calls(body):
            continue
        for index, item in enumerate(body["output"]):
            if isinstance(item, dict) and item.get("type") == "message" and not output_text({"output": [item]}).strip():
                yield EMPTY_MESSAGE.finding(
                    f"{turn}response.output[{index}]: expected no message without text beside a function_call, "
                    f"got {quote(item, 200)}"
                )


@scoped(Scope.EVERY_OK)
def streamed_calls(v: View) -> Iterator[Finding]:
    """Each function_call item of a stream, as the shared stream walk built it."""
    if not v.is_stream:
        return
    in_response = {c.get("id"): c for c in function_calls(v.response)}
    for item in stream_of(v).in_order():
        if item.type == "function_call":
            yield from _judge_call(item, in_response.get(item.item_id))


def _judge_call(item: Item, in_response: dict[str, Any] | None) -> Iterator[Finding]:
    final, closed_at = item.closed, item.closed_at
    if final is None or closed_at is None:
        return  # never closed: stream.grammar reports it
    who = f"function_call {quote(item.item_id)}"
    run = item.run("function_call_arguments")
    done_at = run.done_at if run is not None else None
    if done_at is None or done_at > closed_at:
        yield STREAM_DONE.finding(
            f"event #{closed_at}: {who} closed by output_item.done "
            f"without a response.function_call_arguments.done before it"
        )
    arguments = final.get("arguments")
    # What the SDKs' accumulators and LangChain's chunks build: the opened item's arguments, each delta appended.
    # LangChain's streamed call is built from these alone, deltas or none: arguments sent only in the done events
    # reach it as '' and the tool runs with {}.
    opened = item.added.get("arguments")
    deltas = run.deltas if run is not None else []
    streamed = (opened if isinstance(opened, str) else "") + "".join(deltas)
    if deltas and not isinstance(opened, str):
        yield STREAM_ARGS.finding(
            f"{who}: expected output_item.added to open the call with string arguments before its deltas, "
            f"got {quote(opened)} (the Python SDK's accumulator appends each delta to it and raises TypeError)"
        )
    elif streamed != arguments and not (streamed == "" and _empty_object(arguments)):
        yield STREAM_ARGS.finding(
            f"{who}: expected output_item.done arguments to equal output_item.added's {quote(opened)} "
            f"followed by {'the' if deltas else 'no'} deltas, {quote(streamed)}, got {quote(arguments)}"
            + ("" if deltas else " (LangChain builds a streamed call from those alone: its tool gets no arguments)")
        )
    if run is not None and done_at is not None and run.done != arguments:
        yield STREAM_ARGS.finding(
            f"{who}: expected output_item.done arguments to equal function_call_arguments.done's "
            f"{quote(run.done)}, got {quote(arguments)}"
        )
    for key in ("call_id", "name"):
        if final.get(key) != item.added.get(key):
            yield STREAM_ARGS.finding(
                f"{who}: expected {key} {quote(item.added.get(key))} as at output_item.added, "
                f"got {quote(final.get(key))} at output_item.done"
            )
    if in_response is not None and in_response.get("arguments") != arguments:
        yield STREAM_ARGS.finding(
            f"{who}: expected the final response's arguments to equal the streamed {quote(arguments)}, "
            f"got {quote(in_response.get('arguments'))}"
        )


def _empty_object(arguments: Any) -> bool:
    """'{}', a call to a tool without parameters: LangChain reads a streamed call built of nothing as {} too."""
    return isinstance(arguments, str) and parse_json(arguments)[0] == {}


CALL_CHECKS = (
    calls_a_tool,
    call_ids_and_names,
    arguments_match_parameters,
    no_markup_in_text,
    tool_choice_honoured,
    echoes_tool_settings,
    no_empty_message,
    id_prefixes("function_call"),
)
