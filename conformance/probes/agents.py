"""Agents probes: what agent frameworks (the OpenAI Agents SDK, Codex, LangChain) send, where servers break.

The failures reported against Responses servers cluster here: turn two sends turn one's whole
`output` back verbatim (reasoning items, ids and status included); a tool's output comes as a list
of parts, or with an image; a tool of another type (`custom`, a built-in such as `web_search`) sits
beside the functions; a function has no `parameters`; a document comes as an `input_file`. Each
probe sends one of these and checks that the server accepts it and the answer uses it. A clean 4xx
is UNSUPPORTED, as for any feature: for `web_search`, which OVHcloud documents as unsupported, that
is the expected outcome.

Four probes send a widely used client's own request, field for field, each read from its
request-building code at the commit named beside it: Codex's stateless streamed turn, which sends
history back with the ids, statuses and annotations stripped; Codex's freeform tool shape, a
custom tool with a Lark grammar `format`; the Vercel AI SDK's `item_reference` to the previous
answer; LlamaIndex's OpenAIResponses, which sends every optional field it does not use as an
explicit null. Two more: the tool output sent alone, chained by `previous_response_id` to the
Response that made the call, as LangChain, pydantic-ai and the Agents SDK send it when the server
keeps the conversation; the Agents SDK's handoff to another agent.

The PDF is written here (a one-page PDF 1.4 with one line of Helvetica text), so no file ships with
the suite and a model cannot have memorised it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Generator
from functools import cache
from typing import Any

from conformance.checks.agents import (
    builtin_called,
    chained_call_read,
    custom_called,
    custom_input_matches,
    handed_off,
    items_of,
    recalls_referenced_number,
    reference_read,
)
from conformance.checks.core import (
    RESPONSE_CHECKS,
    answer_mentions,
    json_body,
    output_text,
    response_body,
    response_completed,
    response_schema,
    usage_consistent,
)
from conformance.checks.identity import id_prefixes
from conformance.checks.state import response_id
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.tools import CALL_CHECKS, answer_uses_result, function_calls, streamed_calls
from conformance.evidence import Exchange
from conformance.probes.base import Probe, Request, Script, text_input
from conformance.probes.streaming import FINAL_CHECKS
from conformance.probes.tools import RESULT_WORDS, TOOL_CHECKS, TOOL_RESULT, WEATHER, WEATHER_QUESTION, call_output
from conformance.probes.vision import digit_url

NAME = "Zorblat"
INTRODUCTION = f"Think about it briefly: my name is {NAME}. Greet me in one short sentence."
NAME_QUESTION = "What is my name? Answer with the name only."
WEB_SEARCH = {"type": "web_search"}
SQL = {
    "type": "custom",
    "name": "run_sql",
    "description": "Runs one SQL query against the sales database and returns the rows as JSON.",
}
SQL_QUESTION = "How many orders were placed yesterday? Query the sales database with the run_sql tool."
SQL_RESULT, SQL_WORDS = '[{"orders": 42}]', ("42",)
# A function without `parameters`, as agent frameworks declare a tool that takes no argument. Named
# like the weather tool so the scripted test model, which always calls get_weather, can call it.
NO_PARAMETERS = {"type": "function", "name": "get_weather", "description": "Current weather where the user is."}
FILE_CODE = "47"
FILE_TEXT = f"Memo: the access code for the archive room is {FILE_CODE}."
FILE_QUESTION = "What is the access code in the attached memo? Answer with the number only."

CALL_RESPONSE = (json_body, response_schema, response_completed, usage_consistent)

# Codex (openai/codex: codex-rs/codex-api/src/common.rs `ResponsesApiRequest` at
# 5c159cd93372b0a6a60addeea96ead0b889599e8, codex-rs/core/src/client.rs `stream_responses_api` at
# 001cb8e233f250c7086c791c51390286c087faea) sends every turn streamed and unstored, its whole prompt in
# `instructions`, `tool_choice: auto`, `parallel_tool_calls` and a `prompt_cache_key` (the conversation id). For a
# model it does not know, as any a third-party server serves, it asks for no reasoning: `reasoning: null` and
# `include: []`. Its function tools say `strict: false`.
CODEX_ENVELOPE = {
    "instructions": "You are a coding agent running in a terminal. Use the tools you are given when a task "
    "needs them, then answer the user briefly, using what the tools returned.",
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": None,
    "store": False,
    "stream": True,
    "include": [],
    "prompt_cache_key": "0b7e4a52-6f0c-4c1e-9d1a-3f2b8c5d7e91",
}
CODEX_WEATHER = {**WEATHER, "strict": False}
# Codex declares its freeform `apply_patch` tool (codex-rs/core/src/client_common.rs `FreeformTool` at
# 001cb8e233f250c7086c791c51390286c087faea) as a custom tool whose `format` is a Lark grammar. This grammar is the
# suite's own, small enough to state its language as the regular expression beside it, which the check applies.
ORDER_GRAMMAR = 'start: "ORDER " SKU " x" QTY\nSKU: /[A-Z]{3}-[0-9]{4}/\nQTY: /[1-9][0-9]*/\n'
ORDER_LANGUAGE = r"ORDER [A-Z]{3}-[0-9]{4} x[1-9][0-9]*"
ORDER_TOOL = {
    "type": "custom",
    "name": "record_order",
    "description": "Records one order line. The input is the order line itself, in the tool's grammar.",
    "format": {"type": "grammar", "syntax": "lark", "definition": ORDER_GRAMMAR},
}
ORDER_QUESTION = "Record an order of 3 units of item KTX-4821 with the record_order tool."
# The Vercel AI SDK (vercel/ai, packages/openai/src/responses/convert-to-openai-responses-input.ts at
# ed857f50f112e23930b0c2dd8d532cc8bebbc911) sends an earlier output item that has an id as
# {"type": "item_reference", "id": ...} while `store` is unset, which it reads as true, as OpenAI does. Only the
# model's own answer holds the number, so a reply that repeats it has read the referenced item.
PICK = "Choose any three-digit number at random. Reply with the number only."
PICKED = "Which number did you just choose? Reply with the number only."
# LlamaIndex's OpenAIResponses (run-llama/llama_index, llama-index-integrations/llms/llama-index-llms-openai/
# llama_index/llms/openai/responses.py `_get_model_kwargs` at 0204d26f34867a769c90d7627c2c50cdc0492815) passes every
# setting it holds, defaults included, and the openai SDK sends each None as an explicit null.
LLAMAINDEX_DEFAULTS: dict[str, Any] = {
    "include": None,
    "instructions": None,
    "max_output_tokens": None,
    "metadata": None,
    "previous_response_id": None,
    "store": False,
    "temperature": 0.1,
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
# LangChain's ChatOpenAI(use_previous_response_id=True) (langchain-ai/langchain, libs/partners/openai/langchain_openai/
# chat_models/base.py `_get_last_messages`, as released in langchain-openai 1.7.4), pydantic-ai's OpenAIResponsesModel
# with openai_previous_response_id='auto' (pydantic/pydantic-ai, pydantic_ai_slim/pydantic_ai/models/openai.py
# `_get_previous_response_id_and_new_messages` at 4fda38988f2939fa6ea9cdefcf120693e10ef491) and the Agents SDK with
# auto_previous_response_id (openai/openai-agents-python, src/agents/run_internal/oai_conversation.py, release 0.24.0)
# send after a tool call only what came after the Response that made it: the function_call_output alone, under
# `previous_response_id`. The call itself lives only in the stored Response. The first message is long, so a chained
# turn that read it costs more input tokens than the first turn did, and one that dropped it far fewer.
WALK = (
    "I am planning a long walk along the Seine this afternoon, from the Jardin des Plantes down to the Eiffel "
    "Tower, with a stop for lunch on the Ile Saint-Louis and another at the Musee d'Orsay if the queue is short. "
    "I would like to know whether to bring an umbrella, a warm coat or sunglasses, and whether the walk is worth "
    f"doing at all today. {WEATHER_QUESTION} Use the tool, then answer from what it returns."
)
# The OpenAI Agents SDK (openai/openai-agents-python, src/agents/handoffs/__init__.py `Handoff.default_tool_name` and
# `handoff`, src/agents/models/openai_responses.py `_convert_handoff_tool`, at
# 0276722338b3a8beaff425aac58d70fc64bf9f5a) offers each handoff as a strict function named transfer_to_<agent name in
# snake case>, its parameters the strict form of an empty schema. The runner answers the call with
# {"assistant": <agent name>} and sends the next turn with the receiving agent's instructions and tools: that turn's
# history holds a call to a tool it no longer offers. It sets no tool_choice of its own for handoffs.
TRIAGE = "You are a triage agent. Hand the conversation to the agent that can help the user; do not answer yourself."
WEATHER_AGENT = "You are the weather agent. Use get_weather for questions about the weather, then answer briefly."
NO_INPUT = {"additionalProperties": False, "type": "object", "properties": {}, "required": []}
# What the runner answers any further handoff call of the same turn (src/agents/run_internal/turn_resolution.py).
IGNORED_HANDOFF = "Multiple handoffs detected, ignoring this one."


def handoff_tool(agent: str) -> dict[str, Any]:
    """A handoff as the Agents SDK offers it, its description the SDK's default."""
    name = "transfer_to_" + re.sub(r"[^a-zA-Z0-9_]", "_", agent).lower()
    description = f"Handoff to the {agent} agent to handle the request. "
    return {"type": "function", "name": name, "description": description, "parameters": NO_INPUT, "strict": True}


