"""State checks and probes, against hand-made exchanges and a hand-made storing server (no recordings)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import conformance.checks.state as checks
from conformance.checks import run_checks
from conformance.evidence import Exchange, Status
from conformance.probes import state
from conformance.probes.base import Probe, Request
from conformance.runner import judge
from tests.exchanges import conformant_response, error_exchange, json_exchange, request
from tests.rulecases import Case, assert_fires, checked, declared_in, fired, judged
from tests.test_parameters import BASE_URL, run, sent


def get(body: dict[str, Any]) -> Exchange:
    return sent(Request(method="GET", path=f"/responses/{body.get('id')}"), json_exchange(body))


def created(**changes: Any) -> Exchange:
    return json_exchange({**conformant_response(), **changes}, request_body=request(store=True))


def chain(first: int, chained: int | None, alone: int) -> list[Exchange]:
    """The three turns of state.previous_response_id, with these input_tokens (None: no usage)."""

    def turn(tokens: int | None, **sent: Any) -> Exchange:
        body = conformant_response()
        body["usage"] = None if tokens is None else {**body["usage"], "input_tokens": tokens}
        return json_exchange(body, request_body=json.dumps({"model": "m", "store": True, **sent}))

    question = "What is my name?"
    return [
        turn(first, input="My name is Zorblat."),
        turn(chained, input=question, previous_response_id="resp_test"),
        turn(alone, input=question),
    ]


CASES = [
    Case(
        "state.store_echo",
        "says true",
        checked(
            [checks.store_echoed],
            json_exchange({**conformant_response(), "store": True}, request_body=request(store=False)),
        ),
        "expected store False (as sent), got True",
    ),
    Case(
        "state.retrieve",
        "no id",
        checked([checks.retrieved_same], created(id=None)),
        "expected the created response to have an id to GET, got None",
    ),
    Case(
        "state.retrieve",
        "other text",
        checked([checks.retrieved_same], created(), get(conformant_response("Bye."))),
        "expected the retrieved text 'Hello.', got 'Bye.'",
    ),
    Case(
        "state.retrieve",
        "other content",
        checked(
            [checks.retrieved_same],
            created(),
            get({**conformant_response(), "output": [{**conformant_response()["output"][0], "status": "incomplete"}]}),
        ),
        "expected the retrieved output[0] to equal the created one, it differs in status",
    ),
    Case(
        "state.history",
        "history dropped",
        checked([checks.history_counted], *chain(11, 4, 4)),
        "expected input_tokens above 4 (the same turn sent alone) with previous_response_id 'resp_test', got 4",
    ),
    Case(
        "state.history",
        "nothing to chain to",
        checked(
            [checks.history_counted],
            json_exchange({**conformant_response(), "id": None}, request_body=request(store=True)),
        ),
        "expected the first turn's response to have an id to chain to, got None",
    ),
    Case(
        "state.history_measured",
        "no usage",
        checked([checks.history_counted], *chain(11, None, 4)),
        "got None with previous_response_id and 4 without",
    ),
    Case(
        "state.retrieve",
        "other id",
        checked([checks.retrieved_same], created(), get({**conformant_response(), "id": "resp_other"})),
        "expected the retrieved id 'resp_test', got 'resp_other'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule(case: Case) -> None:
    assert_fires(case)


def test_every_state_rule_has_a_case() -> None:
    assert fired(CASES) == declared_in(checks)


def test_an_empty_value_written_back_otherwise_is_the_same_item() -> None:
    """Hand-made: a store that drops nulls, or writes an empty list as null, changed nothing a client reads;
    a value that is not empty still differs."""
    made = conformant_response()
    part = made["output"][0]["content"][0]
    made["output"][0]["content"][0] = {**part, "logprobs": [], "annotations": [], "extra": {}}
    stored = conformant_response()
    stored["output"][0]["content"][0] = {k: v for k, v in part.items() if k != "annotations"} | {"logprobs": None}
    retrieved = [created(output=made["output"]), get({**stored, "id": made["id"]})]
    assert run_checks([checks.retrieved_same], retrieved) == []
    stored["output"][0]["content"][0]["logprobs"] = [{"token": "Hello", "logprob": 0.0}]
    changed = run_checks([checks.retrieved_same], [created(output=made["output"]), get({**stored, "id": made["id"]})])
    assert [f.rule for f in changed] == ["state.retrieve"] and "differs in content" in changed[0].message


def test_store_is_judged_only_where_echoed() -> None:
    assert (
        run_checks([checks.store_echoed], [json_exchange(conformant_response(), request_body=request(store=False))])
        == []
    )


@pytest.mark.parametrize("body", ["not json", "[]", '{"id": 5, "output": "x"}'])
def test_checks_survive_odd_bodies(body: str) -> None:
    odd = dataclasses.replace(created(), body=body)
    findings = run_checks(
        [checks.store_echoed, checks.retrieved_same], [odd, dataclasses.replace(get(conformant_response()), body=body)]
    )
    assert not [f for f in findings if f.rule == "harness.check_crashed"]


class StoringServer:
    """A hand-made server that stores every response, serves GET by id, and chains previous_response_id.

    Its input_tokens count the words of the prompt it builds, the chained history included, unless it
    is `forgetful`: then it echoes previous_response_id but leaves the earlier turns out of the prompt.
    """

    def __init__(self, forgetful: bool = False) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.prompts: dict[str, str] = {}
        self.forgetful = forgetful

    def __call__(self, spec: Request) -> Exchange:
        if spec.method == "GET":
            body = self.stored.get(spec.path.rsplit("/", 1)[1])
            return sent(spec, json_exchange(body) if body else error_exchange(404, self.not_found("id")))
        asked = spec.body or {}
        previous = asked.get("previous_response_id")
        if previous is not None and previous not in self.stored:
            return sent(spec, error_exchange(400, self.not_found("previous_response_id")))
        history = self.prompts.get(previous, "") if previous is not None and not self.forgetful else ""
        prompt = f"{history} {asked.get('input')}".strip()
        text = "Zorblat." if "Zorblat" in prompt and previous is not None else "Hello."
        response = conformant_response(text)
        words = len(prompt.split())
        usage = response["usage"]
        response["usage"] = {**usage, "input_tokens": words, "total_tokens": words + usage["output_tokens"]}
        body = {
            **response,
            "id": f"resp_{len(self.stored) + 1}",
            "store": asked.get("store", True),
            "previous_response_id": previous,
        }
        if body["store"]:
            self.stored[body["id"]] = body
            self.prompts[body["id"]] = f"{prompt} {text}"
        return sent(spec, json_exchange(body))

    @staticmethod
    def not_found(param: str) -> dict[str, Any]:
        return {"message": "Response not found.", "type": "invalid_request_error", "param": param, "code": "not_found"}


@pytest.mark.parametrize("probe", state.PROBES, ids=lambda p: p.id)
def test_every_probe_passes_against_a_storing_server(probe: Probe) -> None:
    status, findings = judge(probe, run(probe, StoringServer()), semantic=True)
    assert (status, judged(findings)) == (Status.PASS, [])


def test_the_second_request_uses_the_id_of_the_first_answer() -> None:
    exchanges = run(next(p for p in state.PROBES if p.id == "state.previous_response_id"), StoringServer())
    assert [json.loads(ex.request_body).get("previous_response_id") for ex in exchanges] == [None, "resp_1", None]
    assert json.loads(exchanges[1].request_body)["input"] == json.loads(exchanges[2].request_body)["input"]
    probe = next(p for p in state.PROBES if p.id == "state.store_then_get")
    assert [(ex.method, ex.url) for ex in run(probe, StoringServer())][1] == ("GET", f"{BASE_URL}/responses/resp_1")


def test_a_first_answer_without_an_id_ends_the_script() -> None:
    for probe_id in ("state.previous_response_id", "state.store_then_get"):
        script = next(p for p in state.PROBES if p.id == probe_id).script("test-model")
        next(script)
        with pytest.raises(StopIteration):
            script.send(json_exchange({**conformant_response(), "id": None}))


def test_a_server_that_drops_the_history_is_ignored_even_without_semantic_checks() -> None:
    """The wire shows it: the chained turn costs no more input tokens than the same turn alone."""
    probe = next(p for p in state.PROBES if p.id == "state.previous_response_id")
    for semantic in (True, False):
        status, findings = judge(probe, run(probe, StoringServer(forgetful=True)), semantic=semantic)
        assert status is Status.IGNORED
        assert findings[0].rule == "state.history", "what decided comes first"
        assert "expected input_tokens above 9" in findings[0].message
        assert "echoed as 'resp_1'" in findings[0].message


def test_a_server_that_keeps_the_history_passes_though_its_model_cannot_say_the_name() -> None:
    probe = next(p for p in state.PROBES if p.id == "state.previous_response_id")
    exchanges = run(probe, StoringServer())
    weak = json.loads(exchanges[1].body)
    weak["output"][0]["content"][0]["text"] = "I do not know."
    exchanges[1] = dataclasses.replace(exchanges[1], body=json.dumps(weak))
    assert judge(probe, exchanges, semantic=True)[1][0].rule == "semantic.answer_mentions"
    assert judge(probe, exchanges, semantic=False)[0] is Status.PASS


def test_usage_zeros_measure_no_history() -> None:
    """A prompt has tokens: zeros on every turn (vLLM 0.10's usage) say nothing about the history, so not IGNORED."""
    findings = run_checks([checks.history_counted], chain(0, 0, 0))
    assert [(f.rule, f.level.value) for f in findings] == [("state.history_measured", "SHOULD")]
    assert run_checks([checks.history_counted], chain(11, 20, 4)) == []
