"""Schema findings name the failing field by its deepest path, one test per shape of message.

The messages are read from jsonschema's error tree (validator, path, context), never from its
English text; unions are judged as the member the value meant (its JSON type, then its `type`).
The bodies are hand-made mutations of the conformant fixture, not recordings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from conformance import openapi
from conformance.schemas import SchemaProblem, error_object_problems, event_problems, response_problems, summary
from tests.exchanges import conformant_response, conformant_stream


def problems_after(change: Callable[[dict[str, Any]], object]) -> list[SchemaProblem]:
    body = conformant_response()
    change(body)
    return response_problems(body)


SHAPES = [
    (
        "missing top-level field",
        lambda b: b.pop("id"),
        ("response.id", "missing", "response.id: required, absent"),
    ),
    (
        "missing field inside a nullable union (usage: X | null) is read in X, not in null",
        lambda b: b["usage"].pop("output_tokens_details"),
        ("response.usage.output_tokens_details", "missing", "response.usage.output_tokens_details: required, absent"),
    ),
    (
        "missing field two unions deep",
        lambda b: b["usage"]["input_tokens_details"].pop("cached_tokens"),
        ("response.usage.input_tokens_details.cached_tokens", "missing", "required, absent"),
    ),
    (
        "wrong JSON type",
        lambda b: b.update(created_at="yesterday"),
        ("response.created_at", "type", "response.created_at: expected number, got string 'yesterday'"),
    ),
    (
        "null where a value is required",
        lambda b: b["output"][0].update(id=None),
        ("response.output[0].id", "null", "response.output[0].id: expected string, got null"),
    ),
    (
        "no member of a nullable union fits",
        lambda b: b.update(usage="lots"),
        ("response.usage", "shape", "response.usage: expected object or null, got string 'lots'"),
    ),
    (
        "union member chosen by `type`: the field of that member is named",
        lambda b: b.update(tool_choice={"type": "function"}),
        ("response.tool_choice.name", "missing", "response.tool_choice.name: required, absent"),
    ),
    (
        "a `type` no member has",
        lambda b: b["output"][0]["content"][0].update(type="text"),
        (
            "response.output[0].content[0]",
            "shape",
            "expected type 'output_text' or type 'refusal', got an object of type 'text'",
        ),
    ),
    (
        "a value outside an enum, inside a union",
        lambda b: b.update(status="done"),
        ("response.status", "shape", "expected one of 'completed', 'failed', "),
    ),
    (
        "a constant",
        lambda b: b["output"][0].update(role="user"),
        ("response.output[0].role", "const", "response.output[0].role: expected 'assistant', got 'user'"),
    ),
    (
        "an unknown output item type",
        lambda b: b["output"][0].update(type="chat.message"),
        ("response.output[0].type", "enum", "unknown output item type 'chat.message'"),
    ),
    (
        "an item that is not an object",
        lambda b: b["output"].append("Hello."),
        ("response.output[1]", "type", "response.output[1]: expected object, got string 'Hello.'"),
    ),
]


@pytest.mark.parametrize(("change", "expected"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_a_schema_problem_names_the_deepest_failing_field(
    change: Callable[[dict[str, Any]], object], expected: tuple[str, str, str]
) -> None:
    path, kind, said = expected
    found = problems_after(change)
    named = [p for p in found if p.path == path]
    assert named, f"no problem at {path}: {[str(p) for p in found]}"
    assert named[0].kind == kind
    assert said in str(named[0])
    assert "is not valid under any of the given schemas" not in str(named[0])


def test_the_field_is_the_last_step_of_the_path() -> None:
    assert SchemaProblem("response.output[0].content[1].text", "missing", "required, absent").field == "text"
    assert SchemaProblem("response.output[2]", "type", "expected object").field == "2"


def test_a_conformant_response_has_no_problem_from_either_source() -> None:
    assert response_problems(conformant_response()) == []
    assert openapi.stricter_problems(conformant_response()) == []


def test_event_problems_name_the_field_under_the_event_type() -> None:
    delta = conformant_stream()[4]
    del delta["item_id"]
    assert [str(p) for p in event_problems(delta)] == ["response.output_text.delta.item_id: required, absent"]


def test_error_object_problems_name_the_field() -> None:
    found = error_object_problems({"error": {"message": "no", "type": 1, "param": None, "code": 3}})
    assert [str(p) for p in found] == [
        "error.code: expected string or null, got integer 3",
        "error.type: expected string, got integer 1",
    ]


def test_a_summary_groups_missing_fields_per_object_and_counts_the_rest() -> None:
    body = conformant_response()
    for key in ("id", "model", "object"):
        body.pop(key)
    body["usage"].pop("output_tokens_details")
    body["created_at"] = "soon"
    body["status"] = 3
    said = summary(response_problems(body))
    assert said.startswith("response.created_at: expected number, got string 'soon'; response lacks required id, ")
    assert said.endswith("(and 1 more)")


def test_an_array_of_many_failing_items_is_explained_in_part_and_the_rest_counted() -> None:
    """Explaining a failing item costs milliseconds: thousands of them in a small answer cost minutes."""

    def flooded(count: int) -> dict[str, Any]:
        body = conformant_response()
        body["output"][0]["content"] += [{"type": "output_text"}] * count
        body["output"] += [{}] * (count // 2)
        return body

    said = summary([*response_problems(flooded(100)), *openapi.stricter_problems(flooded(100))])
    assert "response.output[0].content: 68 more items not read" in said  # 101 parts, the 33rd failing at [33]
    assert "response.output: 18 more items not read" in said  # 51 items, the 33rd failing at [33]
    assert len(response_problems(flooded(1000))) == len(response_problems(flooded(100)))


# The published reference is a second source, stricter than the SDK in three ways.


def stricter_after(change: Callable[[dict[str, Any]], object]) -> list[str]:
    body = conformant_response()
    change(body)
    return [str(p) for p in openapi.stricter_problems(body)]


def test_a_float_timestamp_breaks_the_reference_though_the_sdk_parses_it() -> None:
    body = conformant_response()
    body["created_at"] = 1_700_000_000.5
    assert response_problems(body) == []
    assert stricter_after(lambda b: b.update(created_at=1_700_000_000.5)) == [
        "response.created_at: expected format 'unixtime', got number 1700000000.5"
    ]


def test_a_field_the_reference_requires_even_when_null_is_named_where_it_is_absent() -> None:
    assert stricter_after(lambda b: b["output"][0]["content"][0].pop("logprobs")) == [
        "response.output[0].content[0].logprobs: required, absent"
    ]


def test_what_the_sdk_already_reports_is_not_reported_twice() -> None:
    """A missing listed field is response.fields's; a path the SDK schema fails is response.schema's."""
    assert stricter_after(lambda b: b.pop("instructions")) == []
    assert stricter_after(lambda b: b.update(usage="lots")) == []
    assert stricter_after(lambda b: b["output"][0].update(type="chat.message")) == []


def test_a_null_is_never_a_reference_problem() -> None:
    """The reference leaves `null` out of fields the API sends as null, such as `user`."""
    assert stricter_after(lambda b: b.update(user=None, prompt_cache_options=None)) == []


def test_the_stored_reference_names_its_source_and_date() -> None:
    source = openapi.reference()["source"]
    assert source["repository"] == "openai/openai-openapi"
    assert len(source["commit"]) == 40
    assert source["date"][:2] == "20"
    assert set(openapi.ROOTS) <= set(openapi.reference()["schemas"])


def test_extract_keeps_every_schema_the_roots_reach_and_nothing_else() -> None:
    document = {
        "components": {
            "schemas": {
                "Response": {"properties": {"usage": {"$ref": "#/components/schemas/Usage"}}},
                "Usage": {"items": [{"$ref": "#/components/schemas/Detail"}]},
                "Detail": {"type": "object"},
                "Error": {"type": "object"},
                "Unrelated": {"type": "string"},
            }
        }
    }
    assert list(openapi.extract(document)) == ["Detail", "Error", "Response", "Usage"]


def test_the_reference_is_regenerated_by_its_command(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"openapi": "3.1.0", "info": {"version": "9"}, "components": {"schemas": {"Response": {}, "Error": {}}}}
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document))
    target = tmp_path / "openapi_reference.json"
    monkeypatch.setattr(openapi, "_target", lambda: target)
    openapi.main([str(source), "--commit", "0" * 40, "--date", "2026-08-21"])
    written = json.loads(target.read_text())
    assert written["source"]["commit"] == "0" * 40 and written["schemas"] == {"Error": {}, "Response": {}}


def _same(a: Any, a_defs: dict[str, Any], b: Any, b_defs: dict[str, Any], names: dict[str, str]) -> bool:
    """`a` (its references into `a_defs`) says what `b` says: equal but for titles and the names the
    definitions have, followed through every reference, each name always to the same other name."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() - {"$defs"} != b.keys() - {"$defs"}:
            return False
        for key in a.keys() - {"title", "$defs"}:
            if key != "$ref":
                if not _same(a[key], a_defs, b[key], b_defs, names):
                    return False
                continue
            mine, theirs = a[key].removeprefix("#/$defs/"), b[key].removeprefix("#/$defs/")
            if mine in names:
                if names[mine] != theirs:
                    return False
                continue
            names[mine] = theirs
            if not _same(a_defs[mine], a_defs, b_defs[theirs], b_defs, names):
                return False
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, a_defs, y, b_defs, names) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_the_validators_taken_from_the_events_schema_mean_what_their_own_schemas_do() -> None:
    """The Response and each output item are validated against the definitions generated once for every event
    type: as strict, field for field, as the schema of the type generated on its own."""
    from openai.types.responses import Response
    from pydantic import TypeAdapter

    from conformance import schemas

    own = TypeAdapter(Response).json_schema()
    own["properties"]["output"] = {"type": "array", "items": {"type": "object", "required": ["type"]}}
    used: Any = schemas._response_validator().schema
    assert _same(own, own.get("$defs", {}), used, used["$defs"], {})
    for name, model in schemas._models_by_type("output_item").items():
        alone = TypeAdapter(model).json_schema()
        validator = schemas._validator_for("output_item", name)
        assert validator is not None
        schema: Any = validator.schema
        defs = schema.get("$defs", {})
        target = defs[schema["$ref"].removeprefix("#/$defs/")] if "$ref" in schema else schema
        assert _same(alone, alone.get("$defs", {}), target, defs, {}), name


def test_building_every_validator_generates_the_response_and_the_output_items_with_the_events() -> None:
    """The stream events' schema holds the Response and every output item: generating theirs again cost a third
    of building every validator, before any cell is judged."""
    generated = (
        "import pydantic; types = []; generate = pydantic.TypeAdapter.json_schema\n"
        "pydantic.TypeAdapter.json_schema = lambda self, *a, **k: types.append(self._type) or generate(self, *a, **k)\n"
        "from conformance.runner import warm_validators; warm_validators()\n"
        "from conformance.schemas import UNIONS, Response\n"
        "print(Response in types, UNIONS['output_item'] in types, UNIONS['event'] in types)"
    )
    done = subprocess.run([sys.executable, "-c", generated], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True"]