HANDOFFS = [handoff_tool("Weather agent"), handoff_tool("Billing agent")]


def pdf(text: str) -> bytes:
    """A one-page PDF 1.4 showing `text` in Helvetica: the smallest file every PDF reader accepts."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@cache
def file_part() -> dict[str, Any]:
    """The memo as an input_file part (a base64 data URL), built once per process."""
    data = base64.b64encode(pdf(FILE_TEXT)).decode("ascii")
    return {"type": "input_file", "filename": "memo.pdf", "file_data": f"data:application/pdf;base64,{data}"}


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _outputs(body: Any) -> list[Any]:
    output = body.get("output") if isinstance(body, dict) else None
    return list(output) if isinstance(output, list) else []


def replayed_history(model: str) -> Generator[Request, Exchange, None]:
    """Turn two sends turn one's whole output back as it came, as agent frameworks keep history."""
    first = _user(INTRODUCTION)
    answer = yield Request({"model": model, "input": [first]})
    yield Request({"model": model, "input": [first, *_outputs(response_body(answer)), _user(NAME_QUESTION)]})


def replayed_tool_history(model: str) -> Generator[Request, Exchange, None]:
    """The whole first output (any reasoning and message items too) replayed before each call's output."""
    question = _user(WEATHER_QUESTION)
    answer = yield Request({"model": model, "input": [question], "tools": [WEATHER]})
    body = response_body(answer)
    results = [call_output(call) for call in function_calls(body)]
    if results:
        yield Request({"model": model, "input": [question, *_outputs(body), *results], "tools": [WEATHER]})


