"""Structured-output checks and probes: every rule fires on a broken exchange, conformant answers fire none.

Every exchange here is hand-made with the builders of tests/exchanges.py: none came from a server.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import jsonschema
import pytest

from conformance.checks import RULES, run_checks
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.structured import STRUCTURED_CHECKS, schema_errors
from conformance.evidence import Exchange, Status
from conformance.probes import Probe, Request
from conformance.probes.structured import PROBES
from conformance.runner import judge
from tests.exchanges import conformant_response, conformant_stream, json_exchange, request, stream_exchange
from tests.rulecases import Case, assert_fires, checked, fired

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "enum": ["Ada", "Grace"]}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ADA = '{"name": "Ada", "age": 36}'


def json_schema(strict: bool | None = True, schema: dict[str, Any] = PERSON) -> dict[str, Any]:
    fmt = {"type": "json_schema", "name": "person", "schema": schema}
    return fmt if strict is None else {**fmt, "strict": strict}


def answered(text: str, fmt: dict[str, Any], echo: dict[str, Any] | None = None) -> Exchange:
    """A hand-made JSON answer `text` to a request for `fmt`, echoing `echo` (default: `fmt`) as text.format."""
    body = conformant_response(text)
    body["text"] = {"format": fmt if echo is None else echo}
    return json_exchange(body, request_body=request(text={"format": fmt}))


def in_parts(*messages: list[Any], fmt: dict[str, Any]) -> Exchange:
    """A hand-made answer to a request for `fmt` whose messages hold these output_text part texts."""
    body = conformant_response()
    body["output"] = [
        {
            **body["output"][0],
            "id": f"msg_{i}",
            "content": [{**body["output"][0]["content"][0], "text": t} for t in texts],
        }
        for i, texts in enumerate(messages)
    ]
    body["text"] = {"format": fmt}
    return json_exchange(body, request_body=request(text={"format": fmt}))


def streamed(pieces: Sequence[str], fmt: dict[str, Any]) -> Exchange:
    """A hand-made conformant stream of `pieces` answering a request for `fmt`."""
    events = conformant_stream(pieces)
    events[-1]["response"]["text"] = {"format": fmt}
    return dataclasses.replace(stream_exchange(events), request_body=request(stream=True, text={"format": fmt}))


CASES = [
    Case(
        "structured.json_output",
        "prose",
        checked(STRUCTURED_CHECKS, answered("Ada, aged 36.", json_schema())),
        "got text that is not JSON: 'Ada, aged 36.'",
    ),
    Case(
        "structured.json_output",
        "fenced",
        checked(STRUCTURED_CHECKS, answered(f"```json\n{ADA}\n```", {"type": "json_object"})),
        "(wrapped in a Markdown code fence)",
    ),
    Case(
        "structured.json_output",
        "array",
        checked(STRUCTURED_CHECKS, answered(f"[{ADA}]", {"type": "json_object"})),
        "got JSON list",
    ),
    Case(
        "structured.json_output",
        "streamed prose",
        checked(STRUCTURED_CHECKS, streamed(["Hel", "lo."], json_schema())),
        "'Hello.'",
    ),
    Case(
        "structured.parts_parse",
        "JSON split across parts",
        checked(STRUCTURED_CHECKS, in_parts(['{"name": "Ada",', ' "age": 36}'], fmt=json_schema())),
        'got part 0 of 2: \'{"name": "Ada",\'',
    ),
    Case(
        "structured.parts_parse",
        "JSON split across messages",
        checked(STRUCTURED_CHECKS, in_parts(['{"name": "Ada",'], [' "age": 36}'], fmt=json_schema(strict=False))),
        "got part 0 of 2",
    ),
    Case(
        "structured.parts_parse",
        "an empty part beside the JSON",
        checked(STRUCTURED_CHECKS, in_parts([ADA, ""], fmt=json_schema())),
        "got part 1 of 2: ''",
    ),
    Case(
        "structured.parts_parse",
        "a null part beside the JSON",
        checked(STRUCTURED_CHECKS, in_parts([None, ADA], fmt=json_schema())),
        "got part 0 of 2: None",
    ),
    Case(
        "structured.schema_valid",
        "missing property",
        checked(STRUCTURED_CHECKS, answered('{"name": "Ada"}', json_schema())),
        "$: 'age' is a required property",
    ),
    Case(
        "structured.schema_valid",
        "wrong type",
        checked(STRUCTURED_CHECKS, answered('{"name": "Ada", "age": "36"}', json_schema())),
        "$.age: '36' is not of type 'integer'",
    ),
    Case(
        "structured.schema_valid",
        "not in enum",
        checked(STRUCTURED_CHECKS, answered('{"name": "Alan", "age": 41}', json_schema())),
        "$.name: 'Alan' is not one of ['Ada', 'Grace']",
    ),
    Case(
        "structured.schema_valid",
        "extra property",
        checked(STRUCTURED_CHECKS, answered('{"name": "Ada", "age": 36, "born": 1815}', json_schema())),
        "('born' was unexpected)",
    ),
    Case(
        "structured.schema_valid_loose",
        "missing property",
        checked(STRUCTURED_CHECKS, answered('{"name": "Ada"}', json_schema(strict=False))),
        '(strict: False), got \'{"name": "Ada"}\'',
    ),
    Case(
        "structured.schema_valid_loose",
        "strict unset",
        checked(STRUCTURED_CHECKS, answered('{"age": 36}', json_schema(strict=None))),
        "'name' is a required property",
    ),
    Case(
        "structured.format_echo",
        "echoed as text",
        checked(STRUCTURED_CHECKS, answered(ADA, json_schema(), echo={"type": "text"})),
        "got {'type': 'text'}",
    ),
    Case(
        "structured.format_echo",
        "name dropped",
        checked(STRUCTURED_CHECKS, answered(ADA, json_schema(), echo={"type": "json_schema", "strict": True})),
        "expected text.format echoed with {'type': 'json_schema', 'name': 'person', 'strict': True}",
    ),
    Case(
        "structured.format_echo",
        "no text field",
        checked(STRUCTURED_CHECKS, answered(ADA, {"type": "json_object"}, echo={})),
        "got {}",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_structured_rule_has_a_case() -> None:
    assert fired(CASES) == {rule for rule in RULES if rule.startswith("structured.")}


def _request(probe: Probe) -> Request:
    return next(probe.script("test-model"))


def _format(probe: Probe) -> dict[str, Any]:
    body = _request(probe).body
    assert body is not None
    return body["text"]["format"]


# An answer each probe's schema accepts: what a server that enforces the schema could send.
LOVELACE = '{"surname": "Lovelace", "born": 1815}'
VALID_ANSWERS = {
    "structured.nested_array": json.dumps(
        {"people": [{"surname": "Lovelace", "born": 1815}, {"surname": "Turing", "born": 1912}]}
    )
}


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_every_probe_passes_a_conformant_answer(probe: Probe) -> None:
    sent = _request(probe)
    assert sent.body is not None
    fmt = _format(probe)
    answer = VALID_ANSWERS.get(probe.id, LOVELACE)
    if sent.stream:
        events = conformant_stream([answer[:10], answer[10:]])
        events[-1]["response"]["text"] = {"format": fmt}
        ex = dataclasses.replace(stream_exchange(events), request_body=json.dumps(sent.body))
    else:
        body = {**conformant_response(answer), "text": {"format": fmt}}
        ex = json_exchange(body, request_body=json.dumps(sent.body))
    assert run_checks((*COMMON_CHECKS, *probe.checks), [ex]) == []


def _strict_problems(schema: Any, path: str = "$") -> list[str]:
    """What OpenAI's strict mode rejects: an object with optional or undeclared properties."""
    if isinstance(schema, list):
        return [p for i, s in enumerate(schema) for p in _strict_problems(s, f"{path}[{i}]")]
    if not isinstance(schema, dict):
        return []
    problems = [p for key, sub in schema.items() for p in _strict_problems(sub, f"{path}.{key}")]
    if schema.get("type") == "object":
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: additionalProperties is not false")
        if sorted(schema.get("required", [])) != sorted(schema.get("properties", {})):
            problems.append(f"{path}: not every property is required")
    return problems


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_every_schema_sent_is_valid_and_strict_compatible(probe: Probe) -> None:
    """A schema OpenAI itself would refuse would make the probe judge the server for our mistake."""
    fmt = _format(probe)
    if fmt["type"] == "json_schema":
        jsonschema.Draft202012Validator.check_schema(fmt["schema"])
        assert _strict_problems(fmt["schema"]) == []


