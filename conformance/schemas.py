"""JSON Schemas derived from the official `openai` SDK's types, never copied from the spec by hand.

Two levels, because the SDK is lenient on purpose: what the SDK *requires* (breaking it means a
client will fail to parse: MUST) and every field the SDK *lists* (missing ones mean a client may
read None where the spec promises a value: SHOULD).

Output items and stream events are unions discriminated by `type`; we validate each against its
own member type. Every problem is read from jsonschema's error tree (the failing keyword, its path,
a union's context), never from its English message, and names the deepest failing field: a union
is judged as the member the value meant, so a message says "response.usage lacks required
output_tokens_details", not "matches no allowed shape (... is not of type 'null')".
"""

from __future__ import annotations

import functools
import re
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from openai.types.responses import Response, ResponseOutputItem, ResponseStreamEvent
from openai.types.shared import ErrorObject
from pydantic import BaseModel, TypeAdapter

from conformance.fastschema import MAX_FAILING, UNREAD, skipping_validator

P = ParamSpec("P")
R = TypeVar("R")
_BUILDING = threading.RLock()
UNIONS: dict[str, Any] = {"output_item": ResponseOutputItem, "event": ResponseStreamEvent}  # validated per member


def built_once(fn: Callable[P, R]) -> Callable[P, R]:
    """functools.cache, thread-safe: parallel models' first cells wait for one build rather than each doing it."""
    cached = cast(Callable[P, R], functools.cache(fn))  # the arguments are hashable: types and names

    @functools.wraps(fn)
    def once(*args: P.args, **kwargs: P.kwargs) -> R:
        with _BUILDING:
            return typing.cast(Callable[P, R], cached)(*args, **kwargs)

    return once


@dataclass(frozen=True)
class SchemaProblem:
    """One failing field: `path` is the deepest path that fails, a missing field's own path included.

    `kind` is what failed, read from jsonschema's error tree rather than its English message:
    "missing", "unexpected", "null" (a null where a value is expected), "shape" (no member of a
    union fits), "unread" (items past the first MAX_FAILING that fail, counted, not explained), or the
    keyword that failed ("type", "enum", "const", "format", ...).
    """

    path: str
    kind: str
    message: str

    @property
    def field(self) -> str:
        """The failing field's own name (or index), the last step of its path."""
        return re.split(r"[.\[]", self.path)[-1].rstrip("]")

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
    return skipping_validator(schema, cls)


@built_once
def _response_validator() -> jsonschema.protocols.Validator:
    """A Response, its output items each left to their own validator (`response_problems`)."""
    defs = _shared_defs()
    if Response.__name__ in defs:
        response = {**defs[Response.__name__], "$defs": defs}
    else:  # a name pydantic had to qualify: generated on its own
        response = TypeAdapter(Response).json_schema()
    output = {"type": "array", "items": {"type": "object", "required": ["type"]}}
    return _validator({**response, "properties": {**response["properties"], "output": output}})


@built_once
def _models_by_type(kind: str) -> dict[str, type[BaseModel]]:
    union = UNIONS[kind]
    out: dict[str, type[BaseModel]] = {}
    for model in _members(union):
        literal = _type_literal(model)
        if literal is not None:
            out[literal] = model
    return out


@built_once
def _shared_defs() -> dict[str, Any]:
    """Every stream event type in one JSON Schema generation, which holds every type a judge validates: each
    response.* event carries a whole Response, and so every output item type. The types are shared, so one
    generation costs about what five separate ones do; the Response and the output items taken from it spare
    two more generations before any cell (a third of building every validator)."""
    union: Any = UNIONS["event"]
    defs: dict[str, Any] = TypeAdapter(union).json_schema().get("$defs", {})
    return defs


@built_once
def _validator_for(kind: str, type_name: str) -> jsonschema.protocols.Validator | None:
    model = _models_by_type(kind).get(type_name)
    if model is None:
        return None
    defs = _shared_defs()
    if model.__name__ not in defs:  # a name pydantic had to qualify: generated on its own
        return _validator(TypeAdapter(model).json_schema())
    return _validator({"$defs": defs, "$ref": f"#/$defs/{model.__name__}"})