def tool_output_as(parts: list[dict[str, Any]]) -> Script:
    """A round trip whose function_call_output.output is a list of content parts instead of a string."""

    def script(model: str) -> Generator[Request, Exchange, None]:
        question = _user(WEATHER_QUESTION)
        answer = yield Request({"model": model, "input": [question], "tools": [WEATHER]})
        calls = function_calls(response_body(answer))
        if calls:
            turn = [question, calls[0], call_output(calls[0], parts)]
            yield Request({"model": model, "input": turn, "tools": [WEATHER]})

    return script


def custom_round_trip(model: str) -> Generator[Request, Exchange, None]:
    """Offer a custom tool; when it is called, answer with a custom_tool_call_output under its call_id."""
    question = _user(SQL_QUESTION)
    answer = yield Request({"model": model, "input": [question], "tools": [SQL]})
    calls = items_of(response_body(answer), "custom_tool_call")
    if calls:
        result = {"type": "custom_tool_call_output", "call_id": calls[0].get("call_id"), "output": SQL_RESULT}
        yield Request({"model": model, "input": [question, calls[0], result], "tools": [SQL]})


def codex_item(item: Any) -> dict[str, Any] | None:
    """An output item as Codex sends it back (codex-rs/protocol/src/models.rs `ResponseItem` at
    001cb8e233f250c7086c791c51390286c087faea).

    Ids and statuses are never serialized; a message's parts keep their type and text alone; a reasoning item keeps
    `encrypted_content` (null when none came) and its `content` (null when none came, left out when it holds no
    reasoning_text). Codex sends no other item type back in this flow.
    """
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "message":
        parts = item["content"] if isinstance(item.get("content"), list) else []
        kept = [{"type": p["type"], "text": p.get("text")} for p in parts if isinstance(p, dict) and "type" in p]
        return {"type": "message", "role": item.get("role"), "content": kept}
    if kind == "function_call":
        return {"type": "function_call", **{k: item.get(k) for k in ("name", "arguments", "call_id")}}
    if kind != "reasoning":
        return None
    sent: dict[str, Any] = {"type": "reasoning", "summary": item.get("summary") or []}
    content = item.get("content")
    if content is None or _has_reasoning_text(content):
        sent["content"] = content
    return {**sent, "encrypted_content": item.get("encrypted_content")}


def _has_reasoning_text(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(c, dict) and c.get("type") == "reasoning_text" for c in content)


