"""The derived "sdk" column: the official SDK reads conformant answers, raises on broken ones.

Every rule's case goes through the column itself (`sdk_findings`: one hand-made cell, its model's sdk
cells derived). Every exchange built here is hand-made with tests/exchanges.py (labelled as such); the
last tests feed the SDK every exchange of the shipped cassettes (real answers of the peers, replayed
offline) and prove the reads never let an exception escape.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator
from openai import OpenAI

from conformance.checks import RULES
from conformance.checks.sdk import COVERAGE, PARSES, STREAMS, sdk_kwargs, sdk_reads, sse_bytes
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.matrix import build_matrix
from conformance.records import ExchangeRecord, ResultLine
from conformance.report import load_schema
from conformance.results import RESULTS_FILE, read_results
from conformance.sdk_column import SHOWN, exchange_of, sdk_records
from conformance.sse import parse_events
from tests.exchanges import (
    conformant_response,
    conformant_stream,
    error_exchange,
    exchange,
    json_exchange,
    request,
    stream_exchange,
    transport_error,
)
from tests.replayed import replayed_run
from tests.rulecases import Case, assert_fires, fired

Events = list[dict[str, Any]]
COUNT_URL = "http://x.invalid/v1/responses/input_tokens"


def count(body: str) -> Exchange:
    """Hand-made: an answer of POST /responses/input_tokens, which is a token count and no Response."""
    return dataclasses.replace(exchange(body=body), url=COUNT_URL)


def sdk_findings(*exchanges: Exchange) -> Callable[[], list[Finding]]:
    """What the derived sdk cells say of one hand-made cell holding `exchanges`, their coverage count aside."""

    def findings() -> list[Finding]:
        derived = sdk_records([record("core.case", *exchanges)])
        return [f.finding() for cell in derived for f in cell.findings if f.rule != COVERAGE.id]

    return findings


def response(change: Callable[[dict[str, Any]], object]) -> Exchange:
    """Hand-made: the conformant JSON answer after `change` edits its body in place."""
    body = conformant_response()
    change(body)
    return json_exchange(body)


def stream(change: Callable[[Events], object]) -> Exchange:
    """Hand-made: the conformant stream after `change` edits its event list in place."""
    events = conformant_stream()
    change(events)
    return stream_exchange(events)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__(key, value)


def _strip(*keys: str) -> Callable[[Events], None]:
    """Drop `keys` from every event that has them: what llama-server's streams look like."""

    def change(events: Events) -> None:
        for event in events:
            for key in keys:
                event.pop(key, None)

    return change


def _incomplete(events: Events) -> None:
    events[-1] = {
        "type": "response.incomplete",
        "response": {**conformant_response(), "status": "incomplete"},
        "sequence_number": events[-1]["sequence_number"],
    }


