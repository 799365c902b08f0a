"""Parameter checks and probes, against hand-made exchanges (none of this came from a server).

Every rule has a broken exchange that fires it (CASES, in tests/test_rules.py's shape), and every
probe, run through a hand-made server that honours and echoes each parameter, gets PASS, ACCEPTED,
or UNSUPPORTED where refusing is the right answer.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

import conformance.checks.parameters as checks
from conformance.checks import run_checks
from conformance.evidence import Exchange, Status
from conformance.probes import parameters
from conformance.probes.base import Expect, Probe, Request
from conformance.runner import judge
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    error_exchange,
    json_exchange,
    message_item,
    raw_exchange,
    request,
    stream_exchange,
)
from tests.rulecases import Case, assert_fires, checked, declared_in, fired, judged

Responder = Callable[[Request], Exchange]
BASE_URL = "http://conformance.invalid/v1"


def answered(sent: dict[str, Any], change: Callable[[dict[str, Any]], object] = lambda b: None) -> Exchange:
    """The conformant answer to a request carrying `sent`, after `change` edits the body."""
    body = conformant_response()
    change(body)
    return json_exchange(body, request_body=request(**sent))


def tokens(*alternatives: int) -> list[dict[str, Any]]:
    """Token logprobs, one per entry, each with that many top_logprobs."""
    return [
        {
            "token": f"t{i}",
            "bytes": [116],
            "logprob": -0.1,
            "top_logprobs": [{"token": "t", "bytes": [116], "logprob": -1.0}] * n,
        }
        for i, n in enumerate(alternatives)
    ]


def with_logprobs(logprobs: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["output"][0]["content"][0].update(logprobs=logprobs)


def reasoning_item(encrypted: str | None = "gAAAA-opaque") -> dict[str, Any]:
    return {
        "id": "rs_test",
        "type": "reasoning",
        "summary": [],
        "content": [],
        "encrypted_content": encrypted,
        "status": "completed",
    }


def cut_at(
    used: int, status: str = "incomplete", reason: str | None = "max_output_tokens"
) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        body.update(status=status, incomplete_details=None if reason is None else {"reason": reason})
        body["usage"].update(output_tokens=used, total_tokens=body["usage"]["input_tokens"] + used)

    return change


def dropped_cut(body: dict[str, Any]) -> None:
    """vLLM 0.10's answer to a limit its reasoning used up (issue 24184): completed, no output, usage zeros."""
    body.update(status="completed", output=[], incomplete_details=None)
    body["usage"].update(input_tokens=0, output_tokens=0, total_tokens=0)


def counted(tokens: Any = 9, **extra: Any) -> Exchange:
    """A hand-made answer of POST /responses/input_tokens: the count object, `tokens` and `extra` changing it."""
    body = {"object": "response.input_tokens", "input_tokens": tokens, **extra}
    return dataclasses.replace(json_exchange(body), url=BASE_URL + "/responses/input_tokens")


def count_and_create(count: Exchange, billed: int = 9) -> list[Exchange]:
    """The count, then the create of the same body, whose usage says `billed` input tokens (hand-made)."""
    return [count, answered({}, lambda b: b["usage"].update(input_tokens=billed, total_tokens=billed + 2))]


def obfuscated(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "obfuscation": "x7Qa"} if e["type"].endswith(".delta") else e for e in events]