def _codex_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def codex_round_trip(model: str) -> Generator[Request, Exchange, None]:
    """Codex's tool turn: streamed and unstored; turn two sends turn one's items back as Codex serializes them."""
    question = _codex_message(WEATHER_QUESTION)
    envelope = {"model": model, **CODEX_ENVELOPE, "tools": [CODEX_WEATHER]}
    answer = yield Request({**envelope, "input": [question]}, stream=True)
    body = response_body(answer)
    calls = function_calls(body)
    if calls:
        history = [sent for item in _outputs(body) if (sent := codex_item(item)) is not None]
        results = [call_output(c) for c in calls]
        yield Request({**envelope, "input": [question, *history, *results]}, stream=True)


def ai_sdk_item(item: Any) -> dict[str, Any] | None:
    """An earlier output item as the Vercel AI SDK sends it with `store` unset.

    By reference when it has an id; a message without one in full; a reasoning item without one (nor
    encrypted_content) not at all.
    """
    if not isinstance(item, dict) or item.get("type") not in ("message", "reasoning"):
        return None
    if isinstance(item.get("id"), str) and item["id"]:
        return {"type": "item_reference", "id": item["id"]}
    if item["type"] == "message":
        return {"role": "assistant", "content": [{"type": "output_text", "text": output_text({"output": [item]})}]}
    return None


def referenced_answer(model: str) -> Generator[Request, Exchange, None]:
    """Ask for a number; ask for it again with the first answer's items sent by item_reference; then ask again
    without them, which measures what the references cost (checks/agents.py, `reference_read`), last, so a
    server that refuses item_reference is asked nothing more.

    `store` is sent true, which the AI SDK means by leaving it unset: a provider profile's default of false
    would otherwise make a request no client sends (the AI SDK sends items whole when `store` is false)."""
    first = {"role": "user", "content": [{"type": "input_text", "text": PICK}]}
    answer = yield Request({"model": model, "input": [first], "store": True})
    history = [sent for item in _outputs(response_body(answer)) if (sent := ai_sdk_item(item)) is not None]
    if history:
        again = {"role": "user", "content": [{"type": "input_text", "text": PICKED}]}
        yield Request({"model": model, "input": [first, *history, again], "store": True})
        yield Request({"model": model, "input": [first, again], "store": True})


def chained_tool_output(model: str) -> Generator[Request, Exchange, None]:
    """The call; then each call's output alone, chained by previous_response_id to the Response that made it."""
    tools = [WEATHER]
    answer = yield Request({"model": model, "input": [_user(WALK)], "tools": tools, "store": True})
    rid, calls = response_id(answer), function_calls(response_body(answer))
    if rid is not None and calls:
        results = [call_output(c) for c in calls]
        yield Request({"model": model, "previous_response_id": rid, "input": results, "tools": tools, "store": True})


def agents_handoff(model: str) -> Generator[Request, Exchange, None]:
    """The triage agent's turn; when it hands off to the weather agent, that agent's turn with the whole history,
    every call of the first turn answered as the runner answers it."""
    question = _user(WEATHER_QUESTION)
    answer = yield Request({"model": model, "instructions": TRIAGE, "input": [question], "tools": HANDOFFS})
    body = response_body(answer)
    calls = function_calls(body)
    taken = next((c for c in calls if c.get("name") == HANDOFFS[0]["name"]), None)
    if taken is not None:
        moved = json.dumps({"assistant": "Weather agent"})
        results = [call_output(c, moved if c is taken else IGNORED_HANDOFF) for c in calls]
        history = [question, *_outputs(body), *results]
        yield Request({"model": model, "instructions": WEATHER_AGENT, "input": history, "tools": [WEATHER]})


TEXT_PARTS = [{"type": "input_text", "text": TOOL_RESULT}]
IMAGE_PARTS = [
    {"type": "input_text", "text": TOOL_RESULT},
    {"type": "input_image", "image_url": digit_url()},
]
ROUND_TRIP_CHECKS = (*RESPONSE_CHECKS, *CALL_CHECKS, answer_uses_result(*RESULT_WORDS))
STREAMED_ROUND_TRIP_CHECKS = (
    *STREAM_CHECKS,
    *FINAL_CHECKS,
    *CALL_CHECKS,
    streamed_calls,
    answer_uses_result(*RESULT_WORDS),
)

