"""Structured-output probes: `text.format` json_schema (strict or not) and json_object, plain and streamed.

A probe must not pass by coincidence: a server that ignored `text.format` returns what the model
would have said anyway. So the json_schema prompts ask for prose and never name the schema's fields
(`surname`, `born`): only a server that applies the schema can turn that question into a JSON object
with those fields. json_object cannot be made so: OpenAI requires the word JSON in the prompt, so its
prompt asks for JSON, and a model that obeys it passes whether or not the server enforced anything.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.core import RESPONSE_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.structured import STRUCTURED_CHECKS
from conformance.probes.base import Probe, Request, Script, single
from conformance.probes.streaming import FINAL_CHECKS

PROSE_PROMPT = "In two sentences of plain prose, tell me about one famous mathematician."
JSON_PROMPT = "Describe one famous mathematician as a JSON object."

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"surname": {"type": "string"}, "born": {"type": "integer"}},
    "required": ["surname", "born"],
    "additionalProperties": False,
}
# What pydantic emits for a model with a named sub-type and an Optional field: $defs, $ref, anyOf-null.
PERSON_WITH_DEFS: dict[str, Any] = {
    "type": "object",
    "$defs": {"Surname": {"type": "string", "description": "the person's family name"}},
    "properties": {
        "surname": {"$ref": "#/$defs/Surname"},
        "born": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["surname", "born"],
    "additionalProperties": False,
}
PERSON_FROM_LIST: dict[str, Any] = {
    **PERSON,
    "properties": {
        "surname": {"type": "string", "enum": ["Lovelace", "Hopper", "Turing"]},
        "born": {"type": "integer"},
    },
}
PEOPLE: dict[str, Any] = {
    "type": "object",
    "properties": {"people": {"type": "array", "items": PERSON}},
    "required": ["people"],
    "additionalProperties": False,
}


def json_schema(name: str, schema: dict[str, Any], strict: bool) -> dict[str, Any]:
    """The `text.format` asking for `schema`."""
    return {"type": "json_schema", "name": name, "schema": schema, "strict": strict}


def asking(prompt: str, fmt: dict[str, Any], stream: bool = False, **extra: Any) -> Script:
    """One request for `prompt` with `text.format` set (text_input cannot: its first parameter is `text`)."""
    body = {"input": prompt, "text": {"format": fmt}, **extra, **({"stream": True} if stream else {})}
    return single(lambda model: Request({"model": model, **body}, stream=stream))


ANSWER_CHECKS = (*RESPONSE_CHECKS, *STRUCTURED_CHECKS)

PROBES = (
    Probe(
        "structured.json_schema_strict",
        "structured",
        "`text.format` json_schema, strict: the answer is JSON valid against the schema",
        asking(PROSE_PROMPT, json_schema("person", PERSON, strict=True)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.json_schema_loose",
        "structured",
        "`text.format` json_schema, strict: false: the answer is JSON, valid against the schema (best effort)",
        asking(PROSE_PROMPT, json_schema("person", PERSON, strict=False)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.json_object",
        "structured",
        "`text.format` json_object: the answer is one JSON object",
        asking(JSON_PROMPT, {"type": "json_object"}),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.stream",
        "structured",
        "streamed json_schema, strict: a well-formed stream whose text is JSON valid against the schema",
        asking(PROSE_PROMPT, json_schema("person", PERSON, strict=True), stream=True),
        (*STREAM_CHECKS, *FINAL_CHECKS, *STRUCTURED_CHECKS),
    ),
    Probe(
        "structured.defs_and_refs",
        "structured",
        "json_schema with $defs, $ref and an anyOf-null field, as pydantic and the SDK's parse() emit",
        asking(PROSE_PROMPT, json_schema("person", PERSON_WITH_DEFS, strict=True)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.enum",
        "structured",
        "json_schema with an enum: the answer picks one of the listed values",
        asking(
            "In one sentence of prose, say which pioneer of computing you admire most.",
            json_schema("person", PERSON_FROM_LIST, strict=True),
        ),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.nested_array",
        "structured",
        "json_schema with an array of nested objects: the answer has the schema's shape, not one it prefers",
        asking(
            "In plain prose, tell me about two famous mathematicians.",
            json_schema("people", PEOPLE, strict=True),
        ),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.schema_without_json_prompt",
        "structured",
        "json_schema is enforced even when the instructions ask for prose, not JSON",
        asking(
            PROSE_PROMPT,
            json_schema("person", PERSON, strict=True),
            instructions="Always answer in plain sentences, never as structured data.",
        ),
        ANSWER_CHECKS,
    ),
)
