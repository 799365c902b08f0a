"""The provider guide's Python examples, each sent as the official SDK sends it, and judged by what it prints.

Source: OVHcloud's guide "AI Endpoints - Responses API" (ovh/docs,
pages/public_cloud/ai_machine_learning/endpoints_guide_09_responses_api/guide.en-gb.md, updated
2026-02-24; published on docs.ovhcloud.com). The examples are paraphrased from it: each keeps the
guide's call shape (the keyword arguments of `client.responses.create`, the item shapes, `store=False`,
the code that reads the result), with prompts in our own words that ask for short answers, and the
suite's generated PNG (probes/vision.py) where the guide reads a sample.jpg from disk. `calls()`
gives those keyword arguments; a probe's request body is exactly what the SDK serialises for them
(tests/test_guide.py proves it), so the only request spent is the example's own.

What the guide says each example does, and the checks that hold it to that (checks/guide.py):
basic, multi-turn, instructions, system role, vision, reasoning: `print(resp.output_text)` prints the
answer; streaming: the loop prints each event's `delta` as the answer arrives; JSON schema:
`json.loads(resp.output_text)` gives JSON matching the schema; tools: the example reads `tool_calls`
off the Response, runs the tool, and sends back chat-style `role: "assistant"` / `role: "tool"`
messages for the final answer. Responses have no `tool_calls`, so that example stops short on a
conformant server, and through the Python SDK it cannot reach its second call on any server (see
checks/guide.py): the probe sends the first call only, and the check says how far the example got.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.core import answer_mentions
from conformance.checks.guide import parses_json, prints_answer, runs_tool, streams_deltas
from conformance.probes.base import Probe, Request, Script, single
from conformance.probes.vision import NAMES_DIGIT, digit_url

NAME = "Mireille"
PRODUCT = "399"  # 19 * 21
WRITER = "You are a concise technical writer. Use British spelling."
VAT_TOOL = {
    "type": "function",
    "name": "get_vat_rate",
    "strict": False,
    "description": "Give the VAT rate of a country.",
    "parameters": {
        "type": "object",
        "properties": {"country": {"type": "string"}},
        "required": ["country"],
        "additionalProperties": False,
    },
}
CONTRACT_FORMAT = {
    "type": "json_schema",
    "name": "contract_data",
    "description": "The fields of a contract",
    "schema": {
        "type": "object",
        "properties": {"company": {"type": "string"}, "start_date": {"type": "string"}},
        "required": ["company", "start_date"],
        "additionalProperties": False,
    },
    "strict": False,
}


def _message(role: str, content: Any) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}


def calls() -> dict[str, dict[str, Any]]:
    """Each example's keyword arguments to `client.responses.create`, but `model` (the probed one)."""
    return {
        "guide.basic": {"input": "In one sentence, what is retrieval-augmented generation?", "store": False},
        "guide.multi_turn": {
            "store": False,
            "input": [
                _message("user", f"My name is {NAME}."),
                _message("assistant", f"Hello {NAME}! What can I do for you?"),
                _message("user", "What is my name? Answer with the name only."),
            ],
        },
        "guide.instructions": {"instructions": WRITER, "input": "Define embeddings in one sentence.", "store": False},
        "guide.system_role": {
            "store": False,
            "input": [_message("system", WRITER), _message("user", "Define embeddings in one sentence.")],
        },
        "guide.streaming": {"input": "Write a three-line poem about data centres.", "stream": True, "store": False},
        "guide.json_schema": {
            "store": False,
            "input": [
                _message("system", "You extract fields from text. Reply with JSON only."),
                _message(
                    "user", "Extract the company and the start date: the contract with OVHcloud begins on 2026-01-12."
                ),
            ],
            "text": {"format": CONTRACT_FORMAT},
        },
        "guide.tools": {
            "store": False,
            "input": [_message("user", "What is the VAT rate in France? Call the tool if you need it.")],
            "tools": [VAT_TOOL],
        },
        "guide.vision": {
            "store": False,
            "input": [
                _message(
                    "user",
                    [
                        {"type": "input_text", "text": "Describe this image in one sentence."},
                        {"type": "input_image", "image_url": digit_url()},
                    ],
                )
            ],
        },
        "guide.reasoning": {
            "store": False,
            "input": "Work out 19 * 21 and explain the steps briefly.",
            "reasoning": {"effort": "medium"},
        },
    }


def guide_request(probe_id: str, model: str) -> Request:
    """The request the example's `client.responses.create(model=model, ...)` sends."""
    kwargs = calls()[probe_id]
    return Request({"model": model, **kwargs}, stream=kwargs.get("stream") is True)


def example(probe_id: str) -> Script:
    return single(lambda model: guide_request(probe_id, model))


PROBES = (
    Probe(
        "guide.basic", "guide", "the guide's basic example prints an answer", example("guide.basic"), (prints_answer,)
    ),
    Probe(
        "guide.multi_turn",
        "guide",
        "the guide's multi-turn example (history as an `input` list) prints an answer that uses the history",
        example("guide.multi_turn"),
        (prints_answer, answer_mentions(NAME)),
    ),
    Probe(
        "guide.instructions",
        "guide",
        "the guide's `instructions` example prints an answer",
        example("guide.instructions"),
        (prints_answer,),
    ),
    Probe(
        "guide.system_role",
        "guide",
        "the guide's `role: system` input item example prints an answer",
        example("guide.system_role"),
        (prints_answer,),
    ),
    Probe(
        "guide.streaming",
        "guide",
        "the guide's streaming loop prints the answer's text deltas as they arrive",
        example("guide.streaming"),
        (streams_deltas,),
    ),
    Probe(
        "guide.json_schema",
        "guide",
        "the guide's `text.format` json_schema example: json.loads(resp.output_text) gives JSON matching the schema",
        example("guide.json_schema"),
        (parses_json,),
    ),
    Probe(
        "guide.tools",
        "guide",
        "the guide's tool example finds the model's call in `tool_calls` (which Responses do not have)",
        example("guide.tools"),
        (runs_tool,),
    ),
    Probe(
        "guide.vision",
        "guide",
        "the guide's image example (a base64 data URL) prints a description naming red and 3",
        example("guide.vision"),
        (prints_answer, NAMES_DIGIT),
    ),
    Probe(
        "guide.reasoning",
        "guide",
        "the guide's `reasoning.effort` example prints the worked answer (399)",
        example("guide.reasoning"),
        (prints_answer, answer_mentions(PRODUCT)),
    ),
)
