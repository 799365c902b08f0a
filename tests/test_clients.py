"""The clients column: the Agents SDK probe drives its requests through the script, and every rule can fire.

Every exchange here is hand-made (tests/exchanges.py, tests/test_tools.py): none came from a server.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections.abc import Callable

import pytest

from conformance.checks import clients, run_checks
from conformance.checks.clients import agent_works
from conformance.checks.http import COMMON_CHECKS
from conformance.evidence import Exchange, Finding, Status
from conformance.probes import Request
from conformance.probes.clients import PROBES
from conformance.runner import judge
from tests.exchanges import conformant_response, conformant_stream, error_exchange, json_exchange, stream_exchange
from tests.rulecases import Case, assert_fires, checked, declared_in, fired
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
        return run_checks([agent_works(stream=False)], [])
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
        checked([agent_works(stream=False)], *drive(BY_ID["clients.agents_sdk"], server(calling("get_wether")))),
        "after 1 request(s), the Agents SDK raised 'ModelBehaviorError: Tool get_wether not found",
    ),
    Case(
        "clients.agents_sdk_runs",
        "a 200 that is not JSON",
        checked(
            [agent_works(stream=False)],
            *drive(BY_ID["clients.agents_sdk"], server(calling(), json_exchange("Hello."))),
        ),
        "after 2 request(s), the Agents SDK raised",
    ),
    Case(
        "clients.agents_sdk_tool",
        "answered without the tool",
        checked([agent_works(stream=False)], *drive(BY_ID["clients.agents_sdk"], server(answering()))),
        f"expected the agent to run get_weather first, got the final answer {ANSWER!r}",
    ),
    Case(
        "clients.agents_sdk_answer",
        "result unused, streamed",
        checked(
            [agent_works(stream=True)],
            *drive(BY_ID["clients.agents_sdk_stream"], server(calling(stream=True), answering("Sunny.", stream=True))),
        ),
        "got 'Sunny.'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_clients_rule_has_a_case() -> None:
    assert fired(CASES) == declared_in(clients)


@pytest.mark.parametrize("stream", [False, True])
def test_the_agent_reaches_its_answer_on_a_conformant_server(stream: bool) -> None:
    probe = BY_ID["clients.agents_sdk_stream" if stream else "clients.agents_sdk"]
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
    findings = run_checks([agent_works(stream=False)], exchanges[:1])
    assert [f.rule for f in findings] == ["clients.agents_sdk_runs"]
    assert "the recording holds no answer to request POST /responses" in findings[0].message
