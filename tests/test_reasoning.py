"""Reasoning checks and probes, against hand-made exchanges (none of this came from a server).

The builders below make a Response and a stream with a reasoning item the way OpenAI sends them:
the reasoning item first (its reasoning_text part opened, deltas, done, closed), then the message.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

import conformance.checks.reasoning as checks
from conformance.checks import run_checks
from conformance.evidence import Exchange, Level, Status
from conformance.probes import reasoning
from conformance.probes.base import Probe, Request
from conformance.runner import judge
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    json_exchange,
    message_item,
    request,
    stream_exchange,
)
from tests.rulecases import Case, assert_fires, checked, declared_in, fired

Events = list[dict[str, Any]]
REASONING = ("Thinking", " about it.")
RS_ID = "rs_test"


def reasoning_item(text: str | None = "".join(REASONING), summary: tuple[str, ...] = ()) -> dict[str, Any]:
    """A reasoning item; `text=None` gives the empty item that output_item.added opens."""
    return {
        "id": RS_ID,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summary],
        "content": [] if text is None else [{"type": "reasoning_text", "text": text}],
        "encrypted_content": None,
        "status": "in_progress" if text is None else "completed",
    }


def reasoned(
    text: str = "".join(REASONING), summary: tuple[str, ...] = (), reasoning_tokens: int = 4
) -> dict[str, Any]:
    """A completed Response whose output is a reasoning item then the answer, counted in usage."""
    body = conformant_response("No.")
    body["output"].insert(0, reasoning_item(text, summary))
    body["usage"].update(
        output_tokens=10, total_tokens=19, output_tokens_details={"reasoning_tokens": reasoning_tokens}
    )
    return body


def answer(body: dict[str, Any], **sent: Any) -> Exchange:
    return json_exchange(body, request_body=request(**sent))


def reasoning_stream(pieces: tuple[str, ...] = REASONING) -> Events:
    """The events OpenAI sends for a reasoning item at output_index 0 and a message at 1, numbered from 0."""
    text = "".join(pieces)
    where = {"item_id": RS_ID, "output_index": 0, "content_index": 0}
    opening = [
        {"type": "response.output_item.added", "output_index": 0, "item": reasoning_item(None)},
        {"type": "response.content_part.added", **where, "part": {"type": "reasoning_text", "text": ""}},
        *({"type": "response.reasoning_text.delta", **where, "delta": piece} for piece in pieces),
        {"type": "response.reasoning_text.done", **where, "text": text},
        {"type": "response.content_part.done", **where, "part": {"type": "reasoning_text", "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning_item(text)},
    ]
    message = conformant_stream()
    shifted = [{**e, "output_index": 1} if "output_index" in e else e for e in message[2:-1]]
    final = copy.deepcopy(message[-1])
    final["response"] = {**reasoned(text), "output": [reasoning_item(text), message_item("Hello.")]}
    events = [*message[:2], *opening, *shifted, final]
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def streamed(change: Callable[[Events], object] = lambda e: None) -> Exchange:
    events = reasoning_stream()
    change(events)
    return stream_exchange(events)


def drop_all(kind: str) -> Callable[[Events], None]:
    return lambda events: events.__setitem__(slice(None), [e for e in events if e["type"] != kind])


def reasoning_done_late(events: Events) -> None:
    """Close the reasoning item only after the message has opened, as llama-server does."""
    closing = next(e for e in events if e["type"] == "response.output_item.done")
    events.remove(closing)
    message_opened = [i for i, e in enumerate(events) if e["type"] == "response.output_item.added"][1]
    events.insert(message_opened + 1, closing)


def final_text(text: str) -> Callable[[Events], None]:
    return lambda events: events[-1]["response"]["output"][0]["content"][0].update(text=text)


def leak(text: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["output"][-1]["content"][0].update(text=text)


def edited(body: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    change(body)
    return body


COPIED = "Let me check whether 91 is prime: 91 = 7 x 13."

CASES = [
    Case(
        "reasoning.item",
        "absent",
        checked([checks.has_reasoning_item], answer(conformant_response())),
        "got item types ['message']",
    ),
    Case(
        "reasoning.effort_none",
        "reasoned anyway",
        checked([checks.no_reasoning], answer(reasoned(), reasoning={"effort": "none"})),
        "expected no reasoning, got reasoning item 'rs_test': 'Thinking about it.'",
    ),
    Case(
        "reasoning.effort_none",
        "tokens spent",
        checked([checks.no_reasoning], answer(reasoned(text=""), reasoning={"effort": "none"})),
        "expected reasoning_tokens 0, got 4",
    ),
    Case(
        "reasoning.no_leak",
        "think tags",
        checked([checks.no_reasoning_leak], answer(edited(conformant_response(), leak("<think>Hmm.</think>No.")))),
        "got <think>, </think>: '<think>Hmm.</think>No.'",
    ),
    Case(
        "reasoning.no_leak",
        "harmony channel",
        checked(
            [checks.no_reasoning_leak], answer(edited(conformant_response(), leak("<|channel|>final<|message|>No.")))
        ),
        "got <|channel|>, <|message|>",
    ),
    Case(
        "reasoning.no_leak",
        "harmony tokens stripped",
        checked(
            [checks.no_reasoning_leak], answer(edited(conformant_response(), leak("analysisEasy.assistantfinalNo.")))
        ),
        "got assistantfinal: 'analysisEasy.assistantfinalNo.'",
    ),
    Case(
        "reasoning.no_leak",
        "copied",
        checked([checks.no_reasoning_leak], answer(edited(reasoned(COPIED), leak(COPIED + " So no.")))),
        f"got it copied there: {COPIED!r}",
    ),
    Case(
        "reasoning.tokens",
        "absent",
        checked(
            [checks.reasoning_tokens], answer(edited(reasoned(), lambda b: b["usage"].pop("output_tokens_details")))
        ),
        "expected an integer usage.output_tokens_details.reasoning_tokens, got usage {'input_tokens': 9",
    ),
    Case(
        "reasoning.tokens",
        "zero",
        checked([checks.reasoning_tokens], answer(reasoned(reasoning_tokens=0))),
        "expected reasoning_tokens > 0",
    ),
    Case(
        "reasoning.tokens",
        "over output",
        checked([checks.reasoning_tokens], answer(reasoned(reasoning_tokens=12))),
        "expected reasoning_tokens <= output_tokens 10, got 12",
    ),
    Case(
        "reasoning.summary",
        "no item",
        checked([checks.has_summary], answer(conformant_response())),
        "expected a reasoning item with a summary",
    ),
    Case(
        "reasoning.summary",
        "empty",
        checked([checks.has_summary], answer(reasoned())),
        "expected summary_text parts, got summaries [[]]",
    ),
    Case(
        "reasoning.stream_events",
        "no done",
        checked([checks.reasoning_stream], streamed(drop_all("response.reasoning_text.done"))),
        "expected response.reasoning_text.done for item 'rs_test' after its 2 deltas, got none",
    ),
    Case(
        "reasoning.stream_events",
        "no deltas",
        checked([checks.reasoning_stream], streamed(drop_all("response.reasoning_text.delta"))),
        "expected response.reasoning_text.delta events for reasoning item 'rs_test', got none",
    ),
    Case(
        "reasoning.stream_text",
        "final differs",
        checked([checks.reasoning_stream], streamed(final_text("Other."))),
        "concatenation 'Thinking about it.', got 'Other.'",
    ),
    Case(
        "reasoning.stream_text",
        "final lacks the item",
        checked([checks.reasoning_stream], streamed(lambda e: e[-1]["response"]["output"].pop(0))),
        "(streamed 'Thinking about it.'), got reasoning items []",
    ),
    Case(
        "reasoning.stream_item_closed",
        "closed late",
        checked([checks.reasoning_closed_first], streamed(reasoning_done_late)),
        "event #8: expected reasoning item 'rs_test' closed by output_item.done before the next item opens, "
        "got output_item.added of a 'message' item",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule(case: Case) -> None:
    assert_fires(case)


def test_every_reasoning_rule_has_a_case() -> None:
    assert fired(CASES) == declared_in(checks)


def test_a_short_reasoning_text_in_the_answer_is_not_called_a_copy() -> None:
    body = edited(reasoned("No."), leak("No."))
    assert run_checks([checks.no_reasoning_leak], [answer(body)]) == []


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"output": [1, {"type": "reasoning", "content": 5, "summary": "x"}], "usage": 3}']
)
def test_checks_survive_odd_bodies(body: str) -> None:
    odd = dataclasses.replace(answer(conformant_response()), body=body)
    odd_stream = stream_exchange(
        [
            {"type": "response.output_item.added", "item": 5},
            "not json",
            {"type": "response.reasoning_text.delta", "delta": 1},
        ]
    )
    all_checks = [
        checks.has_reasoning_item,
        checks.no_reasoning,
        checks.no_reasoning_leak,
        checks.reasoning_tokens,
        checks.has_summary,
        checks.reasoning_stream,
        checks.reasoning_closed_first,
    ]
    findings = run_checks(all_checks, [odd, odd_stream])
    assert not [f for f in findings if f.rule == "harness.check_crashed"]


def reasoning_server(spec: Request) -> Exchange:
    """A hand-made server whose model reasons unless told `none`, summarises when asked, and echoes `reasoning`."""
    asked = spec.body or {}
    settings = asked.get("reasoning")
    if settings is None or settings.get("effort") == "none":
        body = conformant_response("No.")
    else:
        body = reasoned(summary=("Checked 7 x 13.",) if "summary" in settings else ())
    if asked.get("stream"):
        events = reasoning_stream()
        events[-1]["response"]["reasoning"] = settings
        ex = stream_exchange(events)
    else:
        ex = json_exchange({**body, "reasoning": settings})
    return dataclasses.replace(ex, request_body=json.dumps(asked))


@pytest.mark.parametrize("probe", reasoning.PROBES, ids=lambda p: p.id)
def test_every_probe_passes_against_a_reasoning_server(probe: Probe) -> None:
    exchange = reasoning_server(next(probe.script("test-model")))
    assert judge(probe, [exchange], semantic=True) == (Status.PASS, [])


STREAM_PROBE = next(p for p in reasoning.PROBES if p.id == "reasoning.stream")
SUMMARY_EVENTS = {
    "response.content_part.added": "response.reasoning_summary_part.added",
    "response.content_part.done": "response.reasoning_summary_part.done",
    "response.reasoning_text.delta": "response.reasoning_summary_text.delta",
    "response.reasoning_text.done": "response.reasoning_summary_text.done",
}


def as_summary(events: Events) -> None:
    """The reasoning streamed as a summary instead of reasoning_text: summary_index and summary_text parts."""
    for event in events:
        if event.get("item_id") == RS_ID and event["type"] in SUMMARY_EVENTS:
            event["type"] = SUMMARY_EVENTS[event["type"]]
            event["summary_index"] = event.pop("content_index")
            if "part" in event:
                event["part"]["type"] = "summary_text"
    text = "".join(REASONING)
    events[-1]["response"]["output"][0] = {**reasoning_item(None), "status": "completed"}
    events[-1]["response"]["output"][0]["summary"] = [{"type": "summary_text", "text": text}]
    closed = next(e for e in events if e["type"] == "response.output_item.done")
    closed["item"] = events[-1]["response"]["output"][0]


def without_reasoning_parts(events: Events) -> None:
    """The reasoning item's part events left out: its deltas open no part."""
    parts = ("response.content_part.", "response.reasoning_summary_part.")
    events[:] = [e for e in events if not (e.get("item_id") == RS_ID and e["type"].startswith(parts))]


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        # Ollama's openai/responses.go (processThinking) streams its thinking this way; LiteLLM's chat bridge
        # did too (BerriAI/litellm#32777).
        ((as_summary, without_reasoning_parts), "summary_index 0 is not an open reasoning summary part"),
        # vLLM's simple streaming path before vllm-project/vllm#35184.
        ((without_reasoning_parts,), "content_index 0 is not an open content part"),
    ],
    ids=["summary", "reasoning_text"],
)
def test_reasoning_deltas_outside_an_open_part_fail_the_stream(
    changes: tuple[Callable[[Events], None], ...], complaint: str
) -> None:
    """Hand-made fixture: the Node SDK's accumulator writes a reasoning delta into the part it names, and
    throws "missing content at index 0" when that part was never added, so the stream is broken for it."""
    events = reasoning_stream()
    for change in changes:
        change(events)
    status, findings = judge(STREAM_PROBE, [stream_exchange(events, request_body=request(True))], semantic=False)
    assert (status, findings[0].rule) == (Status.FAIL, "stream.grammar")
    assert complaint in findings[0].message


