"""A corpus of real deviations, each with the status it must get and the field or words it must name.

Recorded entries replay one cell of a real peer's shipped cassettes (llama.cpp's llama-server,
`transformers serve`); hand-made entries are fault fixtures built here, marked as such, for the
classes no local peer shows (a gateway's error envelope, a cut answer, a dropped history). Each class
of the grading principle (conformance/README.md) has at least one entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.checks.rules import SHAPES
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.matrix import matrix_json
from conformance.paths import cassettes_dir
from conformance.plan import replay_plans
from conformance.probes import BY_ID
from conformance.records import MatrixHead
from conformance.runner import judge
from conformance.session import Session
from tests.exchanges import conformant_response, json_exchange, raw_exchange, request, retried
from tests.test_parameters import run
from tests.test_state import StoringServer


@dataclass(frozen=True)
class Recorded:
    """One cell of a peer's shipped cassettes, replayed: its status, its deciding rule, the words it names."""

    cls: str
    provider: str
    probe: str
    status: Status
    rule: str | None
    names: str


RECORDED = [
    Recorded(
        "shape gap at home", "llama-server", "core.text_input", Status.NON_STRICT, "response.schema", "tool_choice"
    ),
    Recorded(
        "shape gap elsewhere", "llama-server", "vision.base64_png", Status.PASS, None, "judged in the core column"
    ),
    Recorded("shape gap elsewhere", "llama-server", "tools.function_call", Status.PASS, None, "has no tools"),
    Recorded(
        "event: lines at home",
        "transformers-serve",
        "streaming.text",
        Status.NON_STRICT,
        "stream.event_field",
        "`event:` line",
    ),
    Recorded(
        "event: lines elsewhere",
        "transformers-serve",
        "parameters.stream_options",
        Status.ACCEPTED,
        None,
        "judged in the streaming column",
    ),
    Recorded(
        "reproducible 5xx",
        "llama-server",
        "tools.strict_enum",
        Status.FAIL,
        "http.not_server_error",
        "500 on all 3 tries (500, 500, 500): 'got exception: Unexpected empty grammar",
    ),
    Recorded(
        "reproducible 5xx",
        "llama-server",
        "vision.remote_url",
        Status.FAIL,
        "http.not_server_error",
        "HTTPS is not supported",
    ),
    Recorded(
        "server's words",
        "llama-server",
        "core.multi_turn",
        Status.UNSUPPORTED,
        "http.rejection",
        "Cannot determine type of 'item'",
    ),
    Recorded(
        "server's words",
        "llama-server",
        "state.previous_response_id",
        Status.UNSUPPORTED,
        "http.rejection",
        "llama.cpp does not support 'previous_response_id'.",
    ),
    Recorded(
        "framework envelope",
        "transformers-serve",
        "parameters.input_tokens",
        Status.UNSUPPORTED,
        "http.rejection",
        "POST answered 404: 'Not Found'",
    ),
    Recorded(
        "framework envelope",
        "transformers-serve",
        "errors.malformed_json",
        Status.NON_STRICT,
        "error.object",
        "with the 422",
    ),
    Recorded(
        "error-object details", "llama-server", "errors.missing_input", Status.NON_STRICT, "error.fields", "lacks param"
    ),
]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """Only the corpus' probes, replayed from the shipped cassettes."""
    probes = tuple(BY_ID[p] for p in sorted({r.probe for r in RECORDED}))
    out: Path = tmp_path_factory.mktemp("corpus")
    matrix = matrix_json(Session(out, MatrixHead(mode="replay")).run(replay_plans(cassettes_dir(), probes=probes)))
    return {(c["provider"], c["probe"]): c for c in matrix["cells"]}


@pytest.mark.parametrize("entry", RECORDED, ids=lambda r: f"{r.cls}:{r.provider}:{r.probe}")
def test_a_recorded_deviation_gets_its_status_and_names_its_field(
    entry: Recorded, replayed: dict[tuple[str, str], dict[str, Any]]
) -> None:
    cell = replayed[(entry.provider, entry.probe)]
    findings = cell["findings"]
    assert cell["status"] == entry.status.value, findings[:2]
    if entry.rule is not None:
        assert findings[0]["rule"] == entry.rule, "the deciding finding comes first"
    assert any(entry.names in f["message"] for f in findings), [f["message"] for f in findings]


