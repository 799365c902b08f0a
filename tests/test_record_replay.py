"""Record a run against each real peer, replay it with the network blocked: the same matrix."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conformance.checks.rules import RULES, Tag
from conformance.matrix import matrix_json
from conformance.node_column import is_derived
from conformance.plan import live_plan, replay_plans
from conformance.probes import PROBES
from conformance.profiles import profile_for
from conformance.records import MatrixCell
from conformance.results import RESULTS_FILE, read_results
from conformance.session import Session
from conformance.transports import RecordMode
from tests.peers.params import peer_params
from tests.peers.servers import PEERS, Peer

pytestmark = pytest.mark.peer


def _comparable(matrix: dict) -> list[dict]:
    return [
        {k: cell[k] for k in ("provider", "model", "probe", "status", "findings", "claim", "drift", "latency")}
        for cell in matrix["cells"]
        if not is_derived(MatrixCell.model_validate(cell))  # derived from the probes' cells at render time
    ]


@pytest.fixture(scope="module", params=peer_params(PEERS))
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    peer: Peer = request.getfixturevalue(request.param.replace("-", "_"))
    root = tmp_path_factory.mktemp("record")
    profile = profile_for(request.param, peer.base_url)
    assert profile is not None
    live = live_plan(profile, None, PROBES, RecordMode.ALL, root / "cassettes", timeout_s=30)
    assert live.plan.models == (peer.model,), "the model comes from the server's own catalog"
    return matrix_json(Session(root / "out").run([live.plan])), root


def test_replay_with_network_blocked_gives_the_identical_matrix(
    recorded: tuple[dict, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, root = recorded

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    replayed = matrix_json(Session(root / "replay").run(replay_plans(root / "cassettes")))
    assert len(_comparable(live)) == len(PROBES)
    assert _comparable(replayed) == _comparable(live)
    assert _exchanges(root / "replay") == _exchanges(root / "out")


def _exchanges(out: Path) -> dict[tuple[str, str], list[dict]]:
    """Each cell's exchanges, from results.jsonl: the matrix keeps only their timings."""
    return {(r.model, r.probe): r.written()["exchanges"] for r in read_results(out / RESULTS_FILE)}


# What each peer is known to get wrong (or right), as the matrix must say it: probe, status, evidence.
KNOWN = {
    "llama-server": [
        ("streaming.text", "FAIL", "lacks required sequence_number"),
        ("streaming.text", "FAIL", "expected an integer output_index, got None"),
        ("errors.malformed_json", "FAIL", "reproducible server error: 500 on all 3 tries"),
        ("tools.parallel_off", "IGNORED", "expected at most one call with parallel_tool_calls false, got 2"),
        ("vision.remote_url", "FAIL", "HTTPS is not supported"),
        ("agents.function_no_parameters", "FAIL", "Unexpected empty grammar stack"),
        ("agents.input_file", "UNSUPPORTED", "'input_file' is not supported by llamacpp"),
        ("agents.web_search", "IGNORED", "offered 'web_search', expected a web_search_call item"),
        ("tools.choice_allowed", "IGNORED", "expected only calls to ['get_time'] (tool_choice allowed_tools)"),
    ],
    "transformers-serve": [
        ("core.text_input", "FAIL", "`stream` was not set, yet the server answered 'text/event-stream'"),
        ("streaming.text", "NON-STRICT", "lack an `event:` line"),
        ("errors.body_over_cap", "IGNORED", "expected a 413 or 400, got 200"),
        ("guide.basic", "FAIL", "'str' object has no attribute 'output_text'"),
        ("clients.agents_sdk", "FAIL", "the OpenAI Agents SDK raised \"AttributeError: 'str' object has no attribute"),
        ("parameters.input_tokens", "UNSUPPORTED", "POST answered 404"),
    ],
    # vLLM by default: tools stay in the prompt under tool_choice none, a call under an allowed_tools
    # tool_choice stays unparsed text, images to a text model and an unknown template are clean 4xx,
    # unknown parameters pass, its error codes are integers, and it has no token count route (405).
    "vllm": [
        ("tools.choice_none", "IGNORED", "got a call written as text"),
        ("tools.choice_allowed", "FAIL", "got tool-call syntax '<tool_call>' in the text"),
        ("parameters.input_tokens", "UNSUPPORTED", "POST answered 405"),
        ("vision.base64_png", "UNSUPPORTED", "error.code: expected string or null, got integer"),
        ("parameters.prompt", "UNSUPPORTED", "error.code: expected string or null, got integer"),
        ("errors.unknown_parameter", "IGNORED", "expected a 400, got 200"),
        ("state.store_then_get", "UNSUPPORTED", "error.code: expected string or null, got integer"),
    ],
    "vllm-store": [
        ("tools.choice_none", "IGNORED", "got a call written as text"),
        ("state.previous_unknown", "NON-STRICT", "expected 400, got 404"),
        ("state.delete", "UNSUPPORTED", "DELETE answered 405"),
        ("state.input_items", "UNSUPPORTED", "GET answered 404"),
        ("tools.choice_allowed", "FAIL", "got tool-call syntax '<tool_call>' in the text"),
        ("parameters.input_tokens", "UNSUPPORTED", "POST answered 405"),
    ],
}
# vLLM's store is a switch: off (its default), `store: true` is accepted and nothing can be read back;
# on, a stored response, a second turn (without the first turn's instructions) and background work all
# come through. Either way it has no DELETE route (405) and no input items route (404).
STATE = (
    "state.store_then_get",
    "state.previous_response_id",
    "state.instructions_not_inherited",
    "parameters.background",
)
KEEPS_STATE = {"vllm": False, "vllm-store": True}
# Peers started with `enable_thinking: false` as a default chat-template kwarg (tests/peers/servers.py).
THINKING_OFF = {"vllm", "vllm-store"}
# Probes the tiny model is scripted to answer from what the server hands it (tests/peers/make_model.py):
# the profiles keep their semantic checks on, and the answers meet them. llama-server rejects the
# chat-style round trip; transformers serve runs the model text-only, so it cannot see the image.
SCRIPTED = {
    "llama-server": {
        "tools.parallel",
        "tools.round_trip",
        "vision.base64_png",
        "vision.detail",
        "vision.mixed_parts",
        "guide.vision",
        "agents.history_replay_tool",
        "agents.tool_output_text_parts",
        "agents.tool_output_image",
    },
    "transformers-serve": {"tools.parallel", "tools.round_trip", "tools.chat_round_trip"},
    "vllm": {"tools.parallel", "tools.round_trip"},
    "vllm-store": {"tools.parallel", "tools.round_trip"},
}
# The llama-server profile claims streaming and state on purpose, so DRIFT shows offline; transformers'
# profile claims nothing.
DRIFTING = {
    "llama-server": {
        "streaming.text",
        "streaming.instructions",
        "state.store_then_get",
        "state.previous_response_id",
        "state.instructions_not_inherited",
        "state.conversation",
        "state.delete",
        "state.get_unknown",
        "state.input_items",
    },
    "transformers-serve": set(),
    "vllm": set(),
    "vllm-store": set(),
}