PROBES = (
    Probe(
        "agents.history_replay",
        "agents",
        "turn 2 sends turn 1's whole `output` back verbatim (items with ids and status): accepted, and used",
        replayed_history,
        (*RESPONSE_CHECKS, answer_mentions(NAME)),
    ),
    Probe(
        "agents.history_replay_tool",
        "agents",
        "turn 1's whole `output` (any reasoning item and the function_call) replayed with the function_call_output",
        replayed_tool_history,
        ROUND_TRIP_CHECKS,
    ),
    Probe(
        "agents.tool_output_text_parts",
        "agents",
        "`function_call_output.output` as a list of input_text parts: accepted, and the answer uses it",
        tool_output_as(TEXT_PARTS),
        ROUND_TRIP_CHECKS,
    ),
    Probe(
        "agents.tool_output_image",
        "agents",
        "`function_call_output.output` as an input_text and an input_image part: accepted, and the text used",
        tool_output_as(IMAGE_PARTS),
        ROUND_TRIP_CHECKS,
    ),
    Probe(
        "agents.custom_tool",
        "agents",
        "a `custom` tool: a custom_tool_call item, then its custom_tool_call_output is used in the answer",
        custom_round_trip,
        (*CALL_RESPONSE, custom_called, id_prefixes("custom_tool_call"), answer_uses_result(*SQL_WORDS)),
    ),
    Probe(
        "agents.web_search",
        "agents",
        "the built-in `web_search` tool alone: a web_search_call item, or a clean 4xx where unsupported",
        text_input("Search the web: what is the top headline on lemonde.fr right now?", tools=[WEB_SEARCH]),
        (*CALL_RESPONSE, builtin_called("web_search"), id_prefixes("web_search_call")),
    ),
    Probe(
        "agents.web_search_beside_function",
        "agents",
        "`web_search` beside a function tool: the function is still called, rather than the request refused",
        text_input(WEATHER_QUESTION, tools=[WEB_SEARCH, WEATHER]),
        TOOL_CHECKS,
    ),
    Probe(
        "agents.function_no_parameters",
        "agents",
        "a function tool without `parameters`: accepted, and called with a JSON object of arguments",
        text_input("What is the weather right now? Use the tool.", tools=[NO_PARAMETERS]),
        TOOL_CHECKS,
    ),
    Probe(
        "agents.input_file",
        "agents",
        "an `input_file` part holding a PDF the suite writes (base64): the answer gives the code it states",
        text_input([{"role": "user", "content": [file_part(), {"type": "input_text", "text": FILE_QUESTION}]}]),
        (*RESPONSE_CHECKS, answer_mentions(FILE_CODE)),
    ),
    Probe(
        "agents.codex_round_trip",
        "agents",
        "Codex's streamed, unstored tool turn (`reasoning: null`, `include: []`, `prompt_cache_key`); turn 2 sends "
        "the items back without ids, statuses or annotations: accepted, and the result used",
        codex_round_trip,
        STREAMED_ROUND_TRIP_CHECKS,
    ),
    Probe(
        "agents.custom_grammar",
        "agents",
        "a `custom` tool with a Lark grammar `format`, as Codex declares apply_patch: called with an input in the "
        "grammar's language",
        text_input(ORDER_QUESTION, tools=[ORDER_TOOL]),
        (*CALL_RESPONSE, custom_called, custom_input_matches(ORDER_LANGUAGE), id_prefixes("custom_tool_call")),
    ),
    Probe(
        "agents.item_reference",
        "agents",
        "turn 2 names turn 1's items by `item_reference`, as the Vercel AI SDK does: it costs more input tokens "
        "than the same turn without them, and the reply knows what the referenced answer said",
        referenced_answer,
        (*RESPONSE_CHECKS, reference_read, recalls_referenced_number),
    ),
    Probe(
        "agents.explicit_nulls",
        "agents",
        "LlamaIndex's request: every optional field it does not use sent as null, and `tools: []`: accepted and "
        "answered",
        text_input([{"role": "user", "content": "Say hello."}], **LLAMAINDEX_DEFAULTS),
        RESPONSE_CHECKS,
    ),
    Probe(
        "agents.chained_tool_output",
        "agents",
        "the function_call_output alone, chained by `previous_response_id` to the Response that made the call, as "
        "LangChain, pydantic-ai and the Agents SDK send it: the call and its question are read, and the result used",
        chained_tool_output,
        (*ROUND_TRIP_CHECKS, chained_call_read),
    ),
    Probe(
        "agents.handoff",
        "agents",
        "the Agents SDK's handoff: strict `transfer_to_<agent>` tools without parameters, then the receiving agent's "
        "turn whose history calls a tool it no longer offers: the handoff is called, then the agent's own tool",
        agents_handoff,
        (*CALL_RESPONSE, *CALL_CHECKS, handed_off(HANDOFFS[0]["name"], WEATHER["name"])),
    ),
)