def test_no_replayed_cell_fails_for_a_generic_shape_gap(tmp_path: Path) -> None:
    """What the SDK consumes is at most a SHOULD: a FAIL is never decided by a shape rule the SDK does not need."""
    matrix = matrix_json(Session(tmp_path, MatrixHead(mode="replay")).run(replay_plans(cassettes_dir())))
    should_shapes = {rule for rule, shape in SHAPES.items() if shape.level is not Level.MUST}
    failing = [(c["provider"], c["probe"], c["findings"][0]["rule"]) for c in matrix["cells"] if c["status"] == "FAIL"]
    assert not [f for f in failing if f[2] in should_shapes]


# Hand-made (not recordings): the classes no local peer shows.


def gateway(status: int, message: str) -> Exchange:
    """An API gateway's own rejection (Kong's shape): the right status, its own `{"message": ...}` body."""
    return json_exchange({"message": message}, status=status)


def cut_answer() -> Exchange:
    """A strict json_schema answer cut by the server's token cap: half a JSON object, status incomplete."""
    body = conformant_response('{"surname": "Noeth')
    body.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    fmt = {"type": "json_schema", "name": "person", "schema": {"type": "object"}, "strict": True}
    body["text"] = {"format": fmt}
    return json_exchange(body, request_body=request(text={"format": fmt}))


def dropped_history() -> list[Exchange]:
    probe = BY_ID["state.previous_response_id"]
    return run(probe, StoringServer(forgetful=True))


HANDMADE: list[tuple[str, str, list[Exchange], Status, str, str]] = [
    (
        "gateway 401",
        "errors.bad_key",
        [gateway(401, "Invalid authentication credentials")],
        Status.NON_STRICT,
        "error.object",
        "Invalid authentication credentials",
    ),
    (
        "gateway 413",
        "errors.body_over_cap",
        [gateway(413, "Request size limit exceeded")],
        Status.NON_STRICT,
        "error.object",
        "Request size limit exceeded",
    ),
    (
        "gateway 404",
        "state.get_unknown",
        [gateway(404, "no Route matched with those values")],
        Status.PASS,
        "http.rejection",
        "no Route matched",
    ),
    (
        "gateway 400 on a feature",
        "state.previous_response_id",
        [gateway(400, "previous_response_id is not allowed")],
        Status.UNSUPPORTED,
        "http.rejection",
        "previous_response_id is not allowed",
    ),
    (
        "cut answer",
        "structured.json_schema_strict",
        [cut_answer()],
        Status.FAIL,
        "response.incomplete",
        "incomplete_details.reason 'max_output_tokens'",
    ),
    (
        "transient 5xx",
        "core.text_input",
        [retried(raw_exchange("overloaded", status=503), 503, 503)],
        Status.ERROR,
        "http.server_error_transient",
        "503 after 3 try(ies)",
    ),
    (
        "5xx not retried",
        "core.text_input",
        [raw_exchange("oops", status=500)],
        Status.ERROR,
        "http.server_error_transient",
        "500 after 1 try(ies)",
    ),
    (
        "dropped history",
        "state.previous_response_id",
        dropped_history(),
        Status.IGNORED,
        "state.history",
        "expected input_tokens above",
    ),
]


@pytest.mark.parametrize(
    ("cls", "probe", "exchanges", "status", "rule", "names"), HANDMADE, ids=[h[0] for h in HANDMADE]
)
def test_a_handmade_deviation_gets_its_status_and_names_its_field(
    cls: str, probe: str, exchanges: list[Exchange], status: Status, rule: str, names: str
) -> None:
    got, findings = judge(BY_ID[probe], exchanges, semantic=False)
    assert got is status, _shown(findings)
    assert any(f.rule == rule and names in f.message for f in findings), _shown(findings)
    if status is not Status.PASS:
        assert findings[0].rule == rule, "the deciding finding comes first"


def _shown(findings: list[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=1)
