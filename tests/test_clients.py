"""The clients column: the Agents SDK probe drives its requests through the script, and every rule can fire.

Every exchange here is hand-made (tests/exchanges.py, tests/test_tools.py): none came from a server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance import node_column
from conformance.checks import clients, run_checks
from conformance.checks.clients import AGENTS_SDK, AGENTS_SDK_STREAM, LANGCHAIN, client_works
from conformance.checks.http import COMMON_CHECKS
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.node_column import node_records, node_unavailable
from conformance.probes import BY_ID as EVERY_PROBE
from conformance.probes import Request
from conformance.probes.clients import PROBES
from conformance.records import ResultLine
from conformance.runner import judge
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    error_exchange,
    json_exchange,
    request,
    stream_exchange,
)
from tests.rulecases import Case, assert_fires, checked, declared_in, fired
from tests.test_state import listed, served
from tests.test_tools import call_item, call_stream, drive, tool_response

BY_ID = {p.id: p for p in PROBES}
ANSWER = "In Paris: 13 °C and volcanic ash."


def calling(name: str = "get_weather", stream: bool = False) -> Exchange:
    if stream:
        return call_stream()
    return json_exchange(tool_response({"tools": []}, [call_item(name)]))


def answering(text: str = ANSWER, stream: bool = False) -> Exchange:
    if stream:
        return stream_exchange(conformant_stream((text[:5], text[5:])))
    return json_exchange(conformant_response(text))


def server(*answers: Exchange) -> Callable[[Request, int], Exchange]:
    """Answers a probe's requests in turn, each stamped with the request that asked for it."""
    return lambda spec, turn: dataclasses.replace(answers[turn], request_body=json.dumps(spec.body))


def without_the_agents_sdk() -> list[Finding]:
    """The check where `import agents` fails, as on a machine without the clients extra."""
    saved = sys.modules.get("agents")
    sys.modules["agents"] = None  # type: ignore[assignment]  # makes `import agents` raise ImportError
    try:
        return run_checks([client_works(AGENTS_SDK)], [])
    finally:
        if saved is None:
            del sys.modules["agents"]
        else:
            sys.modules["agents"] = saved