@built_once
def build_all() -> None:
    """Every validator a judge can use, built in one go: the SDK's types are a closed set, so a process
    pays for them once, up front, and no cell waits on (or is timed for) a build."""
    response_problems({})
    error_object_problems({"error": {}})
    for name in sorted(_models_by_type("event")):
        event_problems({"type": name})
    for name in sorted(_models_by_type("output_item")):
        output_item_problems({"type": name}, "")


def known_event_types() -> frozenset[str]:
    return frozenset(_models_by_type("event"))


def problems(validator: jsonschema.protocols.Validator, instance: Any, prefix: str) -> list[SchemaProblem]:
    """Every field `instance` fails under `prefix`, each once, the outermost first."""
    found = [p for error in validator.iter_errors(instance) for p in _read(error, prefix)]
    unique = {(p.path, p.kind, p.message): p for p in found}
    return sorted(unique.values(), key=lambda p: (p.path.count(".") + p.path.count("["), p.path))


def _path(prefix: str, steps: Iterable[Any]) -> str:
    return prefix + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


def _read(error: ValidationError, prefix: str) -> Iterator[SchemaProblem]:
    """The problems one error stands for, descending a union into the member the instance meant."""
    where = _path(prefix, error.absolute_path)
    instance: Any = error.instance
    expected: Any = error.validator_value
    if error.validator in ("anyOf", "oneOf"):
        members = _members_tried(error)
        meant = _meant(members)
        if meant is not None:
            for sub in members[meant]:
                yield from _read(sub, prefix)
        elif error.context:
            kind = "null" if instance is None else "shape"
            yield SchemaProblem(where, kind, f"expected {_alternatives(members)}, got {_kind(instance)}")
        else:
            yield SchemaProblem(where, "shape", f"expected exactly one allowed shape, got {_kind(instance)}")
    elif error.validator == UNREAD:
        yield SchemaProblem(where, UNREAD, error.message)
    elif error.validator == "required" and isinstance(instance, dict):
        for name in expected:
            if name not in instance:
                yield SchemaProblem(_path(where, [name]), "missing", "required, absent")
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for name in instance:
            if name not in allowed:
                yield SchemaProblem(
                    _path(where, [name]), "unexpected", f"not allowed here, got {_truncate(instance[name])}"
                )
    elif error.validator == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        yield SchemaProblem(where, "null" if instance is None else "type", f"expected {wanted}, got {_kind(instance)}")
    elif error.validator == "enum":
        yield SchemaProblem(where, "enum", f"expected one of {_listed(expected)}, got {_truncate(instance)}")
    elif error.validator == "const":
        yield SchemaProblem(where, "const", f"expected {expected!r}, got {_truncate(instance)}")
    elif error.validator == "format":
        yield SchemaProblem(where, "format", f"expected format {expected!r}, got {_kind(instance)}")
    else:
        yield SchemaProblem(
            where, str(error.validator), f"expected {error.validator} {_truncate(expected)}, got {_truncate(instance)}"
        )


def _members_tried(error: ValidationError) -> dict[int, list[ValidationError]]:
    """A union's errors grouped by the member (its index in anyOf / oneOf) that raised them."""
    alternatives: Any = error.validator_value
    members: dict[int, list[ValidationError]] = {i: [] for i in range(len(alternatives))}
    for sub in error.context or ():
        members.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    return members


def _rules_out(error: ValidationError) -> bool:
    """The member is not the one meant: the instance has another JSON type, or names another `type`."""
    steps = list(error.relative_path)
    if not steps:
        return error.validator in ("type", "const", "enum")
    return steps == ["type"] and error.validator in ("const", "enum")


def _meant(members: dict[int, list[ValidationError]]) -> int | None:
    """The member the instance was meant to be: the one its JSON type and its `type` field select.

    So `usage: X | null` with an object is judged as X, and an output item as the member its `type`
    names; when several members still fit, jsonschema's relevance picks among their errors.
    """
    fitting = [i for i, errors in members.items() if errors and not any(_rules_out(e) for e in errors)]
    if len(fitting) <= 1:
        return fitting[0] if fitting else None
    best = best_match(e for i in fitting for e in members[i])
    return int(best.relative_schema_path[0]) if best is not None else fitting[0]