def test_prompts_say_json_where_openai_requires_it() -> None:
    """Only json_object needs the word JSON in the prompt; the json_schema probes must not say it (see below)."""
    for probe in PROBES:
        sent = _request(probe).body
        assert sent is not None
        asks_for_json = "json" in sent["input"].lower()
        assert asks_for_json is (_format(probe)["type"] == "json_object"), probe.id


def test_schema_errors_name_the_path_and_ignore_an_unusable_schema() -> None:
    assert schema_errors({"age": 1}, {"properties": {"age": {"type": "string"}}}) == [
        "$.age: 1 is not of type 'string'"
    ]
    assert schema_errors({}, {"type": "no-such-type"}) == []
    assert schema_errors({}, {"$ref": "#/$defs/Missing"}) == []
    assert schema_errors({}, "not a schema") == []


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {"output": "x"}, {"output": [None, 1, {"type": "message", "content": "x"}]}],
    ids=repr,
)
def test_checks_do_not_crash_on_odd_bodies(body: Any) -> None:
    odd = json_exchange(body, request_body=request(text={"format": json_schema()}))
    odd_request = json_exchange(conformant_response(ADA), request_body=json.dumps({"text": {"format": "json"}}))
    findings = run_checks(STRUCTURED_CHECKS, [odd]) + run_checks(STRUCTURED_CHECKS, [odd_request])
    assert not [f for f in findings if f.rule == "harness.check_crashed"]


