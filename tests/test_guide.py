"""The guide's examples: each probe sends what the SDK sends for the example's call, and each check says
whether the example, run through the SDK on the answer, does what the guide says.

Every answer here is hand-made with the builders of tests/exchanges.py (none came from a server);
the request side is captured from the real SDK through an httpx2 mock transport.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from openai import OpenAI

from conformance.checks import RULES, run_checks
from conformance.checks.http import COMMON_CHECKS
from conformance.evidence import Exchange, Level, Status
from conformance.probes import Probe, Request
from conformance.probes.guide import CONTRACT_FORMAT, NAME, PROBES, PRODUCT, VAT_TOOL, calls
from conformance.runner import judge
from conformance.schemas import listed_fields
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    error_exchange,
    json_exchange,
    message_item,
    stream_exchange,
)
from tests.rulecases import Case, assert_fires, checked, fired

MODEL = "test-model"
BY_ID = {p.id: p for p in PROBES}
CONTRACT = '{"company": "OVHcloud", "start_date": "2026-01-12"}'
Events = list[dict[str, Any]]


def sent_by_sdk(**kwargs: Any) -> httpx2.Request:
    """The request the official SDK sends for `client.responses.create(**kwargs)`."""
    captured: list[httpx2.Request] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        captured.append(req)
        return httpx2.Response(200, json=conformant_response())

    transport = httpx2.MockTransport(handler)
    with OpenAI(api_key="k", base_url="http://x.invalid/v1", http_client=httpx2.Client(transport=transport)) as client:
        client.responses.create(**kwargs)
    return captured[0]


def first_request(probe: Probe) -> Request:
    return next(probe.script(MODEL))


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_each_probe_sends_what_the_sdk_sends_for_the_examples_call(probe: Probe) -> None:
    kwargs = calls()[probe.id]
    sdk = sent_by_sdk(model=MODEL, **kwargs)
    ours = first_request(probe)
    assert (sdk.method, sdk.url.path) == (ours.method, "/v1" + ours.path)
    assert json.loads(sdk.content) == ours.body
    assert ours.stream is (kwargs.get("stream") is True)
    assert kwargs["store"] is False, "the guide always sends store: false"
    assert len(list(probe.script(MODEL))) == 1


def test_the_examples_keep_the_guides_shapes() -> None:
    """The paraphrase changes words, not shapes: typed message items, a flat tool, text.format json_schema."""
    examples = calls()
    assert all(item["type"] == "message" for item in examples["guide.multi_turn"]["input"])
    assert examples["guide.system_role"]["input"][0]["role"] == "system"
    assert examples["guide.tools"]["tools"] == [VAT_TOOL] and "function" not in VAT_TOOL
    assert examples["guide.json_schema"]["text"]["format"] == CONTRACT_FORMAT
    assert examples["guide.vision"]["input"][0]["content"][1]["image_url"].startswith("data:image/png;base64,")


# -- hand-made answers -----------------------------------------------------------------------------


def answer(probe_id: str, text: str = "Hello.", change: Callable[[dict[str, Any]], object] | None = None) -> Exchange:
    """Hand-made: a JSON answer with `text` to the probe's request, after `change` edits the body."""
    body = conformant_response(text)
    if change is not None:
        change(body)
    return json_exchange(body, request_body=json.dumps(first_request(BY_ID[probe_id]).body))


def streamed(change: Callable[[Events], object] | None = None) -> Exchange:
    """Hand-made: a conformant stream answering the streaming example, after `change` edits its events."""
    events = conformant_stream()
    if change is not None:
        change(events)
    sent = json.dumps(first_request(BY_ID["guide.streaming"]).body)
    return stream_exchange(events, request_body=sent)


def function_call(name: str = "get_vat_rate", arguments: str = '{"country": "France"}') -> dict[str, Any]:
    realistic = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": name, "arguments": arguments}
    return {**{f: realistic.get(f) for f in listed_fields("output_item", "function_call")}, "status": "completed"}


def reasoning_deltas(events: Events) -> None:
    """A reasoning item streamed before the message, as gpt-oss style servers send it."""
    where = {"item_id": "rs_1", "output_index": 0, "content_index": 0}
    item = {"id": "rs_1", "type": "reasoning", "summary": [], "content": []}
    reasoning = [
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.reasoning_text.delta", **where, "delta": "Think"},
        {"type": "response.reasoning_text.delta", **where, "delta": "ing."},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
    ]
    for event in events:
        if "output_index" in event:
            event["output_index"] = 1
    events[2:2] = reasoning
    for i, event in enumerate(events):
        event["sequence_number"] = i