def _alternatives(members: dict[int, list[ValidationError]]) -> str:
    """What a union allows, as its members' ruling-out errors say: JSON types and `type` values."""
    names: list[str] = []
    for errors in members.values():
        for e in errors:
            if _rules_out(e):
                value: Any = e.validator_value
                if e.validator == "type":
                    names.append(" or ".join(value) if isinstance(value, list) else str(value))
                elif list(e.relative_path) == ["type"]:
                    names.extend(f"type {v!r}" for v in (value if e.validator == "enum" else [value]))
                elif e.validator == "enum":
                    names.append(
                        f"one of {_listed(value)}" if len(value) <= 8 else f"one of {len(value)} listed values"
                    )
                else:
                    names.append(repr(value))
                break
    unique = list(dict.fromkeys(names))
    shown = unique[:6] + ([f"{len(unique) - 6} more"] if len(unique) > 6 else [])
    return " or ".join(shown) if shown else "an allowed shape"


_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _kind(value: Any) -> str:
    """A value as a finding names it: its JSON type, its `type` field for objects that have one, and the value."""
    if value is None:
        return "null"
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return f"an object of type {value['type']!r}"
    name = next((n for t, n in _JSON_TYPES if isinstance(value, t)), type(value).__name__)
    return f"{name} {_truncate(value)}"


def summary(problems: Sequence[SchemaProblem], limit: int = 3) -> str:
    """Problems as one bounded line: the missing fields of one object grouped, the rest counted past `limit`."""
    missing: dict[str, list[str]] = {}
    lines: list[str] = []
    unread = list(dict.fromkeys(str(p) for p in problems if p.kind == UNREAD))
    for p in problems:
        if p.kind == UNREAD:
            continue
        if p.kind == "missing":
            parent = p.path.removesuffix(f".{p.field}")
            if parent not in missing:
                lines.append(parent)
            missing.setdefault(parent, []).append(p.field)
        else:
            lines.append(str(p))
    said = [f"{line} lacks required {', '.join(missing[line])}" if line in missing else line for line in lines]
    more = [f"and {len(said) - limit} more", *unread] if len(said) > limit else unread
    return "; ".join(said[:limit]) + (f" ({'; '.join(more)})" if more else "")


def _listed(values: Sequence[Any], limit: int = 8) -> str:
    shown = ", ".join(map(repr, values[:limit]))
    return shown + (f" or {len(values) - limit} more" if len(values) > limit else "")


def _truncate(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:80] + "..."


def response_problems(body: Any, prefix: str = "response") -> list[SchemaProblem]:
    """What the SDK requires of a Response, output items included."""
    found = problems(_response_validator(), body, prefix)
    output = body.get("output") if isinstance(body, dict) else None
    output = output if isinstance(output, list) else []
    failing = 0
    for i, item in enumerate(output):
        mine = output_item_problems(item, f"{prefix}.output[{i}]")
        if mine and failing == MAX_FAILING:  # as fastschema reads an array's items
            found.append(SchemaProblem(f"{prefix}.output", UNREAD, f"{len(output) - i} more items not read"))
            break
        failing += bool(mine)
        found.extend(mine)
    return found


def output_item_problems(item: Any, prefix: str) -> list[SchemaProblem]:
    if not isinstance(item, dict):
        return [SchemaProblem(prefix, "type", f"expected object, got {_kind(item)}")]
    validator = _validator_for("output_item", str(item.get("type")))
    if validator is None:
        return [SchemaProblem(f"{prefix}.type", "enum", f"unknown output item type {item.get('type')!r}")]
    return problems(validator, item, prefix)


def event_problems(event: Any) -> list[SchemaProblem]:
    """What the SDK requires of a stream event of its declared type; unknown types are not judged here."""
    validator = _validator_for("event", str(event.get("type")) if isinstance(event, dict) else "")
    if validator is None:
        return []
    return problems(validator, event, str(event.get("type")))


def error_object_problems(body: Any) -> list[SchemaProblem]:
    """An OpenAI error body is {"error": ErrorObject}."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return [SchemaProblem("error", "missing", f"expected an object with an 'error' object, got {_truncate(body)}")]
    return problems(_error_validator(), body["error"], "error")


@built_once
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