CASES = [
    Case(
        "parameters.echo",
        "different",
        checked([checks.echoes("temperature")], answered({"temperature": 0.3})),
        "expected temperature 0.3 echoed, got 1.0",
    ),
    Case(
        "parameters.echo",
        "another value",
        checked(
            [checks.echoes("text.verbosity")],
            answered({"text": {"verbosity": "low"}}, lambda b: b["text"].update(verbosity="high")),
        ),
        "expected text.verbosity 'low' echoed, got 'high'",
    ),
    Case(
        "parameters.echo",
        "service tier 'auto'",
        checked(
            [checks.echoes_service_tier],
            answered({"service_tier": "default"}, lambda b: b.update(service_tier="auto")),
        ),
        "expected service_tier to name the tier used for 'default', got 'auto'",
    ),
    Case(
        "parameters.metadata",
        "dropped",
        checked([checks.echoes_metadata], answered({"metadata": {"suite": "x"}})),
        "expected metadata {'suite': 'x'} echoed, got {}",
    ),
    Case(
        "parameters.max_output_tokens",
        "over",
        checked([checks.within_max_output_tokens], answered({"max_output_tokens": 16}, cut_at(40))),
        "expected usage.output_tokens <= max_output_tokens 16, got 40",
    ),
    Case(
        "parameters.incomplete",
        "says completed",
        checked([checks.within_max_output_tokens], answered({"max_output_tokens": 16}, cut_at(16, "completed", None))),
        "expected status 'incomplete' for an answer that used 16 of max_output_tokens 16, got 'completed'",
    ),
    Case(
        "parameters.incomplete",
        "empty and completed",
        checked([checks.within_max_output_tokens], answered({"max_output_tokens": 16}, dropped_cut)),
        "expected status 'incomplete' for an answer with no text (0 output tokens) under max_output_tokens 16, "
        "got 'completed'",
    ),
    Case(
        "parameters.incomplete",
        "wrong reason",
        checked(
            [checks.within_max_output_tokens], answered({"max_output_tokens": 16}, cut_at(16, reason="content_filter"))
        ),
        "expected incomplete_details.reason 'max_output_tokens', got {'reason': 'content_filter'}",
    ),
    Case(
        "parameters.logprobs",
        "empty",
        checked([checks.has_logprobs], answered({"include": ["message.output_text.logprobs"]})),
        "expected output_text part 0 ('Hello.') to carry logprobs, got []",
    ),
    Case(
        "parameters.top_logprobs",
        "no logprobs",
        checked([checks.has_top_logprobs], answered({"top_logprobs": 2})),
        "expected token logprobs with 2 alternatives each, got logprobs [[]]",
    ),
    Case(
        "parameters.top_logprobs",
        "too many",
        checked([checks.has_top_logprobs], answered({"top_logprobs": 2}, with_logprobs(tokens(2, 5)))),
        "expected 1 to 2 top_logprobs per token, got [{'token': 't'",
    ),
    Case(
        "parameters.top_logprobs",
        "none listed",
        checked([checks.has_top_logprobs], answered({"top_logprobs": 2}, with_logprobs(tokens(0, 0)))),
        "(2 of 2 tokens, first token #0)",
    ),
    Case(
        "parameters.encrypted_reasoning",
        "no reasoning item",
        checked([checks.has_encrypted_reasoning], answered({"include": ["reasoning.encrypted_content"]})),
        "got output item types ['message']",
    ),
    Case(
        "parameters.encrypted_reasoning",
        "empty string",
        checked(
            [checks.has_encrypted_reasoning],
            answered({}, lambda b: b["output"].insert(0, reasoning_item(""))),
        ),
        "expected a non-empty encrypted_content on reasoning item 'rs_test', got ''",
    ),
    Case(
        "parameters.obfuscation_off",
        "still obfuscated",
        checked([checks.no_obfuscation], stream_exchange(obfuscated(conformant_stream()))),
        "got it on 2 of 10 events, first event #4 'response.output_text.delta': 'x7Qa'",
    ),
    Case(
        "parameters.background",
        "foreground",
        checked([checks.runs_in_background], answered({"background": True})),
        "got 'completed': the request ran in the foreground",
    ),
    Case(
        "parameters.input_tokens_count",
        "no count",
        checked([checks.counts_input_tokens], counted(None)),
        "expected input_tokens a positive integer, got None",
    ),
    Case(
        "parameters.input_tokens_count",
        "a Response instead",
        checked(
            [checks.counts_input_tokens],
            dataclasses.replace(answered({}), url=BASE_URL + "/responses/input_tokens"),
        ),
        "expected input_tokens a positive integer, got None",
    ),
    Case(
        "parameters.input_tokens_count",
        "not JSON",
        checked(
            [checks.counts_input_tokens],
            dataclasses.replace(raw_exchange("9 tokens"), method="POST", url=BASE_URL + "/responses/input_tokens"),
        ),
        "expected a JSON object (content-type 'text/plain'), got '9 tokens'",
    ),
    Case(
        "parameters.input_tokens_object",
        "another object",
        checked([checks.counts_input_tokens], counted(object="input_tokens")),
        "expected object 'response.input_tokens', got 'input_tokens'",
    ),
    Case(
        "parameters.input_tokens_agree",
        "far from the create",
        checked([checks.counts_input_tokens], *count_and_create(counted(9), billed=60)),
        "expected input_tokens 9 close to the usage.input_tokens of a create with the same body, got 60",
    ),
    Case(
        "parameters.prompt_unknown",
        "served",
        checked([checks.unknown_prompt_rejected], answered({"prompt": {"id": "pmpt_x"}})),
        "expected a 4xx for prompt {'id': 'pmpt_x'}, which the suite never created, got 200 answering 'Hello.'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule(case: Case) -> None:
    assert_fires(case)


def test_every_parameters_rule_has_a_case() -> None:
    assert fired(CASES) == declared_in(checks)


@pytest.mark.parametrize("tier", ["default", "flex", "priority", "on_demand"])
def test_service_tier_echo_may_name_another_tier(tier: str) -> None:
    """The API documents that the echo is the tier used, which may differ from the one asked."""
    served = answered({"service_tier": "default"}, lambda b: b.update(service_tier=tier))
    assert run_checks([checks.echoes_service_tier], [served]) == []


def test_service_tier_not_echoed_is_the_echo_gap() -> None:
    served = answered({"service_tier": "default"}, lambda b: b.update(service_tier=None))
    assert [f.rule for f in run_checks([checks.echoes_service_tier], [served])] == ["response.echo_absent"]


def test_echo_compares_numbers_loosely_and_skips_what_was_not_sent() -> None:
    float32 = answered({"temperature": 0.3}, lambda b: b.update(temperature=0.30000001192092896))
    assert run_checks([checks.echoes("temperature", "top_p")], [float32]) == []


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"output": 5, "usage": [], "status": 3}'])
def test_checks_survive_odd_bodies(body: str) -> None:
    odd = dataclasses.replace(answered({"max_output_tokens": 16, "top_logprobs": 2, "prompt": {}}), body=body)
    all_checks = [
        getattr(checks, name)
        for name in dir(checks)
        if name.startswith(("has_", "within_", "runs_", "no_", "unknown_"))
    ]
    findings = run_checks([*all_checks, checks.echoes("metadata")], [odd])
    assert not [f for f in findings if f.rule == "harness.check_crashed"]


def sent(spec: Request, ex: Exchange) -> Exchange:
    """Stamp the hand-made answer with the request the probe actually made."""
    body = "" if spec.body is None else json.dumps(spec.body)
    return dataclasses.replace(ex, method=spec.method, url=BASE_URL + spec.path, request_body=body)


def honouring_server(spec: Request) -> Exchange:
    """A hand-made server that honours and echoes every parameter the probes send (not a recording)."""
    if spec.method == "GET":
        return sent(spec, json_exchange({**conformant_response(), "background": True}))
    if spec.path == "/responses/input_tokens":
        return sent(spec, counted())
    asked = dict(spec.body or {})
    if "prompt" in asked:
        return sent(
            spec,
            error_exchange(
                404, {"message": "Prompt not found.", "type": "invalid_request_error", "param": "prompt", "code": None}
            ),
        )
    if asked.get("stream"):
        return sent(spec, stream_exchange(conformant_stream()))
    body = conformant_response()
    for key in (
        "background",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "prompt_cache_key",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "temperature",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    ):
        if key in asked:
            body[key] = copy.deepcopy(asked[key])
    body["text"] = {**body["text"], **asked.get("text", {})}
    include = asked.get("include", [])
    if "reasoning" in asked:
        encrypted = "gAAAA-opaque" if "reasoning.encrypted_content" in include else None
        body["output"].insert(0, reasoning_item(encrypted))
    if "message.output_text.logprobs" in include:
        with_logprobs(tokens(*[asked.get("top_logprobs", 0)] * 2))(body)
    if "max_output_tokens" in asked:
        cut_at(asked["max_output_tokens"])(body)
        body["output"] = [message_item("1, 2, 3, 4, 5, 6", "incomplete")]
    if asked.get("background"):
        body.update(status="queued", output=[], usage=None, completed_at=None)
    return sent(spec, json_exchange(body))


def run(probe: Probe, server: Responder) -> list[Exchange]:
    """Drive the probe's script against `server`, as the runner does, without a socket."""
    script = probe.script("test-model")
    exchanges = [server(next(script))]
    while True:
        try:
            exchanges.append(server(script.send(exchanges[-1])))
        except StopIteration:
            return exchanges


EXPECTED = {"parameters.prompt": Status.UNSUPPORTED}


@pytest.mark.parametrize("probe", parameters.PROBES, ids=lambda p: p.id)
def test_every_probe_passes_against_an_honouring_server(probe: Probe) -> None:
    exchanges = run(probe, honouring_server)
    status, findings = judge(probe, exchanges, semantic=True)
    default = Status.ACCEPTED if probe.expect is Expect.UNOBSERVABLE else Status.PASS
    assert (status, judged(findings)) == (EXPECTED.get(probe.id, default), [])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (cut_at(140, "completed", None), (Status.IGNORED, "parameters.max_output_tokens")),
        (dropped_cut, (Status.FAIL, "parameters.incomplete")),
        (cut_at(16, "completed", None), (Status.FAIL, "parameters.incomplete")),
        (cut_at(10, "completed", None), (Status.PASS, None)),
    ],
    ids=["limit ignored", "cut answer dropped, said completed", "cut, said completed", "short whole answer"],
)
def test_max_output_tokens_verdicts(change: Callable[[dict[str, Any]], None], expected: tuple[Status, str]) -> None:
    """A limit ignored is IGNORED (the answer was whole, its status true); a cut answer called whole FAILs."""

    def echoed(body: dict[str, Any]) -> None:
        change(body)
        body["max_output_tokens"] = 16

    exchange = answered({"max_output_tokens": 16}, echoed)
    status, findings = judge(_probe("parameters.max_output_tokens"), [exchange], semantic=True)
    assert (status, findings[0].rule if findings else None) == expected