CASES = [
    Case("sdk.parses", "output is a string", sdk_findings(response(_set("output", "Hello."))), "AttributeError"),
    Case("sdk.parses", "output is null", sdk_findings(response(_set("output", None))), "response.output_text"),
    Case(
        "sdk.parses",
        "event stream to a JSON request",
        sdk_findings(stream_exchange(conformant_stream(), request_body=request())),
        "a 200 text/event-stream answer",
    ),
    Case("sdk.parses", "body not JSON", sdk_findings(exchange(body="Hello.")), "JSONDecodeError"),
    Case(
        "sdk.parses",
        "token count null",
        sdk_findings(count("null")),
        "count.input_tokens raised \"AttributeError: 'NoneType' object has no attribute 'input_tokens'\"",
    ),
    Case(
        "sdk.streams",
        "delta before its item",
        sdk_findings(stream(lambda events: events.insert(2, events.pop(4)))),
        "before receiving its output item",
    ),
    Case(
        "sdk.streams",
        "response.completed without response",
        sdk_findings(stream(lambda events: events[-1].pop("response"))),
        "Lifecycle response identity changed",
    ),
    Case(
        "sdk.streams",
        "event data not JSON",
        sdk_findings(stream_exchange([*conformant_stream()[:3], "{not json", *conformant_stream()[3:]])),
        "JSONDecodeError",
    ),
    Case(
        "sdk.streams",
        "no terminal event",
        sdk_findings(stream(lambda events: events.pop())),
        "stream.get_final_response() raised",
    ),
    Case(
        "sdk.streams",
        "no output_index or content_index (as llama-server streams)",
        sdk_findings(stream(_strip("output_index", "content_index"))),
        "list indices must be integers",
    ),
    Case(
        "sdk.streams",
        "JSON body to a stream request",
        sdk_findings(json_exchange(conformant_response(), request_body=request(stream=True))),
        "a 200 application/json answer",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_exchange_fires_its_rule_and_quotes_the_evidence(case: Case) -> None:
    assert_fires(case)


def test_every_sdk_rule_that_judges_a_cell_has_a_case() -> None:
    assert fired(CASES) == {PARSES.id, STREAMS.id}
    assert {PARSES.id, STREAMS.id, COVERAGE.id} == {r for r in RULES if r.startswith("sdk.")}
    assert all(RULES[r].home == ("sdk",) for r in (PARSES.id, STREAMS.id))


@pytest.mark.parametrize(
    "ex",
    [
        json_exchange(conformant_response()),
        stream_exchange(conformant_stream()),
        stream(_incomplete),  # no final response by design: the SDK is not asked for one
        dataclasses.replace(
            json_exchange(conformant_response()), method="GET", url="http://x.invalid/v1/responses/resp_test"
        ),
        count('{"object": "response.input_tokens", "input_tokens": 9}'),  # read as a count: as a Response it raises
    ],
    ids=["json", "stream", "incomplete stream", "GET by id", "token count"],
)
def test_a_conformant_hand_made_answer_is_read_without_findings(ex: Exchange) -> None:
    assert [read.outcome.sent for read in sdk_reads([ex])] == [True]
    assert sdk_findings(ex)() == []


@pytest.mark.parametrize(
    "ex",
    [
        error_exchange(400),
        error_exchange(500),
        transport_error(),
        dataclasses.replace(json_exchange({"data": []}), method="GET", url="http://x.invalid/v1/models"),
        exchange(body="{}", request_body="{not json"),
        # The SDK refuses a chat-shaped tool in .stream() before sending: nothing the server did.
        stream_exchange(
            conformant_stream(), request_body=request(stream=True, tools=[{"type": "function", "function": {}}])
        ),
        # The harness stopped reading (deadline, size cap): the truncation is not the server's.
        dataclasses.replace(stream(lambda events: events.pop()), error="probe deadline of 60s passed while reading"),
    ],
    ids=[
        "400",
        "500",
        "transport error",
        "not a responses call",
        "request not JSON",
        "refused by the SDK",
        "cut short",
    ],
)
def test_answers_the_sdk_would_not_read_are_skipped(ex: Exchange) -> None:
    assert list(sdk_reads([ex])) == []
    assert sdk_findings(ex)() == []


def test_the_served_stream_is_the_recorded_events() -> None:
    events = stream_exchange(conformant_stream()).events
    assert events is not None
    multi = dataclasses.replace(events[0], data="line one\nline two", id="7", event=None, retry=300)
    again, _ = parse_events([(0.0, sse_bytes([*events, multi]))])
    assert [(e.event, e.data, e.id) for e in again] == [(e.event, e.data, e.id) for e in (*events, multi)]


def test_the_sdk_call_resends_the_recorded_request_body() -> None:
    """Unknown fields go through extra_body, so the call the SDK makes is the call that was recorded."""
    sent: list[bytes] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        sent.append(req.content)
        return httpx2.Response(200, json=conformant_response())

    body = json.loads(request(instructions="Be brief.", verbosity="low", unknown_field={"a": 1}))
    with OpenAI(
        api_key="k", base_url="http://x.invalid/v1", http_client=httpx2.Client(transport=httpx2.MockTransport(handler))
    ) as client:
        client.responses.create(**sdk_kwargs(body, client.responses.create))
    assert json.loads(sent[0]) == body


# -- the derived column --------------------------------------------------------------------------


def record(probe: str, *exchanges: Exchange, model: str = "m", feature: str = "core") -> ResultLine:
    """A hand-made results record holding `exchanges`."""
    return ResultLine.model_validate(
        {
            "provider": "p",
            "model": model,
            "feature": feature,
            "probe": probe,
            "title": probe,
            "status": "PASS",
            "findings": [],
            "semantic_checks": True,
            "started_at": "2026-01-01T00:00:00+00:00",
            "elapsed_ms": 1.0,
            "exchanges": [e.to_json() for e in exchanges],
            "claim": {"claim": "unknown", "source": ""},
            "drift": False,
        }
    )


def cells(records: list[ResultLine]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each derived cell as its results line holds it."""
    return {(r.model, r.probe): r.written() for r in sdk_records(records)}


def test_a_model_whose_answers_all_read_passes_and_one_without_streams_is_not_run() -> None:
    derived = cells([record("core.text_input", json_exchange(conformant_response()))])
    assert derived[("m", "sdk.parses")]["status"] == Status.PASS.value
    assert derived[("m", "sdk.streams")]["status"] == Status.NOT_RUN.value
    assert derived[("m", "sdk.parses")]["findings"] == [
        {
            "rule": COVERAGE.id,
            "level": "INFO",
            "message": "the SDK read 1 recorded 2xx JSON answer(s) of this model, 0 with an error",
        }
    ]


def test_a_failure_names_the_cells_whose_answers_drew_it_once_per_complaint() -> None:
    broken = stream(_strip("output_index", "content_index"))
    records = [
        record("streaming.text", broken, feature="streaming"),
        record("tools.stream", broken, feature="tools"),
        record("state.two", json_exchange(conformant_response()), response(_set("output", "x"))),
        record("core.text_input", json_exchange(conformant_response()), model="other"),
    ]
    derived = cells(records)
    streams = derived[("m", "sdk.streams")]
    assert streams["status"] == Status.FAIL.value
    assert len(streams["findings"]) == 2
    assert streams["findings"][0]["level"] == Level.MUST.value
    assert streams["findings"][0]["message"].endswith("in 2 answer(s): streaming.text, tools.stream")
    assert "state.two (exchange 2)" in derived[("m", "sdk.parses")]["findings"][0]["message"]
    assert derived[("other", "sdk.parses")]["status"] == Status.PASS.value


def test_many_failing_cells_are_counted_not_listed() -> None:
    records = [record(f"core.p{i}", response(_set("output", "x"))) for i in range(SHOWN + 2)]
    message = cells(records)[("m", "sdk.parses")]["findings"][0]["message"]
    assert message.endswith(f"core.p{SHOWN - 1} and 2 more")


def test_the_latest_record_of_a_cell_counts_and_derived_records_are_never_inputs() -> None:
    first = record("core.text_input", response(_set("output", "x")))
    rerun = record("core.text_input", json_exchange(conformant_response()))
    derived = sdk_records([first, rerun])
    assert cells([first, rerun, *derived]) == cells([first, rerun])
    assert cells([first, rerun])[("m", "sdk.parses")]["status"] == Status.PASS.value


def test_derived_records_are_valid_results_records_and_matrix_cells() -> None:
    records = [record("core.text_input", json_exchange(conformant_response())), record("x", stream(lambda e: e.pop()))]
    derived = sdk_records(records)
    validator = Draft202012Validator(load_schema("results"))
    assert [list(validator.iter_errors(r.written())) for r in derived] == [[], []]
    matrix = build_matrix([*records, *derived])
    assert [p.id for p in matrix.probes if p.feature == "sdk"] == ["sdk.parses", "sdk.streams"]


def test_an_exchange_survives_its_results_form() -> None:
    for ex in (json_exchange(conformant_response()), stream_exchange(conformant_stream()), transport_error()):
        assert exchange_of(ExchangeRecord.model_validate(json.loads(json.dumps(ex.to_json())))) == ex


# -- the real peers' recorded answers -------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> list[ResultLine]:
    out, _ = replayed_run(tmp_path_factory.mktemp("sdk"))
    return list(read_results(Path(out) / RESULTS_FILE))


def test_the_sdk_reads_every_recorded_exchange_of_the_shipped_cassettes_without_crashing(
    replayed: list[ResultLine],
) -> None:
    read = 0
    for rec in replayed:
        exchanges = [exchange_of(e) for e in rec.exchanges]
        read += len(list(sdk_reads(exchanges)))
        findings = sdk_findings(*exchanges)()
        assert {f.rule for f in findings} <= {PARSES.id, STREAMS.id}, (rec.provider, rec.probe, findings)
    assert read > 100


def test_the_real_peers_get_an_sdk_cell_each(replayed: list[ResultLine]) -> None:
    """What the SDK makes of each peer, printed for `pytest -s`; the suite pins only its shape."""
    derived = sdk_records(replayed)
    assert {(r.provider, r.probe) for r in derived} == {
        (provider, probe) for provider in {r.provider for r in replayed} for probe in ("sdk.parses", "sdk.streams")
    }
    for cell in derived:
        print(cell.provider, cell.probe, cell.status, *(f.message for f in cell.findings), sep="\n  ")
        assert cell.findings[-1].rule == COVERAGE.id
        assert cell.status in (Status.PASS.value, Status.FAIL.value, Status.NOT_RUN.value)


def test_an_answer_cut_short_in_the_evidence_is_not_read_again() -> None:
    """results.jsonl keeps 1 MiB of a body: what the SDK would read of it is not what the server sent."""
    from conformance.runner import EVIDENCE_BODY, bounded_evidence

    big = json_exchange(conformant_response("x" * (EVIDENCE_BODY + 10)))
    whole = record("core.text_input", big).written()
    cut = [ExchangeRecord.model_validate(bounded_evidence(e)) for e in whole["exchanges"]]
    clipped = ResultLine.model_validate({**whole, "exchanges": cut})
    assert (clipped.exchanges[0].model_extra or {})["body_omitted_chars"]
    derived = cells([clipped])
    assert derived[("m", "sdk.parses")]["status"] == Status.NOT_RUN.value, derived[("m", "sdk.parses")]["findings"]