def set_output(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__("output", value)


CASES = [
    Case(
        "guide.runs",
        "output is a string",
        checked(BY_ID["guide.basic"].checks, answer("guide.basic", change=set_output("Hello."))),
        "print(resp.output_text) raised",
    ),
    Case(
        "guide.prints_text",
        "only a reasoning item",
        checked(
            BY_ID["guide.reasoning"].checks,
            answer("guide.reasoning", change=set_output([{"id": "rs_1", "type": "reasoning", "summary": []}])),
        ),
        "the example prints resp.output_text ''",
    ),
    Case(
        "guide.stream_text",
        "no output_text deltas",
        checked(
            BY_ID["guide.streaming"].checks,
            streamed(lambda events: events.__delitem__(slice(4, 6))),
        ),
        "the loop printed no response.output_text.delta text",
    ),
    Case(
        "guide.stream_answer_only",
        "reasoning deltas printed too",
        checked(BY_ID["guide.streaming"].checks, streamed(reasoning_deltas)),
        "2 delta(s) of response.reasoning_text.delta as if answer text: 'Thinking.'",
    ),
    Case(
        "guide.runs",
        "stream event not JSON",
        checked(BY_ID["guide.streaming"].checks, streamed(lambda events: events.insert(3, "{oops"))),
        "JSONDecodeError",
    ),
    Case(
        "guide.json_parses",
        "prose",
        checked(BY_ID["guide.json_schema"].checks, answer("guide.json_schema", "The company is OVHcloud.")),
        "on resp.output_text 'The company is OVHcloud.'",
    ),
    Case(
        "guide.runs",
        "event stream to the JSON example (as transformers serve answers)",
        checked(
            BY_ID["guide.json_schema"].checks,
            stream_exchange(
                conformant_stream(), request_body=json.dumps(first_request(BY_ID["guide.json_schema"]).body)
            ),
        ),
        "resp.output_text raised \"AttributeError: 'str' object has no attribute 'output_text'\"",
    ),
    Case(
        "guide.json_schema",
        "missing start_date",
        checked(BY_ID["guide.json_schema"].checks, answer("guide.json_schema", '{"company": "OVHcloud"}')),
        "'start_date' is a required property",
    ),
    Case(
        "guide.tool_calls",
        "a Responses function_call",
        checked(BY_ID["guide.tools"].checks, answer("guide.tools", change=set_output([function_call()]))),
        'get_vat_rate({"country": "France"}) call_id \'call_1\'',
    ),
    Case(
        "guide.runs",
        "chat-style tool_calls",
        checked(
            BY_ID["guide.tools"].checks,
            answer(
                "guide.tools",
                change=lambda body: body.__setitem__(
                    "tool_calls",
                    [{"id": "c1", "type": "function", "function": {"name": "get_vat_rate", "arguments": "{}"}}],
                ),
            ),
        ),
        "'dict' object has no attribute 'function'",
    ),
    Case(
        "guide.tool_not_called",
        "answered directly",
        checked(BY_ID["guide.tools"].checks, answer("guide.tools", "France's VAT rate is 20%.")),
        "France's VAT rate is 20%.",
    ),
    Case(
        "guide.prints_text",
        "no call and no text",
        checked(BY_ID["guide.tools"].checks, answer("guide.tools", change=set_output([]))),
        "no tool call, and the example prints first.output_text ''",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_guide_rule_has_a_case() -> None:
    assert fired(CASES) == {rule for rule in RULES if rule.startswith("guide.")}


GOOD_ANSWERS = {
    "guide.multi_turn": NAME,
    "guide.json_schema": CONTRACT,
    "guide.tools": "The VAT rate in France is 20%.",
    "guide.vision": "A white 3 on a red background.",
    "guide.reasoning": f"19 * 21 = {PRODUCT}.",
}


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_a_hand_made_answer_that_does_what_the_guide_says_passes(probe: Probe) -> None:
    ex = streamed() if probe.id == "guide.streaming" else answer(probe.id, GOOD_ANSWERS.get(probe.id, "Hello."))
    findings = run_checks((*COMMON_CHECKS, *probe.checks), [ex])
    assert [f for f in findings if f.level is not Level.INFO] == []
    assert judge(probe, [ex], semantic=True)[0] is Status.PASS


@pytest.mark.parametrize(
    ("probe_id", "ex", "status"),
    [
        ("guide.tools", answer("guide.tools", change=set_output([function_call()])), Status.FAIL),
        ("guide.json_schema", answer("guide.json_schema", "Sure! Here it is."), Status.IGNORED),
        ("guide.streaming", streamed(reasoning_deltas), Status.NON_STRICT),
        ("guide.basic", error_exchange(400), Status.UNSUPPORTED),
    ],
    ids=["tool call unseen", "prose for JSON", "reasoning printed", "rejected"],
)
def test_verdicts_read_as_the_guide_reader_would(probe_id: str, ex: Exchange, status: Status) -> None:
    assert judge(BY_ID[probe_id], [ex], semantic=True)[0] is status


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_checks_never_raise_on_odd_evidence(probe: Probe) -> None:
    odd = [
        [],
        [json_exchange(conformant_response(), request_body="{not json")],
        [json_exchange([1, 2])],
        [stream_exchange(["not json", {"type": "response.completed"}])],
        [dataclasses.replace(json_exchange(conformant_response()), status=None)],
        [json_exchange({**conformant_response(), "output": [message_item(None)]})],
    ]
    for exchanges in odd:
        findings = run_checks(probe.checks, exchanges)
        assert not [f for f in findings if f.rule == "harness.check_crashed"], findings
