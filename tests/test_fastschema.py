"""The skipping validator reports exactly what jsonschema reports: the same errors, in the same order, with
the same paths, schema paths and union contexts; only the valid parts are skipped. A tagged union's
context keeps the named member's errors alone, by design; what the suite reads from it is the same."""

from __future__ import annotations

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import fastschema, openapi, schemas
from conformance.fastschema import skipping_validator
from conformance.paths import cassettes_dir
from tests.exchanges import conformant_response

EVERY_KEYWORD = {
    "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "integer"}}}},
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["a", "b", None, 1]},
        "fixed": {"const": "x"},
        "nothing": {"const": None},
        "n": {"type": ["number", "null"], "minimum": 0, "maximum": 10},
        "s": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$", "format": "date"},
        "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer"}},
        "pair": {"prefixItems": [{"type": "string"}, {"type": "boolean"}], "items": False},
        "tail": {"prefixItems": [{"type": "string"}], "items": {"type": "null"}},
        "one": {"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]},
        "any": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/node"}]},
        "all": {"allOf": [{"required": ["a"]}, {"properties": {"a": {"type": "boolean"}}}]},
        "neither": {"not": {"type": "string"}},
        "closed": {"properties": {"a": {}}, "additionalProperties": False},
        "typed": {"additionalProperties": {"type": "integer"}},
        "unique": {"uniqueItems": True, "multipleOf": 2},
    },
}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.sampled_from([0.5, 2.0, 11.5]) | st.text("abX1", max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "next", "v", "z"]), inner),
    max_leaves=8,
)
FIELDS = st.sampled_from([*sorted(EVERY_KEYWORD["properties"]), "other"])


def tree(errors: Any, contexts: bool = True) -> list[Any]:
    """Everything an error says, its union context included unless `contexts` is off."""
    return [
        (
            e.message,
            e.validator,
            repr(e.validator_value),
            list(e.absolute_path),
            list(e.absolute_schema_path),
            tree(e.context or ()) if contexts else None,
        )
        for e in errors
    ]


def same(fast: Any, instance: Any, contexts: bool = True) -> None:
    """The same errors; with `contexts` off, the same errors outside unions and the same problems read."""
    plain = jsonschema.Draft202012Validator(fast.schema, format_checker=fast.format_checker)
    assert tree(fast.iter_errors(instance), contexts) == tree(plain.iter_errors(instance), contexts)
    assert schemas.problems(fast, instance, "x") == schemas.problems(plain, instance, "x")
    assert fast.is_valid(instance) == plain.is_valid(instance)


TAGGED = {
    "$defs": {"b": {"allOf": [{"properties": {"type": {"enum": ["b"]}}}, {"required": ["y"]}]}},
    "oneOf": [
        {"type": "object", "properties": {"type": {"const": "a"}, "x": {"type": "integer"}}, "required": ["type"]},
        {"$ref": "#/$defs/b"},
    ],
}


def test_a_tagged_union_is_judged_by_the_member_its_type_names() -> None:
    fast = skipping_validator(TAGGED)
    plain = jsonschema.Draft202012Validator(TAGGED)
    (error,) = fast.iter_errors({"type": "b"})
    assert [(list(e.relative_schema_path), e.message) for e in error.context] == [
        ([1, "allOf", 1, "required"], "'y' is a required property")
    ], "member 0 fails on its tag alone: it is not explained"
    (full,) = plain.iter_errors({"type": "b"})
    assert len(full.context) == 2 and error.message == full.message
    for instance in ({"type": "b"}, {"type": "a", "x": "1"}, {"type": "c"}, {"x": 1}, {"type": "a", "x": 1}):
        same(fast, instance, contexts=False)
    same(fast, {"type": "c"})  # a type no member names: jsonschema's own account, every member explained


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSON, max_size=5), st.booleans())
def test_every_keyword_reports_what_jsonschema_reports(instance: dict[str, Any], with_kind: bool) -> None:
    if with_kind:
        instance["kind"] = "a"
    fast = skipping_validator(EVERY_KEYWORD, format_checker=jsonschema.FormatChecker())
    same(fast, instance)


def mutations(value: Any, rng: random.Random, count: int) -> list[Any]:
    """`value` with one field removed, retyped or added, somewhere in it, `count` times."""

    def mutate(node: Any) -> Any:
        if isinstance(node, dict) and node:
            node, key = dict(node), rng.choice(sorted(node))
            roll = rng.random()
            if roll < 0.3:
                del node[key]
            elif roll < 0.5:
                node[key] = rng.choice([None, 1, 1.5, True, "s", [], {}])
            elif roll < 0.6:
                node["unexpected"] = 1
            else:
                node[key] = mutate(node[key])
            return node
        if isinstance(node, list) and node:
            node, index = list(node), rng.randrange(len(node))
            node[index] = mutate(node[index])
            return node
        return rng.choice([None, 0, 2.5, "", [], {}])

    return [mutate(value) for _ in range(count)]


