"""State checks and probes, against hand-made exchanges and a hand-made storing server (no recordings)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import conformance.checks.state as checks
from conformance.checks import run_checks
from conformance.checks.sdk import complaint, sdk_reads
from conformance.evidence import Exchange, Status
from conformance.probes import state
from conformance.probes.base import Probe, Request
from conformance.runner import judge
from conformance.verdict import first_rejection
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


class StoringServer:
    """A hand-made server that stores every response, serves GET by id, lists a response's input items,
    deletes, chains previous_response_id, and keeps conversations (POST /conversations, `conversation`).

    Its input_tokens count the words of the prompt it builds, the chained history included, unless it
    is `forgetful`: then it echoes previous_response_id or the conversation but leaves the earlier turns out
    of the prompt.
    Its prompt holds a turn's own instructions; `carries` takes an earlier turn's over to a chained one, into
    its "prompt" (as vLLM did, vllm-project/vllm#37697) or its "echo", or both.
    `undeleting` answers DELETE 200 and keeps the response. `default_system` puts that many words of a
    system message of its own where no instructions are sent, as Mistral's chat templates do.
    """

    def __init__(
        self, forgetful: bool = False, carries: tuple[str, ...] = (), undeleting: bool = False, default_system: int = 0
    ) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, str] = {}
        self.inputs: dict[str, Any] = {}
        self.prompts: dict[str, str] = {}
        self.forgetful, self.carries, self.undeleting = forgetful, carries, undeleting
        self.default_system = default_system

    def __call__(self, spec: Request) -> Exchange:
        parts = spec.path.strip("/").split("/")
        if spec.method == "DELETE":
            gone = self.stored.get(parts[1]) if self.undeleting else self.stored.pop(parts[1], None)
            answer = {"id": parts[1], "object": "response", "deleted": True}
            return sent(spec, json_exchange(answer) if gone else error_exchange(404, self.not_found("id")))
        if spec.method == "GET" and parts[-1] == "input_items":
            return sent(spec, self.listed(parts[1]))
        if spec.method == "GET":
            body = self.stored.get(parts[-1])
            return sent(spec, json_exchange(body) if body else error_exchange(404, self.not_found("id")))
        asked = spec.body or {}
        if parts[-1] == "conversations":
            conversation = f"conv_{len(self.conversations) + 1}"
            self.conversations[conversation] = " ".join(str(item.get("content")) for item in asked.get("items", []))
            return sent(spec, json_exchange({"id": conversation, "object": "conversation", "created_at": 1}))
        previous, conversation = asked.get("previous_response_id"), asked.get("conversation")
        if previous is not None and previous not in self.stored:
            return sent(spec, error_exchange(400, self.not_found("previous_response_id")))
        if conversation is not None and conversation not in self.conversations:
            return sent(spec, error_exchange(404, self.not_found("conversation")))
        earlier = self.prompts.get(previous, "") if previous is not None else self.conversations.get(conversation, "")
        history = "" if self.forgetful else earlier
        own = asked.get("instructions") or " ".join(["system"] * self.default_system)
        said = f"{history} {asked.get('input')}".strip()
        prompt = f"{own} {said}".strip()
        text = "Zorblat." if "Zorblat" in prompt and (previous or conversation) is not None else "Hello."
        response = conformant_response(text)
        words = len(prompt.split())
        usage = response["usage"]
        response["usage"] = {**usage, "input_tokens": words, "total_tokens": words + usage["output_tokens"]}
        inherited = (
            self.stored[previous].get("instructions") if previous is not None and "echo" in self.carries else None
        )
        body = {
            **response,
            "id": f"resp_{len(self.stored) + 1}",
            "store": asked.get("store", True),
            "previous_response_id": previous,
            "instructions": asked.get("instructions", inherited),
            "conversation": None if conversation is None else {"id": conversation},
        }
        if conversation is not None:
            self.conversations[conversation] = f"{said} {text}"
        if body["store"]:
            self.stored[body["id"]] = body
            self.inputs[body["id"]] = asked.get("input")
            self.prompts[body["id"]] = f"{prompt if 'prompt' in self.carries else said} {text}"
        return sent(spec, json_exchange(body))

    def listed(self, rid: str) -> Exchange:
        if rid not in self.stored:
            return error_exchange(404, self.not_found("id"))
        sent_input = self.inputs[rid]
        items = sent_input if isinstance(sent_input, list) else [{"role": "user", "content": sent_input}]
        data = [{"id": f"msg_{n}", "type": "message", **item} for n, item in enumerate(items)]
        return json_exchange(
            {"object": "list", "data": data, "first_id": "msg_0", "last_id": f"msg_{len(data) - 1}", "has_more": False}
        )

    @staticmethod
    def not_found(param: str) -> dict[str, Any]:
        return {"message": "Response not found.", "type": "invalid_request_error", "param": param, "code": "not_found"}


def probe(probe_id: str) -> Probe:
    return next(p for p in state.PROBES if p.id == probe_id)


def served(probe_id: str, server: StoringServer | None = None, **last: Any) -> list[Exchange]:
    """The probe's exchanges with a storing server (hand-made), the last one's answer replaced by `last`."""
    exchanges = run(probe(probe_id), server or StoringServer())
    if last:
        answer = json_exchange(last["body"], status=last.get("status", 200))
        exchanges[-1] = dataclasses.replace(exchanges[-1], status=answer.status, body=answer.body)
    return exchanges


def in_other_conversation() -> list[Exchange]:
    """state.conversation's exchanges, the turn in the conversation naming another one (hand-made)."""
    exchanges = served("state.conversation")
    body = {**json.loads(exchanges[1].body), "conversation": {"id": "conv_2"}}
    exchanges[1] = dataclasses.replace(exchanges[1], body=json.dumps(body))
    return exchanges


def deleted_with(answer: Any) -> list[Exchange]:
    """state.delete's exchanges, the DELETE answered with `answer` (hand-made)."""
    exchanges = served("state.delete")
    exchanges[2] = dataclasses.replace(exchanges[2], body=json.dumps(answer))
    return exchanges


def listed(**changes: Any) -> list[Exchange]:
    """state.input_items' exchanges, the list changed by `changes` (hand-made; None drops a key)."""
    exchanges = served("state.input_items")
    body = {**json.loads(exchanges[-1].body), **changes}
    exchanges[-1] = dataclasses.replace(
        exchanges[-1], body=json.dumps({k: v for k, v in body.items() if v is not None})
    )
    return exchanges


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
        "state.response_id",
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
        "state.response_id",
        "nothing to chain to",
        checked(
            [checks.history_counted],
            json_exchange({**conformant_response(), "id": None}, request_body=request(store=True)),
        ),
        "expected the created response to have an id to chain to with previous_response_id, got None",
    ),
    Case(
        "state.conversation_history",
        "conversation dropped",
        checked([checks.conversation_counted], *served("state.conversation", StoringServer(forgetful=True))),
        "expected input_tokens above 9 (the same turn sent alone) with conversation 'conv_1', got 9",
    ),
    Case(
        "state.conversation_id",
        "no conversation to name",
        checked([checks.conversation_counted], json_exchange({"object": "conversation", "id": ""})),
        "expected the created conversation to have an id to name in `conversation`, got ''",
    ),
    Case(
        "state.conversation_echo",
        "another conversation named",
        checked([checks.conversation_counted], *in_other_conversation()),
        "expected conversation.id 'conv_1', got conversation {'id': 'conv_2'}",
    ),
    Case(
        "state.history_measured",
        "no usage",
        checked([checks.history_counted], *chain(11, None, 4)),
        "got None with previous_response_id 'resp_test' and 4 without",
    ),
    Case(
        "state.delete",
        "delete ignored",
        checked([checks.deleted], *served("state.delete", StoringServer(undeleting=True))),
        "expected 404 for GET of 'resp_1' after its DELETE answered 200, got 200",
    ),
    Case(
        "state.response_id",
        "nothing to delete",
        checked([checks.deleted], created(id=None)),
        "expected the created response to have an id to delete, got None",
    ),
    Case(
        "state.delete_gone_status",
        "400 after delete",
        checked([checks.deleted], *served("state.delete", body={"error": {"message": "gone"}}, status=400)),
        "expected 404 for GET of the deleted response, got 400",
    ),
    Case(
        "state.delete_answer",
        "not deleted",
        checked([checks.deleted], *deleted_with({"id": "resp_1", "object": "response", "deleted": False})),
        "expected {'id': 'resp_1', 'deleted': true}, got {'id': 'resp_1', 'object': 'response', 'deleted': False}",
    ),
    Case(
        "state.input_items",
        "empty list",
        checked([checks.input_items_listed], *listed(data=[])),
        "expected data to hold the user message 'My name is Zorblat. Say hello to me.' as input_text, got []",
    ),
    Case(
        "state.input_items",
        "no data",
        checked([checks.input_items_listed], *listed(data=None)),
        "expected a list object with a `data` array, got {'object': 'list'",
    ),
    Case(
        "state.response_id",
        "nothing to list",
        checked([checks.input_items_listed], created(id=None)),
        "expected the created response to have an id to list the input items of, got None",
    ),
    Case(
        "state.input_items_list",
        "no has_more",
        checked([checks.input_items_listed], *listed(has_more=None)),
        "expected a boolean has_more, got None: unless it is false, the Python SDK's auto-pagination asks",
    ),
    Case(
        "state.input_items_list",
        "no object",
        checked([checks.input_items_listed], *listed(object="page", first_id=None)),
        "expected object 'list', got 'page'",
    ),
    Case(
        "state.instructions_not_inherited",
        "echoed",
        checked(
            [checks.instructions_not_inherited],
            *served("state.instructions_not_inherited", StoringServer(carries=("echo",))),
        ),
        "expected no instructions on the turn chained to 'resp_1', which sent none, got the earlier turn's "
        '"You are a friendly assistant',
    ),
    Case(
        "state.instructions_not_inherited",
        "in the prompt",
        checked(
            [checks.instructions_not_inherited],
            *served("state.instructions_not_inherited", StoringServer(carries=("prompt",))),
        ),
        "the chained turn took 99 input tokens, 96 over the first turn without its instructions (2) and its answer "
        "(1), where the instructions cost 94: they were carried into the prompt",
    ),
    Case(
        "state.instructions_measured",
        "a default system message",
        checked(
            [checks.instructions_not_inherited],
            *served("state.instructions_not_inherited", StoringServer(default_system=200)),
        ),
        "the first turn took 96 input tokens with its instructions and 202 without them: a difference under 32",
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
    chained = ("state.previous_response_id", "state.store_then_get", "state.instructions_not_inherited")
    for probe_id in (*chained, "state.delete", "state.input_items", "state.conversation"):
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


class Refusing(StoringServer):
    """A hand-made storing server that answers one method (to paths ending in `path`, if given) with `status` and
    an error object."""

    def __init__(self, method: str, status: int, path: str = "") -> None:
        super().__init__()
        self.method, self.status, self.path = method, status, path

    def __call__(self, spec: Request) -> Exchange:
        if spec.method == self.method and spec.path.endswith(self.path):
            return sent(spec, error_exchange(self.status, self.not_found("id")))
        return super().__call__(spec)


def test_a_conversation_is_read_on_the_wire_and_a_server_without_conversations_is_unsupported() -> None:
    """Hand-made servers: one that forgets the conversation is IGNORED even without semantic checks; one without
    POST /conversations is asked nothing more, and is UNSUPPORTED."""
    conversation = probe("state.conversation")
    exchanges = run(conversation, StoringServer())
    assert [(ex.method, ex.url.removeprefix(BASE_URL)) for ex in exchanges] == [
        ("POST", "/conversations"),
        ("POST", "/responses"),
        ("POST", "/responses"),
    ]
    assert [json.loads(ex.request_body).get("conversation") for ex in exchanges] == [None, "conv_1", None]
    for semantic in (True, False):
        status, findings = judge(conversation, run(conversation, StoringServer(forgetful=True)), semantic=semantic)
        assert status is Status.IGNORED and findings[0].rule == "state.conversation_history"
    without = run(conversation, Refusing("POST", 404, path="conversations"))
    status, findings = judge(conversation, without, semantic=True)
    assert len(without) == 1 and status is Status.UNSUPPORTED and findings[0].rule == "http.rejection"


def test_an_unknown_id_refused_where_no_id_is_found_is_unsupported_not_a_pass() -> None:
    """Hand-made servers: one without GET /responses/{id} (Ollama's router answers 404) refuses the stored
    response's GET too, so its 404 for the unknown id says nothing; one that refuses to store is asked for the
    unknown id all the same; a server that finds the stored one is judged on the unknown one."""
    unknown = probe("state.get_unknown")
    exchanges = run(unknown, StoringServer())
    assert [(ex.method, ex.url.removeprefix(BASE_URL)) for ex in exchanges] == [
        ("POST", "/responses"),
        ("GET", "/responses/resp_1"),
        ("GET", f"/responses/{state.UNKNOWN_ID}"),
    ]
    assert judge(unknown, exchanges, semantic=True)[0] is Status.PASS
    for server in (Refusing("GET", 404), Refusing("POST", 400)):
        status, findings = judge(unknown, run(unknown, server), semantic=True)
        assert status is Status.UNSUPPORTED and findings[0].rule == "http.rejection", findings
    found_anything = run(unknown, Refusing("GET", 404))
    assert found_anything[1].status == 404 and found_anything[-1].status == 404


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_delete_is_unsupported(status: int) -> None:
    found = judge(probe("state.delete"), served("state.delete", Refusing("DELETE", status)), semantic=True)
    assert found[0] is Status.UNSUPPORTED and found[1][0].rule == "http.rejection"
    assert found[1][0].message.startswith("DELETE answered")


def test_a_server_that_finds_nothing_cannot_pass_the_delete_by_luck() -> None:
    """Its 404 after the DELETE would look right; the GET before it shows nothing could be found."""
    status, findings = judge(probe("state.delete"), served("state.delete", Refusing("GET", 404)), semantic=True)
    assert status is Status.UNSUPPORTED and findings[0].message.startswith("GET answered 404")


@pytest.mark.parametrize("answer", [{}, {"id": "resp_1", "object": "response", "status": "completed"}, [], "OK"])
def test_a_delete_answer_that_does_not_contradict_it_is_no_finding(answer: Any) -> None:
    """The reference documents no body for the DELETE's 200, and the SDKs read none (hand-made answers)."""
    assert run_checks([checks.deleted], deleted_with(answer)) == []


def test_a_delete_without_effect_is_ignored_and_one_with_it_passes() -> None:
    status, findings = judge(
        probe("state.delete"), served("state.delete", StoringServer(undeleting=True)), semantic=False
    )
    assert (status, findings[0].rule) == (Status.IGNORED, "state.delete")
    assert judge(probe("state.delete"), served("state.delete"), semantic=False)[0] is Status.PASS


def test_only_a_get_of_what_the_cell_deleted_may_be_refused() -> None:
    """A 4xx to a GET after a DELETE of another URL, or a 5xx after the same one, is still the cell's rejection."""
    exchanges = served("state.delete")
    assert first_rejection(exchanges) is None
    other = dataclasses.replace(exchanges[-1], url=exchanges[-1].url + "x")
    assert first_rejection([*exchanges[:-1], other]) is other
    broken = dataclasses.replace(exchanges[-1], status=500)
    assert first_rejection([*exchanges[:-1], broken]) is broken
    refused = dataclasses.replace(exchanges[2], status=405)
    assert first_rejection([*exchanges[:2], refused, exchanges[3]]) is refused


def test_a_server_without_input_items_is_unsupported() -> None:
    found = judge(probe("state.input_items"), served("state.input_items", Refusing("GET", 404)), semantic=True)
    assert found[0] is Status.UNSUPPORTED


def test_input_items_are_read_by_the_official_sdk() -> None:
    """The Python SDK lists the storing server's items (hand-made) cleanly, and raises on a list without data."""
    reads = list(sdk_reads(served("state.input_items")))
    assert [(r.exchange.method, r.rule.id, complaint(r)) for r in reads][-1] == ("GET", "sdk.parses", None)
    said = complaint(list(sdk_reads(listed(data=None)))[-1])
    assert said is not None and said.startswith('page.data raised "TypeError:')


@pytest.mark.parametrize("carries", [("echo",), ("prompt",), ("echo", "prompt")])
def test_carried_instructions_fail(carries: tuple[str, ...]) -> None:
    chained = probe("state.instructions_not_inherited")
    status, findings = judge(chained, served(chained.id, StoringServer(carries=carries)), semantic=False)
    assert (status, findings[0].rule) == (Status.FAIL, "state.instructions_not_inherited")


def test_instructions_none_echoed_is_only_said() -> None:
    chained = probe("state.instructions_not_inherited")
    silent = served(chained.id)
    first = json.loads(silent[0].body)
    silent[0] = dataclasses.replace(silent[0], body=json.dumps({**first, "instructions": None}))
    status, findings = judge(chained, silent, semantic=False)
    assert status is Status.PASS
    assert [f.rule for f in findings if f.rule == "response.echo_absent"] == ["response.echo_absent"]


def test_a_default_system_message_in_place_of_instructions_is_no_carry_over() -> None:
    """Hand-made: a template that puts a long system message of its own where no instructions are sent
    (Mistral's) makes the chained turn cost more than the first; against the control, that is no carry-over."""
    chained = probe("state.instructions_not_inherited")
    status, findings = judge(chained, served(chained.id, StoringServer(default_system=200)), semantic=False)
    assert status is Status.PASS
    assert "state.instructions_not_inherited" not in {f.rule for f in findings}
    carried = judge(chained, served(chained.id, StoringServer(carries=("prompt",), default_system=20)), semantic=False)
    assert (carried[0], carried[1][0].rule) == (Status.FAIL, "state.instructions_not_inherited")