CASES = [
    Case(
        "harness.client_missing",
        "no openai-agents",
        without_the_agents_sdk,
        "pip install 'conformance[clients]'",
    ),
    Case(
        "clients.agents_sdk_runs",
        "undeclared tool called",
        checked([client_works(AGENTS_SDK)], *drive(BY_ID["clients.agents_sdk"], server(calling("get_wether")))),
        "after 1 request(s), the OpenAI Agents SDK raised 'ModelBehaviorError: Tool get_wether not found",
    ),
    Case(
        "clients.agents_sdk_runs",
        "a 200 that is not JSON",
        checked(
            [client_works(AGENTS_SDK)],
            *drive(BY_ID["clients.agents_sdk"], server(calling(), json_exchange("Hello."))),
        ),
        "after 2 request(s), the OpenAI Agents SDK raised",
    ),
    Case(
        "clients.langchain_runs",
        "a 200 that is not JSON",
        checked([client_works(LANGCHAIN)], *drive(BY_ID["clients.langchain"], server(json_exchange("Hello.")))),
        "after 1 request(s), LangChain's ChatOpenAI raised",
    ),
    Case(
        "clients.tool_ran",
        "answered without the tool",
        checked([client_works(AGENTS_SDK)], *drive(BY_ID["clients.agents_sdk"], server(answering()))),
        f"expected the OpenAI Agents SDK to run get_weather first, got the final answer {ANSWER!r}",
    ),
    Case(
        "clients.answer_uses_result",
        "result unused, streamed",
        checked(
            [client_works(AGENTS_SDK_STREAM)],
            *drive(BY_ID["clients.agents_sdk_stream"], server(calling(stream=True), answering("Sunny.", stream=True))),
        ),
        "got 'Sunny.'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_agents_sdk_rule_has_a_case() -> None:
    assert fired(CASES) == {r for r in declared_in(clients) if not r.startswith("clients.node")}


@pytest.mark.parametrize(
    ("probe_id", "stream"),
    [("clients.agents_sdk", False), ("clients.agents_sdk_stream", True), ("clients.langchain", False)],
)
def test_the_flow_reaches_its_answer_on_a_conformant_server(probe_id: str, stream: bool) -> None:
    probe = BY_ID[probe_id]
    exchanges = drive(probe, server(calling(stream=stream), answering(stream=stream)))
    assert len(exchanges) == 2
    first, second = (json.loads(ex.request_body) for ex in exchanges)
    assert first.get("stream", False) is stream and [t["name"] for t in first["tools"]] == ["get_weather"]
    assert [item.get("type") for item in second["input"]][-2:] == ["function_call", "function_call_output"]
    assert run_checks((*COMMON_CHECKS, *probe.checks), exchanges) == []
    assert judge(probe, exchanges, semantic=True)[0] is Status.PASS


def test_a_rejected_request_stops_the_agent_and_its_thread() -> None:
    """The runner closes the script at a rejection: the SDK's pending request fails, and no thread is left."""
    before = threading.active_count()
    script = BY_ID["clients.agents_sdk"].script("test-model")
    spec = next(script)
    assert spec.path == "/responses" and spec.body is not None
    script.close()
    assert threading.active_count() == before
    exchanges = [dataclasses.replace(error_exchange(400), request_body=json.dumps(spec.body))]
    assert judge(BY_ID["clients.agents_sdk"], exchanges, semantic=True)[0] is Status.UNSUPPORTED


def test_the_check_says_when_the_recording_ran_out() -> None:
    """A recording cut after the call (an older SDK asked less) is the agent raising, not a crash."""
    exchanges = drive(BY_ID["clients.agents_sdk"], server(calling(), answering()))
    findings = run_checks([client_works(AGENTS_SDK)], exchanges[:1])
    assert [f.rule for f in findings] == ["clients.agents_sdk_runs"]
    assert "the recording holds no answer to request POST /responses" in findings[0].message


def test_the_check_takes_the_probes_own_run_over_those_very_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow ran to its end over these exchanges (the same objects): the check takes that outcome. Copies of
    them, or a run the runner cut short, are run again."""
    exchanges = drive(BY_ID["clients.agents_sdk"], server(calling(), answering("Sunny.")))
    runs: list[object] = []
    real = clients.run_client
    monkeypatch.setattr(clients, "run_client", lambda *args: runs.append(args) or real(*args))
    same = run_checks([client_works(AGENTS_SDK)], exchanges)
    assert runs == [] and [f.rule for f in same] == ["clients.answer_uses_result"]
    assert run_checks([client_works(AGENTS_SDK)], [dataclasses.replace(e) for e in exchanges]) == same
    assert len(runs) == 1
    script = BY_ID["clients.agents_sdk"].script("test-model")
    first = server(calling())(next(script), 0)
    script.send(first)
    script.close()  # the runner stopped at the second request: the flow got no answer to it
    cut = run_checks([client_works(AGENTS_SDK)], [first])
    assert len(runs) == 2 and "the recording holds no answer to request POST /responses" in cut[0].message


# The Node cells, derived from hand-made results records.
NODE_ENV = "CONFORMANCE_REQUIRE_NODE"


@pytest.fixture
def node() -> None:
    """Node and the openai npm package, or a skip (a failure where CI sets CONFORMANCE_REQUIRE_NODE=1)."""
    missing = node_unavailable()
    if missing is not None:
        if os.environ.get(NODE_ENV) == "1":
            pytest.fail(f"{NODE_ENV}=1 and {missing}")
        pytest.skip(missing)


def record(probe: str, *exchanges: Exchange, feature: str = "core") -> ResultLine:
    return ResultLine.model_validate(
        {
            "provider": "test-provider",
            "model": "test-model",
            "feature": feature,
            "probe": probe,
            "status": "PASS",
            "findings": [],
            "semantic_checks": True,
            "started_at": "2026-11-30T00:00:00+00:00",
            "exchanges": [ex.to_json() for ex in exchanges],
        }
    )


def node_cells(*records: ResultLine) -> dict[str, dict[str, Any]]:
    """Each Node cell as its results line holds it."""
    return {cell.probe: cell.written() for cell in node_records(records)}


def node_findings(*records: ResultLine) -> Callable[[], list[Finding]]:
    return lambda: [f.finding() for cell in node_records(records) for f in cell.findings]


AS_STREAM = dataclasses.replace(stream_exchange(conformant_stream()), request_body=request())
NO_ITEM_ADDED = stream_exchange([e for e in conformant_stream() if e["type"] != "response.output_item.added"])

NODE_CASES = [
    Case(
        "clients.node_parses",
        "an event stream for a JSON request",
        node_findings(record("core.text_input", AS_STREAM)),
        "raised \"TypeError: Cannot use 'in' operator to search for 'object' in event: response.created",
    ),
    Case(
        "clients.node_streams",
        "a stream without output_item.added",
        node_findings(record("streaming.text", NO_ITEM_ADDED)),
        "iterating the stream (after 2 SDK events) raised",
    ),
    Case(
        "clients.node_coverage",
        "counts",
        node_findings(record("core.text_input", json_exchange(conformant_response()))),
        "the Node SDK read 1 recorded 2xx JSON answer(s) of this model, 0 with an error",
    ),
]


@pytest.mark.parametrize("case", NODE_CASES, ids=lambda c: c.id)
def test_the_node_sdk_says_what_broke(node: None, case: Case) -> None:
    assert_fires(case)


def test_every_node_rule_has_a_case(node: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read = fired(NODE_CASES)
    monkeypatch.setattr(node_column, "NODE_DIR", tmp_path)
    unavailable = Case(
        "clients.node_unavailable",
        "no package",
        node_findings(record("core.text_input", json_exchange(conformant_response()))),
        f"the openai npm package is not installed: npm ci --prefix {tmp_path}",
    )
    assert read | fired([unavailable]) == {r for r in declared_in(clients) if r.startswith("clients.node")}


def test_node_reads_conformant_answers_and_skips_rejections_and_derived_cells(node: None) -> None:
    cells = node_cells(
        record("core.text_input", json_exchange(conformant_response())),
        record("streaming.text", stream_exchange(conformant_stream())),
        record("errors.missing_input", error_exchange(400)),
        record("sdk.parses", AS_STREAM, feature="sdk"),
        record("clients.node_parses", AS_STREAM, feature="clients"),
    )
    assert {probe: cell["status"] for probe, cell in cells.items()} == {
        "clients.node_parses": "PASS",
        "clients.node_streams": "PASS",
    }
    assert all(cell["feature"] == "clients" and cell["exchanges"] == [] for cell in cells.values())


def test_node_lists_input_items_and_says_when_it_cannot(node: None) -> None:
    """The storing server's list (hand-made) reads cleanly; a null body raises in inputItems.list."""
    clean = node_cells(record("state.input_items", *served("state.input_items"), feature="state"))
    assert clean["clients.node_parses"]["status"] == "PASS"
    broken = listed()
    broken[-1] = dataclasses.replace(broken[-1], body="null")
    cells = node_cells(record("state.input_items", *broken, feature="state"))
    messages = [f["message"] for f in cells["clients.node_parses"]["findings"]]
    assert cells["clients.node_parses"]["status"] == "FAIL"
    assert any('client.responses.inputItems.list("resp_1") raised' in m for m in messages), messages


def test_node_reads_a_token_count_as_a_count_not_a_response(node: None) -> None:
    """Hand-made counts: the SDK's inputTokens.count reads the object; read as a Response, it would fail output_text."""
    url = "http://x.invalid/v1/responses/input_tokens"
    clean = dataclasses.replace(json_exchange({"object": "response.input_tokens", "input_tokens": 9}), url=url)
    assert node_cells(record("parameters.input_tokens", clean))["clients.node_parses"]["status"] == "PASS"
    cells = node_cells(record("parameters.input_tokens", dataclasses.replace(clean, body="null")))
    messages = [f["message"] for f in cells["clients.node_parses"]["findings"]]
    assert cells["clients.node_parses"]["status"] == "FAIL"
    assert any("count.input_tokens raised" in m for m in messages), messages


def test_without_node_the_cells_are_not_run_and_say_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(node_column, "NODE_DIR", tmp_path)
    cells = node_cells(record("core.text_input", AS_STREAM))
    assert {cell["status"] for cell in cells.values()} == {"NOT RUN"}
    assert all(cell["findings"][0]["rule"] == "clients.node_unavailable" for cell in cells.values())


def with_event(event: dict[str, Any]) -> Exchange:
    """The conformant stream with `event` as its third event, every event numbered again."""
    events = conformant_stream()
    events.insert(2, event)
    for number, each in enumerate(events):
        each["sequence_number"] = number
    return stream_exchange(events, request_body=request(stream=True))


@pytest.mark.parametrize(
    "event",
    [
        # Perplexity's Responses stream reports its reasoning with events of its own (its OpenAPI
        # ResponseStreamEvent: response.reasoning.started, response.reasoning.search_queries, ...).
        {"type": "response.reasoning.started"},
        # mistral.rs reports a server-side tool's progress mid-stream (mistralrs-server-core/src/chat_completion.rs,
        # serialize_agentic_progress).
        {"type": "agentic_tool_call_progress", "round": 1, "tool_name": "python", "phase": "calling", "data": {}},
    ],
    ids=["perplexity", "mistral.rs"],
)
def test_an_event_type_no_sdk_lists_breaks_the_node_stream_and_fails_every_stream_column(
    node: None, event: dict[str, Any]
) -> None:
    """Hand-made fixtures: the Node SDK's accumulator raises "Unhandled response stream event" on a type it does not
    know, so the stream is lost to Node users in whichever feature's cell it shows."""
    exchange = with_event(event)
    said = node_findings(record("streaming.text", exchange))()
    assert any(f.rule == "clients.node_streams" and "Unhandled response stream event" in f.message for f in said), said
    for probe in ("streaming.text", "parameters.stream_options"):
        status, findings = judge(EVERY_PROBE[probe], [exchange], semantic=False)
        assert (status, findings[0].rule, findings[0].level) == (Status.FAIL, "stream.known_event_type", Level.MUST)


def test_a_keepalive_event_breaks_no_sdk_and_passes(node: None) -> None:
    """The Node SDK's accumulator skips `keepalive`, though the Python SDK's types do not list it."""
    exchange = with_event({"type": "keepalive"})
    said = node_findings(record("streaming.text", exchange))()
    assert [f.rule for f in said if f.level is not Level.INFO] == [], said
    assert judge(EVERY_PROBE["streaming.text"], [exchange], semantic=False)[0] is Status.PASS


@pytest.mark.parametrize("value", [None, "chat.completion"], ids=["absent", "chat.completion"])
def test_a_response_of_another_object_leaves_the_node_user_no_output_text(node: None, value: str | None) -> None:
    """Hand-made fixtures (Bifrost answered without `object`, LiteLLM's proxy with 'chat.completion'): the Node SDK adds
    output_text only to a Response whose object is 'response', so a Node user reads undefined for the answer."""
    body = {k: v for k, v in conformant_response().items() if k != "object"}
    exchange = json_exchange(body if value is None else {**body, "object": value})
    said = node_findings(record("core.text_input", exchange))()
    assert any(
        f.rule == "clients.node_parses" and "response.output_text is undefined, not the answer's text" in f.message
        for f in said
    ), said
    for probe in ("core.text_input", "parameters.user"):
        status, findings = judge(EVERY_PROBE[probe], [exchange], semantic=False)
        assert (status, findings[0].rule, findings[0].level) == (Status.FAIL, "response.object", Level.MUST)