def test_responses_and_their_mutations_draw_the_same_errors_from_both_schemas() -> None:
    rng = random.Random(14)
    bodies = [conformant_response(), *recorded_responses()[:40]]
    for body in bodies:
        for instance in [body, *mutations(body, rng, 5)]:
            same(schemas._response_validator(), instance, contexts=False)
            same(openapi._validator("Response"), instance, contexts=False)


def test_output_items_and_events_draw_the_same_errors() -> None:
    rng = random.Random(7)
    for body in [conformant_response(), *recorded_responses()[:20]]:
        for item in body.get("output", []):
            fast = schemas._validator_for("output_item", str(item.get("type")))
            if fast is not None:
                for instance in [item, *mutations(item, rng, 5)]:
                    same(fast, instance, contexts=False)
    completed = {"type": "response.completed", "sequence_number": 3, "response": conformant_response()}
    fast = schemas._validator_for("event", "response.completed")
    assert fast is not None
    for instance in [completed, *mutations(completed, rng, 20)]:
        same(fast, instance, contexts=False)


def test_a_schema_naming_a_base_uri_gets_jsonschemas_own_validator() -> None:
    schema = {"$id": "https://example.invalid/s", "type": "object"}
    assert type(skipping_validator(schema)) is jsonschema.Draft202012Validator


def recorded_responses() -> list[dict[str, Any]]:
    """The JSON Responses the shipped cassettes hold, in a stable order."""
    found: list[dict[str, Any]] = []
    for path in sorted(cassettes_dir().glob("*/*/*.json")):
        for interaction in json.loads(path.read_text(encoding="utf-8")).get("interactions", []):
            try:
                body = json.loads(interaction.get("response", {}).get("body") or "")
            except ValueError:
                continue
            if isinstance(body, dict) and body.get("object") == "response":
                found.append(body)
    return found


def test_threads_sharing_a_fresh_validator_compile_it_once_each_part() -> None:
    """Judges in threads share a validator: parts compiled on first use must not race."""
    body = conformant_response()
    del body["id"]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            fast = skipping_validator(openapi._validator("Response").schema)
            with ThreadPoolExecutor(8) as pool:
                seen = list(pool.map(lambda v: tree(v.iter_errors(body), contexts=False), [fast] * 16))
            assert all(s == seen[0] for s in seen) and seen[0], "every thread sees the same errors"
    finally:
        sys.setswitchinterval(switching)


def test_names_a_schema_gives_never_become_code() -> None:
    """Property names and `type` tags are values in the generated code's namespace, never its text."""
    odd = "a'\"\\\n}]) or __import__('os') #"
    schema = {
        "type": "object",
        "properties": {odd: {"type": "integer"}, "item": {"$ref": "#/$defs/item"}},
        "$defs": {
            "item": {
                "oneOf": [
                    {"properties": {"type": {"const": odd}, "v": {"type": "string"}}, "required": ["type"]},
                    {"properties": {"type": {"const": "b"}}, "required": ["type"]},
                ]
            }
        },
    }
    fast = skipping_validator(schema)
    for instance in ({odd: 1}, {odd: "x"}, {"item": {"type": odd, "v": 1}}, {"item": {"type": odd, "v": "s"}}):
        same(fast, instance, contexts=False)  # a tagged union explains its named member alone, by design


class _Stop(BaseException):
    """What a judge's timer raises into it, midway through whatever it is doing."""


def test_a_compile_stopped_midway_leaves_nothing_half_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """A judge's timer may stop it while a validator compiles a part: the next judge compiles it again."""
    body = conformant_response()
    del body["id"]
    real, calls = fastschema._Predicates._keyword, [0]

    def stopping(self: Any, schema: Any, name: str, value: Any) -> list[str]:
        calls[0] += 1
        if calls[0] == 40:
            raise _Stop
        return real(self, schema, name, value)

    for stop_after in (40, 200):  # a compile of some 340 keywords in all
        fast = skipping_validator(openapi._validator("Response").schema)
        calls[0] = 40 - stop_after
        monkeypatch.setattr(fastschema._Predicates, "_keyword", stopping)
        with pytest.raises(_Stop):
            list(fast.iter_errors(body))
        monkeypatch.setattr(fastschema._Predicates, "_keyword", real)
        same(fast, body, contexts=False)