def test_each_peer_cell_names_what_the_server_does(recorded: tuple[dict, Path]) -> None:
    live, _ = recorded
    provider = live["cells"][0]["provider"]
    cells = {c["probe"]: c for c in live["cells"]}
    for probe, status, evidence in KNOWN[provider]:
        assert cells[probe]["status"] == status, (probe, cells[probe]["findings"][:3])
        assert any(evidence in f["message"] for f in cells[probe]["findings"]), (probe, evidence)


def test_the_scripted_answers_show_the_server_passed_the_model_what_it_needs(recorded: tuple[dict, Path]) -> None:
    """The tool result reached the model, two calls came back as two items, the image was seen."""
    live, _ = recorded
    provider = live["cells"][0]["provider"]
    cells = {c["probe"]: c for c in live["cells"]}
    for probe in SCRIPTED[provider]:
        assert cells[probe]["semantic_checks"] is True, probe
        semantic = [f for f in cells[probe]["findings"] if RULES[f["rule"]].tag is Tag.SEMANTIC]
        assert semantic == [], (probe, semantic)
    assert cells["core.text_input"]["semantic_checks"] is False


def test_the_vllm_store_switch_decides_the_state_cells(recorded: tuple[dict, Path]) -> None:
    live, _ = recorded
    provider = live["cells"][0]["provider"]
    if provider not in KEEPS_STATE:
        pytest.skip(f"{provider} has no store switch")
    cells = {c["probe"]: c for c in live["cells"]}
    served = {probe: cells[probe]["status"] in ("PASS", "NON-STRICT") for probe in STATE}
    assert served == dict.fromkeys(STATE, KEEPS_STATE[provider]), {p: cells[p]["status"] for p in STATE}


def test_thinking_off_keeps_an_unprompted_think_out_of_the_answer(recorded: tuple[dict, Path]) -> None:
    """vLLM passes enable_thinking false (its default chat-template kwargs here): the template writes an
    empty think block, as Qwen3's does, and no thought reaches output_text."""
    live, _ = recorded
    provider = live["cells"][0]["provider"]
    if provider not in THINKING_OFF:
        pytest.skip(f"{provider} does not pass enable_thinking")
    cell = next(c for c in live["cells"] if c["probe"] == "reasoning.unprompted")
    assert cell["status"] in ("PASS", "NON-STRICT"), cell["findings"][:3]
    assert not [f for f in cell["findings"] if f["rule"].startswith("reasoning.")], cell["findings"]


def test_every_cell_carries_its_claim_and_drift_marks_a_false_one(recorded: tuple[dict, Path]) -> None:
    live, root = recorded
    provider = live["cells"][0]["provider"]
    assert all(cell["claim"]["claim"] in ("yes", "no", "unknown") for cell in live["cells"])
    assert {c["probe"] for c in live["cells"] if c["drift"]} == DRIFTING[provider]
    assert (root / "out" / "catalogs" / f"{provider}.json").exists(), "the claims are stored with the results"


def test_cassettes_hold_every_event_with_its_arrival_offset(recorded: tuple[dict, Path]) -> None:
    import json

    _, root = recorded
    path = next((root / "cassettes").rglob("streaming.text.json"))
    cassette = json.loads(path.read_text())
    assert cassette["version"] == 1
    response = cassette["interactions"][0]["response"]
    assert response["events"], "a stream's events are written for readers"
    offsets = [e["offset_ms"] for e in response["events"]]
    assert offsets == sorted(offsets) and offsets[-1] > 0
    assert all(isinstance(c["offset_ms"], float | int) for c in response["chunks"])
