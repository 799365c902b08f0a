"""Agents probes and the identifier checks: every rule fires on a broken exchange, conformant answers fire none.

Every exchange here is hand-made with the builders of tests/exchanges.py and tests/test_tools.py:
none came from a server.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
from typing import Any

import pytest

from conformance.checks import agents, identity, run_checks
from conformance.checks.agents import (
    builtin_called,
    chained_call_read,
    custom_called,
    custom_input_matches,
    handed_off,
    recalls_referenced_number,
    reference_read,
)
from conformance.checks.http import COMMON_CHECKS
from conformance.checks.identity import id_prefixes, one_model
from conformance.evidence import Exchange, Status
from conformance.probes import Probe, Request
from conformance.probes.agents import (
    FILE_TEXT,
    HANDOFFS,
    IGNORED_HANDOFF,
    LLAMAINDEX_DEFAULTS,
    ORDER_LANGUAGE,
    ORDER_TOOL,
    PROBES,
    SQL,
    TEXT_PARTS,
    WALK,
    WEATHER_AGENT,
    WEB_SEARCH,
    codex_item,
    file_part,
    pdf,
)
from conformance.probes.streaming import IDENTITY
from conformance.probes.tools import TOOL_RESULT, WEATHER, WEATHER_QUESTION
from conformance.runner import judge
from conformance.schemas import listed_fields
from tests.exchanges import ITEM_ID, conformant_response, conformant_stream, json_exchange, message_item, request
from tests.exchanges import stream_exchange as stream
from tests.rulecases import Case, assert_fires, checked, declared_in, fired
from tests.test_tools import ARGS, call_item, call_stream, drive, tool_response

BY_ID = {p.id: p for p in PROBES}


def custom_call(
    name: str = "run_sql", given: Any = "SELECT count(*) FROM orders", call_id: Any = "call_1"
) -> dict[str, Any]:
    realistic = {"id": "ctc_1", "type": "custom_tool_call", "call_id": call_id, "name": name, "input": given}
    return {f: realistic.get(f) for f in listed_fields("output_item", "custom_tool_call")} | {"status": "completed"}


def web_search_call() -> dict[str, Any]:
    realistic = {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search"}}
    return {f: realistic.get(f) for f in listed_fields("output_item", "web_search_call")} | realistic


def reasoning_item() -> dict[str, Any]:
    return dict.fromkeys(listed_fields("output_item", "reasoning")) | {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [],
        "status": "completed",
    }


def answering(output: list[dict[str, Any]], **sent: Any) -> Exchange:
    """A hand-made JSON answer holding `output` to a request with `sent` fields."""
    return json_exchange(tool_response(sent, output), request_body=request(**sent))


def picked(number: str, reply: str, tokens: tuple[int, int] = (30, 12), refer: bool = True) -> list[Exchange]:
    """Hand-made: a first answer choosing `number`; the `reply` to the turn that names it by item_reference (or
    sends it whole, unless `refer`), then to the same turn without it, with these input_tokens."""

    def turn(text: str, sent: list[dict[str, Any]], input_tokens: int | None = None) -> Exchange:
        body = conformant_response(text)
        if input_tokens is not None:
            made = body["usage"]["output_tokens"]
            body["usage"] = {**body["usage"], "input_tokens": input_tokens, "total_tokens": input_tokens + made}
        return json_exchange(body, request_body=json.dumps({"model": "m", "input": sent, "store": True}))

    ask, again = {"role": "user", "content": "Choose."}, {"role": "user", "content": "Which?"}
    earlier = {"type": "item_reference", "id": ITEM_ID} if refer else {"role": "assistant", "content": number}
    return [turn(number, [ask]), turn(reply, [ask, earlier, again], tokens[0]), turn(reply, [ask, again], tokens[1])]


def chained(first_tokens: int, chained_tokens: int) -> list[Exchange]:
    """Hand-made: a call to a long question, then the answer to its output sent alone under previous_response_id,
    with these input_tokens."""

    def turn(output: list[dict[str, Any]], tokens: int, **sent: Any) -> Exchange:
        body = tool_response({"tools": [WEATHER]}, output)
        body["usage"] = {
            **body["usage"],
            "input_tokens": tokens,
            "total_tokens": tokens + body["usage"]["output_tokens"],
        }
        return json_exchange(body, request_body=request(tools=[WEATHER], store=True, **sent))

    result = {"type": "function_call_output", "call_id": "call_1", "output": TOOL_RESULT}
    answer = conformant_response("Volcanic ash, 13 °C.")["output"]
    return [
        turn([call_item()], first_tokens),
        turn(answer, chained_tokens, previous_response_id="resp_1", input=[result]),
    ]


HANDED_OFF = handed_off(HANDOFFS[0]["name"], "get_weather")


def with_models(*models: str) -> Exchange:
    """The conformant stream whose created, in_progress and completed events name `models` in turn."""
    events = conformant_stream()
    for event, model in zip((events[0], events[1], events[-1]), models, strict=True):
        event["response"]["model"] = model
    return stream(events)


CASES = [
    Case(
        "agents.custom_call",
        "answered as text",
        checked([custom_called], answering(conformant_response("42 orders.")["output"], tools=[SQL])),
        "expected a custom_tool_call item, got output types ['message'] with text '42 orders.'",
    ),
    Case(
        "agents.custom_call",
        "made a function call instead",
        checked([custom_called], answering([call_item("run_sql")], tools=[SQL])),
        "got output types ['function_call']",
    ),
    Case(
        "agents.custom_call",
        "undeclared name",
        checked([custom_called], answering([custom_call("run_query")], tools=[SQL])),
        "expected the name of a declared custom tool ['run_sql'], got 'run_query'",
    ),
    Case(
        "agents.custom_call",
        "input an object",
        checked([custom_called], answering([custom_call(given={"sql": "SELECT 1"})], tools=[SQL])),
        "expected input as a string, got {'sql': 'SELECT 1'}",
    ),
    Case(
        "agents.custom_call",
        "no call_id",
        checked([custom_called], answering([custom_call(call_id=None)], tools=[SQL])),
        "expected a non-empty call_id, got None",
    ),
    Case(
        # Hand-made: what a server that never read the tool's `format` lets a model write.
        "agents.custom_grammar",
        "input outside the grammar",
        checked(
            [custom_input_matches(ORDER_LANGUAGE)],
            answering([custom_call("record_order", "Order: 3 x KTX-4821")], tools=[ORDER_TOOL]),
        ),
        "expected an input in the tool's grammar (the language of 'ORDER [A-Z]{3}-[0-9]{4} x[1-9][0-9]*'), "
        "got 'Order: 3 x KTX-4821'",
    ),
    Case(
        "agents.reference_read",
        "references dropped",
        checked([reference_read], *picked("417", "417.", tokens=(12, 12))),
        f"expected input_tokens above 12 (the same turn sent alone) with item_reference ['{ITEM_ID}'], got 12",
    ),
    Case(
        "agents.reference_sent",
        "nothing to reference",
        checked([reference_read], *picked("417", "417.", refer=False)),
        "no item of the first answer had an id, so nothing went by item_reference",
    ),
    Case(
        "agents.reference_used",
        "reference dropped",
        checked([recalls_referenced_number], *picked("417", "I did not choose a number yet.")),
        "expected the reply to name '417', the number the referenced answer chose, got 'I did not choose a number",
    ),
    Case(
        # Hand-made: what a server that dropped the chain counts, the output alone.
        "agents.chained_call_read",
        "chain dropped",
        checked([chained_call_read], *chained(140, 60)),
        "expected input_tokens above 140 (the turn that made the call) with previous_response_id 'resp_1', got 60",
    ),
    Case(
        "agents.handoff",
        "the wrong agent",
        checked([HANDED_OFF], answering([call_item("transfer_to_billing_agent", "{}")], tools=HANDOFFS)),
        "expected a call to 'transfer_to_weather_agent', the handoff the question needs, "
        "got ['transfer_to_billing_agent']",
    ),
    Case(
        "agents.handoff",
        "the receiving agent answers without its tool",
        checked(
            [HANDED_OFF],
            answering([call_item("transfer_to_weather_agent", "{}")], tools=HANDOFFS),
            answering(conformant_response("I cannot check the weather.")["output"], tools=[WEATHER]),
        ),
        "turn 2, after the handoff: expected a call to 'get_weather', got output types ['message'] "
        "with text 'I cannot check the weather.'",
    ),
    Case(
        "agents.builtin_call",
        "web_search ignored",
        checked([builtin_called("web_search")], answering(conformant_response("Hi.")["output"], tools=[WEB_SEARCH])),
        "offered 'web_search', expected a web_search_call item, got output types ['message'] with text 'Hi.'",
    ),
    Case(
        "ids.prefix",
        "response id",
        checked([id_prefixes("response")], json_exchange({**conformant_response(), "id": "chatcmpl-9"})),
        "response.id: expected an id starting 'resp_', got 'chatcmpl-9'",
    ),
    Case(
        "ids.prefix",
        "message id missing",
        checked(
            [id_prefixes("message")],
            json_exchange({**conformant_response(), "output": [message_item("Hi.") | {"id": None}]}),
        ),
        "response.output[0].id: expected an id starting 'msg_', got None",
    ),
    Case(
        "ids.prefix",
        "function_call id, second turn",
        checked(
            [id_prefixes("function_call")],
            answering([call_item()], tools=[WEATHER]),
            answering([call_item(item_id="call_7")], tools=[WEATHER]),
        ),
        "turn 2: response.output[0].id: expected an id starting 'fc_', got 'call_7'",
    ),
    Case(
        "ids.prefix",
        "reasoning id",
        checked(
            [id_prefixes("reasoning")],
            json_exchange({**conformant_response(), "output": [{"type": "reasoning", "id": "msg_1", "summary": []}]}),
        ),
        "response.output[0].id: expected an id starting 'rs_', got 'msg_1'",
    ),
    Case(
        "stream.one_model",
        "alias then resolved",
        checked([one_model], with_models("mistral@latest", "mistral@latest", "Mistral-7B")),
        "event #0 response.created: expected model 'Mistral-7B' as in the final Response, got 'mistral@latest'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_agents_and_identity_rule_has_a_case() -> None:
    assert fired(CASES) == declared_in(agents, identity)


def test_conformant_identifiers_have_no_findings() -> None:
    checks = (id_prefixes("response", "message", "function_call", "custom_tool_call", "web_search_call"), one_model)
    output = [message_item("Hi."), call_item(), custom_call(), web_search_call()]
    assert run_checks(checks, [json_exchange({**conformant_response(), "output": output})]) == []
    assert run_checks((*COMMON_CHECKS, *IDENTITY), [stream(conformant_stream())]) == []


def test_an_unknown_kind_of_id_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no known id prefix for 'mesage'"):
        id_prefixes("mesage")


def conformant_answer(spec: Request, turn: int) -> Exchange:
    """What a conformant server answers to one request of an agents probe (hand-made)."""
    body = spec.body or {}
    kinds = [t.get("type") for t in body.get("tools", [])]
    names = [t.get("name") for t in body.get("tools", [])]
    if spec.stream:
        return streamed_answer(body, turn)
    if HANDOFFS[0]["name"] in names:
        output = [call_item(HANDOFFS[0]["name"], "{}", call_id="call_0", item_id="fc_0")]
    elif turn > 0 and body.get("instructions") == WEATHER_AGENT:
        output = [call_item(call_id="call_1", item_id="fc_1")]
    elif turn > 0 or not kinds:
        texts = {"agents.input_file": "47", "agents.custom_tool": "42 orders.", "agents.item_reference": "417."}
        output = [reasoning_item()] if turn == 0 else []
        output += conformant_response(texts.get(probe_of(body), "Zorblat: 13."))["output"]
    elif kinds == ["custom"]:
        name = body["tools"][0]["name"]
        output = [custom_call(name, "ORDER KTX-4821 x3" if name == "record_order" else "SELECT count(*) FROM orders")]
    elif kinds == ["web_search"]:
        output = [web_search_call(), *conformant_response("Today's headline.")["output"]]
    else:
        output = [call_item(call_id="call_0", item_id="fc_0")]
    answer = tool_response(body, output)
    chained = bool(body.get("previous_response_id"))
    if chained or probe_of(body) in ("agents.item_reference", "agents.chained_tool_output"):
        # Its prompt holds what the request names: the referenced items, or the whole turn it is chained to.
        prompt = len(json.dumps(body["input"])) // 4 + (200 if chained else 0)
        answer["usage"] = {
            **answer["usage"],
            "input_tokens": prompt,
            "total_tokens": prompt + answer["usage"]["output_tokens"],
        }
    # A function tool sent without `parameters` is echoed with the fields the Response lists, as null.
    answer["tools"] = [
        {"parameters": None, "strict": None, **t} if t["type"] == "function" else t for t in answer["tools"]
    ]
    return json_exchange(answer, request_body=json.dumps(body))


def streamed_answer(body: dict[str, Any], turn: int) -> Exchange:
    """A conformant stream to a streamed request: the call on turn one, then the answer using its result."""
    if turn == 0:
        return dataclasses.replace(call_stream(sent=body), request_body=json.dumps(body))
    events = conformant_stream(("In Paris: volcanic ash, ", "13 °C."))
    events[-1]["response"] = tool_response(body, events[-1]["response"]["output"])
    return dataclasses.replace(stream(events), request_body=json.dumps(body))


def probe_of(body: dict[str, Any]) -> str:
    """Which probe sent a request, from what it carries."""
    text = json.dumps(body)
    marks = {
        "input_file": "agents.input_file",
        "run_sql": "agents.custom_tool",
        "three-digit": "agents.item_reference",
        "Seine": "agents.chained_tool_output",
    }
    return next((probe for mark, probe in marks.items() if mark in text), "")


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_every_probe_passes_a_conformant_server(probe: Probe) -> None:
    exchanges = drive(probe, conformant_answer)
    assert run_checks((*COMMON_CHECKS, *probe.checks), exchanges) == []
    assert judge(probe, exchanges, semantic=True)[0] is Status.PASS


def test_history_replay_sends_the_first_output_back_verbatim() -> None:
    first, second = drive(BY_ID["agents.history_replay"], conformant_answer)
    replayed = json.loads(second.request_body)["input"]
    assert replayed[1:-1] == json.loads(first.body)["output"]
    assert replayed[1]["type"] == "reasoning" and replayed[-1]["role"] == "user"


def test_tool_history_replay_sends_every_item_then_each_call_output() -> None:
    first, second = drive(BY_ID["agents.history_replay_tool"], conformant_answer)
    replayed = json.loads(second.request_body)["input"]
    assert replayed[1:-1] == json.loads(first.body)["output"]
    assert replayed[-1] == {"type": "function_call_output", "call_id": "call_0", "output": TOOL_RESULT}


def test_tool_output_parts_are_sent_as_a_list() -> None:
    _, second = drive(BY_ID["agents.tool_output_text_parts"], conformant_answer)
    assert json.loads(second.request_body)["input"][-1]["output"] == TEXT_PARTS


def test_a_custom_call_is_answered_under_its_call_id() -> None:
    _, second = drive(BY_ID["agents.custom_tool"], conformant_answer)
    *_, call, result = json.loads(second.request_body)["input"]
    assert call["type"] == "custom_tool_call" and result["call_id"] == call["call_id"] == "call_1"
    assert result["type"] == "custom_tool_call_output"


def test_the_round_trips_stop_without_a_call() -> None:
    for probe_id in ("agents.history_replay_tool", "agents.tool_output_image", "agents.custom_tool"):
        exchanges = drive(BY_ID[probe_id], lambda spec, turn: json_exchange(conformant_response("No.")))
        assert len(exchanges) == 1


def test_the_generated_pdf_is_well_formed() -> None:
    """Every xref offset points at its object, startxref at the xref, and the page shows the text."""
    data = pdf("A (tricky) line \\ here")
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    xref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))  # type: ignore[union-attr]
    assert data[xref:].startswith(b"xref\n0 6\n")
    entries = re.findall(rb"(\d{10}) 00000 n \n", data[xref:])
    assert len(entries) == 5
    for number, offset in enumerate(entries, 1):
        assert data[int(offset) :].startswith(b"%d 0 obj\n" % number)
    assert rb"(A \(tricky\) line \\ here) Tj" in data
    length = int(re.search(rb"/Length (\d+)", data).group(1))  # type: ignore[union-attr]
    stream_start = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream_start + length :].startswith(b"\nendstream")


def test_the_file_part_is_the_memo_as_a_pdf_data_url() -> None:
    part = copy.deepcopy(file_part())
    prefix = "data:application/pdf;base64,"
    assert part["type"] == "input_file" and part["file_data"].startswith(prefix)
    assert base64.b64decode(part["file_data"][len(prefix) :]) == pdf(FILE_TEXT)


def test_codex_sends_the_history_back_without_ids_statuses_or_annotations() -> None:
    first, second = drive(BY_ID["agents.codex_round_trip"], conformant_answer)
    sent = json.loads(second.request_body)
    assert (sent["stream"], sent["store"], sent["reasoning"], sent["include"]) == (True, False, None, [])
    question, call, result = sent["input"]
    assert question == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": WEATHER_QUESTION}],
    }
    assert call == {"type": "function_call", "name": "get_weather", "arguments": ARGS, "call_id": "call_1"}
    assert result == {"type": "function_call_output", "call_id": "call_1", "output": TOOL_RESULT}
    assert first.is_stream and second.is_stream


def test_codex_items_are_serialized_as_codex_serializes_them() -> None:
    message = message_item("Hi.")
    assert codex_item(message) == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi."}],
    }
    summary = [{"type": "summary_text", "text": "Think."}]
    assert codex_item({**reasoning_item(), "summary": summary}) == {
        "type": "reasoning",
        "summary": summary,
        "content": None,
        "encrypted_content": None,
    }
    thought = [{"type": "reasoning_text", "text": "Think."}]
    kept = codex_item({**reasoning_item(), "content": thought, "encrypted_content": "gAAA"})
    assert kept == {"type": "reasoning", "summary": [], "content": thought, "encrypted_content": "gAAA"}
    assert "content" not in (codex_item({**reasoning_item(), "content": [{"type": "text", "text": "x"}]}) or {})
    assert codex_item(web_search_call()) is None


def test_the_ai_sdk_turn_names_each_earlier_item_by_reference() -> None:
    _, second, alone = drive(BY_ID["agents.item_reference"], conformant_answer)
    sent = json.loads(second.request_body)
    assert json.loads(alone.request_body)["input"] == [sent["input"][0], sent["input"][-1]], "the turn without them"
    assert sent["store"] is True, "what the AI SDK means by leaving it unset, whatever a profile's default"
    assert sent["input"][1:3] == [{"type": "item_reference", "id": "rs_1"}, {"type": "item_reference", "id": ITEM_ID}]


def test_a_message_without_an_id_is_sent_whole_and_an_anonymous_reasoning_item_not_at_all() -> None:
    anonymous = [reasoning_item() | {"id": None}, message_item("417.") | {"id": None}]
    _, second, _ = drive(
        BY_ID["agents.item_reference"],
        lambda spec, turn: json_exchange(
            {**conformant_response("417."), "output": anonymous}, request_body=json.dumps(spec.body)
        ),
    )
    assert json.loads(second.request_body)["input"][1] == {
        "role": "assistant",
        "content": [{"type": "output_text", "text": "417."}],
    }


def test_the_reply_names_the_chosen_number_in_any_sentence() -> None:
    assert run_checks([recalls_referenced_number], picked("Sure: 417.", "The number was 417.")) == []
    (finding,) = run_checks([recalls_referenced_number], picked("417", "It was 4170."))
    assert finding.rule == "agents.reference_used"


def test_a_first_answer_that_thinks_aloud_before_its_number_is_recalled_by_any_it_named() -> None:
    """Hand-made: a server that leaks the model's thinking into output_text names other numbers before the
    one chosen; the reply naming the chosen one has read the reference."""
    thought = "<think>Any number between 100 and 999 will do. I will pick 427.</think>427"
    assert run_checks([recalls_referenced_number], picked(thought, "427")) == []
    (finding,) = run_checks([recalls_referenced_number], picked(thought, "I have no number."))
    assert "expected the reply to name '427'" in finding.message


def test_a_first_answer_naming_no_number_leaves_nothing_to_recall() -> None:
    assert run_checks([recalls_referenced_number], picked("I cannot choose.", "Nothing.")) == []


def test_the_grammar_language_takes_what_the_grammar_does() -> None:
    language = re.compile(ORDER_LANGUAGE)
    assert language.fullmatch("ORDER KTX-4821 x3") and language.fullmatch("ORDER ABC-0000 x12")
    for outside in ("ORDER KTX-4821 x0", "order KTX-4821 x3", "ORDER KTX-4821 x3\n", "ORDER KT-4821 x3"):
        assert not language.fullmatch(outside)


def test_llamaindex_nulls_are_sent_as_json_null() -> None:
    (only,) = drive(BY_ID["agents.explicit_nulls"], conformant_answer)
    sent = json.loads(only.request_body)
    assert {k: sent[k] for k in LLAMAINDEX_DEFAULTS} == LLAMAINDEX_DEFAULTS
    assert sent["tools"] == [] and sent["max_output_tokens"] is None


def test_the_chained_turn_sends_each_output_alone_under_the_calling_response() -> None:
    first, second = drive(BY_ID["agents.chained_tool_output"], conformant_answer)
    assert json.loads(first.request_body)["input"] == [{"role": "user", "content": WALK}]
    sent = json.loads(second.request_body)
    assert sent["previous_response_id"] == json.loads(first.body)["id"] and sent["store"] is True
    assert sent["input"] == [{"type": "function_call_output", "call_id": "call_0", "output": TOOL_RESULT}]


def test_handoffs_are_offered_as_the_agents_sdk_offers_them() -> None:
    weather, billing = HANDOFFS
    assert (weather["name"], billing["name"]) == ("transfer_to_weather_agent", "transfer_to_billing_agent")
    assert weather["strict"] is True and weather["parameters"] == {
        "additionalProperties": False,
        "type": "object",
        "properties": {},
        "required": [],
    }


def test_the_receiving_agent_gets_the_whole_history_and_its_own_tools() -> None:
    first, second = drive(BY_ID["agents.handoff"], conformant_answer)
    sent = json.loads(second.request_body)
    assert sent["instructions"] == WEATHER_AGENT and sent["tools"] == [WEATHER]
    assert sent["input"][1:-1] == json.loads(first.body)["output"]
    assert sent["input"][-1] == {
        "type": "function_call_output",
        "call_id": "call_0",
        "output": '{"assistant": "Weather agent"}',
    }


def test_every_other_handoff_of_the_turn_is_answered_as_ignored() -> None:
    calls = [call_item(h["name"], "{}", call_id=f"call_{i}", item_id=f"fc_{i}") for i, h in enumerate(HANDOFFS)]
    exchanges = drive(BY_ID["agents.handoff"], lambda spec, turn: answering(calls, **(spec.body or {})))
    outputs = {i["call_id"]: i["output"] for i in json.loads(exchanges[1].request_body)["input"][-2:]}
    assert outputs == {"call_0": '{"assistant": "Weather agent"}', "call_1": IGNORED_HANDOFF}


def test_no_handoff_to_the_weather_agent_ends_the_probe() -> None:
    billing = call_item(HANDOFFS[1]["name"], "{}")
    assert len(drive(BY_ID["agents.handoff"], lambda spec, turn: answering([billing], tools=HANDOFFS))) == 1
