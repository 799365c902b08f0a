"""Agents probes: what agent frameworks (the OpenAI Agents SDK, Codex, LangChain) send, where servers break.

The failures reported against Responses servers cluster here: turn two sends turn one's whole
`output` back verbatim (reasoning items, ids and status included); a tool's output comes as a list
of parts, or with an image; a tool of another type (`custom`, a built-in such as `web_search`) sits
beside the functions; a function has no `parameters`; a document comes as an `input_file`. Each
probe sends one of these and checks that the server accepts it and the answer uses it. A clean 4xx
is UNSUPPORTED, as for any feature: for `web_search`, which OVHcloud documents as unsupported, that
is the expected outcome.

The PDF is written here (a one-page PDF 1.4 with one line of Helvetica text), so no file ships with
the suite and a model cannot have memorised it.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from functools import cache
from typing import Any

from conformance.checks.agents import builtin_called, custom_called, items_of
from conformance.checks.core import (
    RESPONSE_CHECKS,
    answer_mentions,
    json_body,
    response_body,
    response_completed,
    response_schema,
    usage_consistent,
)
from conformance.checks.identity import id_prefixes
from conformance.checks.tools import CALL_CHECKS, answer_uses_result, function_calls
from conformance.evidence import Exchange
from conformance.probes.base import Probe, Request, Script, text_input
from conformance.probes.tools import RESULT_WORDS, TOOL_CHECKS, TOOL_RESULT, WEATHER, WEATHER_QUESTION
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
    results = [
        {"type": "function_call_output", "call_id": call.get("call_id"), "output": TOOL_RESULT}
        for call in function_calls(body)
    ]
    if results:
        yield Request({"model": model, "input": [question, *_outputs(body), *results], "tools": [WEATHER]})


def tool_output_as(parts: list[dict[str, Any]]) -> Script:
    """A round trip whose function_call_output.output is a list of content parts instead of a string."""

    def script(model: str) -> Generator[Request, Exchange, None]:
        question = _user(WEATHER_QUESTION)
        answer = yield Request({"model": model, "input": [question], "tools": [WEATHER]})
        calls = function_calls(response_body(answer))
        if calls:
            result = {"type": "function_call_output", "call_id": calls[0].get("call_id"), "output": parts}
            yield Request({"model": model, "input": [question, calls[0], result], "tools": [WEATHER]})

    return script


def custom_round_trip(model: str) -> Generator[Request, Exchange, None]:
    """Offer a custom tool; when it is called, answer with a custom_tool_call_output under its call_id."""
    question = _user(SQL_QUESTION)
    answer = yield Request({"model": model, "input": [question], "tools": [SQL]})
    calls = items_of(response_body(answer), "custom_tool_call")
    if calls:
        result = {"type": "custom_tool_call_output", "call_id": calls[0].get("call_id"), "output": SQL_RESULT}
        yield Request({"model": model, "input": [question, calls[0], result], "tools": [SQL]})


TEXT_PARTS = [{"type": "input_text", "text": TOOL_RESULT}]
IMAGE_PARTS = [
    {"type": "input_text", "text": TOOL_RESULT},
    {"type": "input_image", "image_url": digit_url()},
]
ROUND_TRIP_CHECKS = (*RESPONSE_CHECKS, *CALL_CHECKS, answer_uses_result(*RESULT_WORDS))

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
)