def test_reasoning_sent_whole_in_its_done_event_reaches_every_client() -> None:
    """Hand-made fixture: LM Studio sends the reasoning text whole in response.reasoning_text.done, with no delta
    (earendil-works/pi#4193); the item around it is framed as OpenAI frames it. Both SDKs read it to the final
    response, which holds the reasoning, so the missing deltas are NON-STRICT, not FAIL."""
    from conformance.checks.sdk import complaint, sdk_reads

    events = reasoning_stream()
    drop_all("response.reasoning_text.delta")(events)
    for i, event in enumerate(events):
        event["sequence_number"] = i
    exchanges = [stream_exchange(events, request_body=request(True, reasoning={"effort": "high"}))]
    assert [complaint(read) for read in sdk_reads(exchanges)] == [None]
    status, findings = judge(STREAM_PROBE, exchanges, semantic=False)
    assert (status, findings[0].rule) == (Status.NON_STRICT, "reasoning.stream_events"), findings


def test_a_summary_streamed_inside_its_parts_passes() -> None:
    """Hand-made fixture: reasoning streamed as a summary, each run inside its reasoning_summary_part."""
    events = reasoning_stream()
    as_summary(events)
    findings = run_checks(STREAM_PROBE.checks, [stream_exchange(events, request_body=request(True))])
    assert not [f for f in findings if f.level is Level.MUST], findings