def test_background_polls_until_the_response_is_no_longer_pending() -> None:
    waits: list[float] = []
    pending = iter(["queued", "in_progress", "completed"])

    def server(spec: Request) -> Exchange:
        if spec.method == "GET":
            waits.append(spec.delay_s)
        body = {**conformant_response(), "status": next(pending)}
        return sent(spec, json_exchange(body))

    exchanges = run(_probe("parameters.background"), server)
    assert [(ex.method, ex.url.rsplit("/v1", 1)[1]) for ex in exchanges] == [
        ("POST", "/responses"),
        ("GET", "/responses/resp_test"),
        ("GET", "/responses/resp_test"),
    ]
    assert waits == list(parameters.POLL_DELAYS_S[:2])


def test_background_gives_up_after_the_last_poll() -> None:

    def server(spec: Request) -> Exchange:
        return sent(spec, json_exchange({**conformant_response(), "status": "in_progress", "output": []}))

    exchanges = run(_probe("parameters.background"), server)
    assert len(exchanges) == 1 + len(parameters.POLL_DELAYS_S)
    status, findings = judge(_probe("parameters.background"), exchanges, semantic=True)
    assert status is Status.FAIL
    assert ("response.completed", "expected status 'completed', got 'in_progress'") in [
        (f.rule, f.message) for f in findings
    ]