def _status(probe: Probe, ex: Exchange) -> Status:
    return judge(probe, [ex], semantic=True)[0]


def _with_request(probe: Probe, ex: Exchange) -> Exchange:
    return dataclasses.replace(ex, request_body=json.dumps(_request(probe).body))


BY_ID = {p.id: p for p in PROBES}


def test_prose_for_a_schema_is_ignored_not_pass() -> None:
    probe = BY_ID["structured.schema_without_json_prompt"]
    ex = _with_request(probe, answered("Ada Lovelace was a mathematician.", _format(probe)))
    assert _status(probe, ex) is Status.IGNORED


def test_json_in_the_wrong_shape_for_a_strict_schema_is_ignored() -> None:
    probe = BY_ID["structured.nested_array"]
    assert _status(probe, _with_request(probe, answered(ADA, _format(probe)))) is Status.IGNORED


def test_a_loose_schema_broken_is_non_strict() -> None:
    probe = BY_ID["structured.json_schema_loose"]
    assert _status(probe, _with_request(probe, answered('{"name": "Ada"}', _format(probe)))) is Status.NON_STRICT


def test_json_split_across_parts_fails_where_it_only_joins_to_json() -> None:
    """Both SDKs' parse() raise on the first part; json.loads(output_text) is fine, so json_object is not judged."""
    probe = BY_ID["structured.json_schema_strict"]
    split = in_parts(['{"surname": "Lovelace",', ' "born": 1815}'], fmt=_format(probe))
    assert _status(probe, _with_request(probe, split)) is Status.FAIL
    assert (
        run_checks(STRUCTURED_CHECKS, [in_parts(['{"name": "Ada",', ' "age": 36}'], fmt={"type": "json_object"})]) == []
    )
    assert run_checks(STRUCTURED_CHECKS, [in_parts([LOVELACE + "\n"], fmt=_format(probe))]) == []


@pytest.mark.parametrize("alongside", [[], [LOVELACE]], ids=["refusal alone", "refusal beside JSON"])
def test_a_refusal_fails_in_the_models_words_not_as_a_format_ignored(alongside: list[str]) -> None:
    """Hand-made refusal part. parse() exposes it and gives no output_parsed (beside JSON, the Agents SDK still raises
    ModelRefusalError on it), so the client has no answer: FAIL, saying what the model said, not IGNORED for JSON
    that is not there."""
    from openai import OpenAI
    from pydantic import BaseModel

    from conformance.checks.sdk import RecordedSDK

    class Person(BaseModel):
        surname: str
        born: int

    probe = BY_ID["structured.json_schema_strict"]
    ex = _with_request(probe, answered(LOVELACE, _format(probe)))
    body = json.loads(ex.body)
    answer = [{**body["output"][0]["content"][0], "text": text} for text in alongside]
    body["output"][0]["content"] = [{"type": "refusal", "refusal": "I can't help with that."}, *answer]
    refused = dataclasses.replace(ex, body=json.dumps(body))

    def parse(client: OpenAI) -> Any:
        yield "client.responses.parse(...)"
        return client.responses.parse(model="test-model", input="Say hello.", text_format=Person)

    with RecordedSDK() as sdk:
        parsed = sdk.run(refused, parse).value
    assert parsed is not None and getattr(parsed.output[0].content[0], "refusal", None) == "I can't help with that."
    assert parsed.output_parsed == (Person(surname="Lovelace", born=1815) if alongside else None)
    status, findings = judge(probe, [refused], semantic=True)
    assert (status, findings[0].rule) == (Status.FAIL, "response.refusal")
    assert findings[0].message == 'the model refused: "I can\'t help with that."'
    assert "structured.json_output" not in {f.rule for f in findings}


def test_a_conformant_answer_passes() -> None:
    probe = BY_ID["structured.json_schema_strict"]
    assert _status(probe, _with_request(probe, answered(LOVELACE, _format(probe)))) is Status.PASS


def _names(schema: Any) -> set[str]:
    """Every property name a schema declares, at any depth."""
    if isinstance(schema, dict):
        own = set(schema["properties"]) if isinstance(schema.get("properties"), dict) else set()
        return own.union(*(_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_names(v) for v in schema))
    return set()


@pytest.mark.parametrize("probe", [p for p in PROBES if _format(p)["type"] == "json_schema"], ids=lambda p: p.id)
def test_no_json_schema_prompt_lets_an_unconstrained_answer_pass(probe: Probe) -> None:
    """The prompt asks for prose and names none of the schema's fields: only an enforced schema gives them."""
    body = _request(probe).body
    assert body is not None
    said = " ".join(str(body.get(k, "")) for k in ("input", "instructions")).lower()
    assert "json" not in said
    assert not [name for name in _names(_format(probe)["schema"]) if name.lower() in said]
