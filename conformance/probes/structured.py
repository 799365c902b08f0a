"""Structured-output probes: `text.format` json_schema (strict or not) and json_object, plain and streamed.

Every prompt but one says "JSON", as OpenAI requires for json_object. Most schemas accept
{"name": "Ada", "age": 36}, so a model that merely answers in JSON can pass them; two probes need
the server to enforce the format, which is what tells "honoured" from "ignored": an array of nested
objects, and a json_schema request whose prompt never mentions JSON (OpenAI needs no such hint for
json_schema, only for json_object).
"""

from __future__ import annotations

from typing import Any

from conformance.checks.core import RESPONSE_CHECKS
from conformance.checks.streaming import STREAM_CHECKS
from conformance.checks.structured import STRUCTURED_CHECKS
from conformance.probes.base import Probe, Request, Script, single
from conformance.probes.streaming import FINAL_CHECKS

PERSON_PROMPT = "Describe one famous mathematician as JSON with their name and age."

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
# What pydantic emits for a model with a named sub-type and an Optional field: $defs, $ref, anyOf-null.
PERSON_WITH_DEFS: dict[str, Any] = {
    "type": "object",
    "$defs": {"FullName": {"type": "string", "description": "the person's full name"}},
    "properties": {
        "name": {"$ref": "#/$defs/FullName"},
        "age": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_FROM_LIST: dict[str, Any] = {
    **PERSON,
    "properties": {"name": {"type": "string", "enum": ["Ada", "Grace", "Alan"]}, "age": {"type": "integer"}},
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


def asking(prompt: str, fmt: dict[str, Any], stream: bool = False) -> Script:
    """One request for `prompt` with `text.format` set (text_input cannot: its first parameter is `text`)."""
    body = {"input": prompt, "text": {"format": fmt}, **({"stream": True} if stream else {})}
    return single(lambda model: Request({"model": model, **body}, stream=stream))


ANSWER_CHECKS = (*RESPONSE_CHECKS, *STRUCTURED_CHECKS)

PROBES = (
    Probe(
        "structured.json_schema_strict",
        "structured",
        "`text.format` json_schema, strict: the answer is JSON valid against the schema",
        asking(PERSON_PROMPT, json_schema("person", PERSON, strict=True)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.json_schema_loose",
        "structured",
        "`text.format` json_schema, strict: false: the answer is JSON, valid against the schema (best effort)",
        asking(PERSON_PROMPT, json_schema("person", PERSON, strict=False)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.json_object",
        "structured",
        "`text.format` json_object: the answer is one JSON object",
        asking(PERSON_PROMPT, {"type": "json_object"}),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.stream",
        "structured",
        "streamed json_schema, strict: a well-formed stream whose text is JSON valid against the schema",
        asking(PERSON_PROMPT, json_schema("person", PERSON, strict=True), stream=True),
        (*STREAM_CHECKS, *FINAL_CHECKS, *STRUCTURED_CHECKS),
    ),
    Probe(
        "structured.defs_and_refs",
        "structured",
        "json_schema with $defs, $ref and an anyOf-null field, as pydantic and the SDK's parse() emit",
        asking(PERSON_PROMPT, json_schema("person", PERSON_WITH_DEFS, strict=True)),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.enum",
        "structured",
        "json_schema with an enum: the answer picks one of the listed values",
        asking(
            "Pick one of Ada, Grace or Alan and give their name and age as JSON.",
            json_schema("person", PERSON_FROM_LIST, strict=True),
        ),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.nested_array",
        "structured",
        "json_schema with an array of nested objects: the answer has the schema's shape, not one it prefers",
        asking(
            "List two famous mathematicians with their names and ages as JSON.",
            json_schema("people", PEOPLE, strict=True),
        ),
        ANSWER_CHECKS,
    ),
    Probe(
        "structured.schema_without_json_prompt",
        "structured",
        "json_schema is enforced even when the prompt does not ask for JSON",
        asking("Tell me about one famous mathematician.", json_schema("person", PERSON, strict=True)),
        ANSWER_CHECKS,
    ),
)
