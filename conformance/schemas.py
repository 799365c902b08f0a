"""JSON Schemas derived from the official `openai` SDK's types, never copied from the spec by hand.

Two levels, because the SDK is lenient on purpose: what the SDK *requires* (breaking it means a
client will fail to parse: MUST) and every field the SDK *lists* (missing ones mean a client may
read None where the spec promises a value: SHOULD).

Output items and stream events are unions discriminated by `type`; we validate each against its
own member type, so a message says "function_call item lacks call_id", not "matches no anyOf".
"""

from __future__ import annotations

import functools
import threading
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import jsonschema
from openai.types.responses import Response, ResponseOutputItem, ResponseStreamEvent
from openai.types.shared import ErrorObject
from pydantic import BaseModel, TypeAdapter

P = ParamSpec("P")
R = TypeVar("R")
_BUILDING = threading.RLock()


def _built_once(fn: Callable[P, R]) -> Callable[P, R]:
    """functools.cache, thread-safe: parallel models' first cells wait for one build rather than each doing it."""
    cached = functools.cache(fn)

    @functools.wraps(fn)
    def once(*args: P.args, **kwargs: P.kwargs) -> R:
        with _BUILDING:
            return cached(*args, **kwargs)

    return once


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _members(union: Any) -> list[type[BaseModel]]:
    """The pydantic classes of an (Annotated) Union."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return [m for m in typing.get_args(union) if isinstance(m, type) and issubclass(m, BaseModel)]


def _type_literal(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return str(args[0]) if args else None


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


@_built_once
def _response_validator() -> jsonschema.protocols.Validator:
    schema = TypeAdapter(Response).json_schema()
    schema["properties"]["output"] = {"type": "array", "items": {"type": "object", "required": ["type"]}}
    return _validator(schema)


@_built_once
def _models_by_type(kind: str) -> dict[str, type[BaseModel]]:
    union = {"output_item": ResponseOutputItem, "event": ResponseStreamEvent}[kind]
    out: dict[str, type[BaseModel]] = {}
    for model in _members(union):
        literal = _type_literal(model)
        if literal is not None:
            out[literal] = model
    return out


@_built_once
def _validator_for(kind: str, type_name: str) -> jsonschema.protocols.Validator | None:
    model = _models_by_type(kind).get(type_name)
    return None if model is None else _validator(TypeAdapter(model).json_schema())


def known_event_types() -> frozenset[str]:
    return frozenset(_models_by_type("event"))


def _problems(validator: jsonschema.protocols.Validator, instance: Any, prefix: str) -> Iterator[SchemaProblem]:
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        yield SchemaProblem(path, _short(error))


def _short(error: jsonschema.ValidationError) -> str:
    if error.validator in ("anyOf", "oneOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return f"{_truncate(error.instance)} matches no allowed shape ({best.message})"
    return error.message if len(error.message) < 240 else error.message[:240] + "..."


def _truncate(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:80] + "..."


def response_problems(body: Any, prefix: str = "response") -> list[SchemaProblem]:
    """What the SDK requires of a Response, output items included."""
    problems = list(_problems(_response_validator(), body, prefix))
    if isinstance(body, dict) and isinstance(body.get("output"), list):
        for i, item in enumerate(body["output"]):
            problems.extend(output_item_problems(item, f"{prefix}.output[{i}]"))
    return problems


def output_item_problems(item: Any, prefix: str) -> list[SchemaProblem]:
    if not isinstance(item, dict):
        return [SchemaProblem(prefix, f"expected an object, got {_truncate(item)}")]
    validator = _validator_for("output_item", str(item.get("type")))
    if validator is None:
        return [SchemaProblem(prefix, f"unknown output item type {item.get('type')!r}")]
    return list(_problems(validator, item, prefix))


def event_problems(event: Any) -> list[SchemaProblem]:
    """What the SDK requires of a stream event of its declared type; unknown types are not judged here."""
    validator = _validator_for("event", str(event.get("type")) if isinstance(event, dict) else "")
    if validator is None:
        return []
    return list(_problems(validator, event, str(event.get("type"))))


def error_object_problems(body: Any) -> list[SchemaProblem]:
    """An OpenAI error body is {"error": ErrorObject}."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return [SchemaProblem("", f"expected an object with an 'error' object, got {_truncate(body)}")]
    return list(_problems(_error_validator(), body["error"], "error"))


@_built_once
def _error_validator() -> jsonschema.protocols.Validator:
    return _validator(TypeAdapter(ErrorObject).json_schema())


def listed_fields(kind: str, type_name: str | None = None) -> frozenset[str]:
    """Every field the SDK lists for a Response, an output item type or an event type, by wire name."""
    model = (
        Response if kind == "response" else _models_by_type(kind).get(type_name) if isinstance(type_name, str) else None
    )
    return frozenset(field.alias or name for name, field in model.model_fields.items()) if model else frozenset()


def missing_listed_fields(body: Any) -> dict[str, list[str]]:
    """Fields the SDK lists but the body omits, for the response and each output item (by path)."""
    missing: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        return missing
    absent = sorted(listed_fields("response") - body.keys())
    if absent:
        missing["response"] = absent
    output = body.get("output")
    for i, item in enumerate(output if isinstance(output, list) else []):
        if isinstance(item, dict):
            absent = sorted(listed_fields("output_item", item.get("type")) - item.keys())
            if absent:
                missing[f"response.output[{i}]"] = absent
    return missing