def opened_with(field: str, value: Any) -> Callable[[Events], None]:
    """The reasoning item as output_item.added opens it carries `field` = `value`."""

    def change(events: Events) -> None:
        opened = next(e for e in events if e["type"] == "response.output_item.added")
        opened["item"][field] = value

    return change


@pytest.mark.parametrize(
    ("changes", "status"),
    [((as_summary, opened_with("summary", None)), Status.FAIL), ((opened_with("content", None),), Status.PASS)],
    ids=["summary parts into summary null", "reasoning_text parts into content null"],
)
def test_a_reasoning_item_opened_without_the_list_its_parts_go_into(
    changes: tuple[Callable[[Events], None], ...], status: Status
) -> None:
    """Hand-made fixtures. The Node SDK's accumulator pushes each summary part onto the summary of the item as opened
    ("Cannot read properties of null (reading 'push')"), while it creates a missing content list for reasoning_text
    parts, and the Python SDK keeps no reasoning part: only the first breaks a client."""
    from conformance.node_column import node_call, node_unavailable, read_with_node

    exchange = streamed(lambda events: [change(events) for change in changes])
    exchange = dataclasses.replace(exchange, request_body=json.dumps(next(STREAM_PROBE.script("test-model")).body))
    verdict, findings = judge(STREAM_PROBE, [exchange], semantic=True)
    assert verdict is status
    assert [f.rule for f in findings if f.level is not Level.INFO][:1] == (
        ["stream.item_lists"] if status is Status.FAIL else []
    )
    if node_unavailable() is None:
        call = node_call(exchange)
        assert call is not None
        (read,) = read_with_node([call[1]])
        assert isinstance(read, dict)
        assert ("reading 'push'" in str(read["error"])) is (status is Status.FAIL), read
