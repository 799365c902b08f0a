"""Record a run against the real llama-server, replay it with the network blocked: same matrix."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conformance.probes import PROBES
from conformance.profiles import profile_for
from conformance.session import Session, live_plan, replay_plans
from conformance.transports import RecordMode
from tests.peers.servers import Peer

pytestmark = pytest.mark.peer


def _comparable(matrix: dict) -> list[dict]:
    return [
        {k: cell[k] for k in ("provider", "model", "probe", "status", "findings", "claim", "drift", "exchanges")}
        for cell in matrix["cells"]
    ]


@pytest.fixture(scope="module")
def recorded(llama_server: Peer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("record")
    profile = profile_for("llama-server", llama_server.base_url)
    assert profile is not None
    live = live_plan(profile, None, PROBES, RecordMode.ALL, root / "cassettes", timeout_s=30)
    assert live.plan.models == (llama_server.model,), "the model comes from the server's own catalog"
    return Session(root / "out").run([live.plan]), root


def test_replay_with_network_blocked_gives_the_identical_matrix(
    recorded: tuple[dict, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    live, root = recorded

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    replayed = Session(root / "replay").run(replay_plans(root / "cassettes"))
    assert len(live["cells"]) == len(PROBES)
    assert _comparable(replayed) == _comparable(live)


def test_llama_server_streaming_cell_names_what_the_server_leaves_out(recorded: tuple[dict, Path]) -> None:
    live, _ = recorded
    cell = next(c for c in live["cells"] if c["probe"] == "streaming.text")
    assert cell["status"] != "PASS"
    messages = " ".join(f["message"] for f in cell["findings"])
    assert "sequence_number" in messages
    assert "output_index" in messages


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


def test_every_cell_carries_its_claim_and_drift_marks_a_false_one(recorded: tuple[dict, Path]) -> None:
    live, root = recorded
    assert all(cell["claim"]["claim"] in ("yes", "no", "unknown") for cell in live["cells"])
    streaming = next(c for c in live["cells"] if c["probe"] == "streaming.text")
    assert streaming["claim"]["claim"] == "yes", "the llama-server profile claims streaming on purpose"
    assert streaming["drift"] is True
    assert (root / "out" / "catalogs" / "llama-server.json").exists(), "the claims are stored with the results"