def _probe(probe_id: str) -> Probe:
    return next(p for p in parameters.PROBES if p.id == probe_id)


@pytest.mark.parametrize(
    ("count", "billed"), [(9, 9), (60, 56), (60, 64), (5, 9)], ids=["same", "a tenth under", "a tenth over", "4 off"]
)
def test_a_count_close_to_the_create_agrees(count: int, billed: int) -> None:
    assert run_checks([checks.counts_input_tokens], count_and_create(counted(count), billed)) == []


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_the_count_route_is_unsupported(status: int) -> None:
    missing = {"message": "Not Found", "type": "invalid_request_error", "param": None, "code": None}

    def server(spec: Request) -> Exchange:
        return sent(spec, error_exchange(status, missing) if "input_tokens" in spec.path else answered({}))

    exchanges = run(_probe("parameters.input_tokens"), server)
    assert judge(_probe("parameters.input_tokens"), exchanges, semantic=True)[0] is Status.UNSUPPORTED


def test_the_count_and_the_create_send_the_same_body() -> None:
    exchanges = run(_probe("parameters.input_tokens"), honouring_server)
    assert [(ex.method, ex.url.rsplit("/v1", 1)[1]) for ex in exchanges] == [
        ("POST", "/responses/input_tokens"),
        ("POST", "/responses"),
    ]
    assert exchanges[0].request_json() == exchanges[1].request_json()


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (counted(None), (Status.FAIL, "parameters.input_tokens_count")),
        (counted(object="list"), (Status.NON_STRICT, "parameters.input_tokens_object")),
        (counted(400), (Status.NON_STRICT, "parameters.input_tokens_agree")),
    ],
    ids=["no count", "another object", "far off"],
)
def test_input_tokens_verdicts(count: Exchange, expected: tuple[Status, str]) -> None:
    """A count a client cannot read FAILs; one that names another object or disagrees with usage is NON-STRICT."""
    status, findings = judge(_probe("parameters.input_tokens"), count_and_create(count), semantic=True)
    assert (status, judged(findings)[0].rule) == expected
