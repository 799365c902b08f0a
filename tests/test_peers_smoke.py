"""Each real peer starts and answers one Responses request, whole and streamed, with the scripted text.

Deliberately independent of the suite's runner, SSE parser and checks: when a peer-backed test fails,
this tells whether the peer itself (its build, its start, its addressing of the model) is at fault.
A peer that was not built is skipped by the fixtures in conftest.py, or fails under
CONFORMANCE_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.peers.params import peer_params
from tests.peers.servers import PEERS, Peer

pytestmark = pytest.mark.peer

# The tiny model's text script (tests/peers/make_model.py); every peer serves it verbatim.
SCRIPTED = "Hello! This is a tiny test model."


@pytest.fixture(params=peer_params(sorted(PEERS)))
def served(request: pytest.FixtureRequest) -> Peer:
    """Every peer in PEERS, through its session fixture in conftest.py (named like the peer)."""
    peer: Peer = request.getfixturevalue(request.param.replace("-", "_"))
    return peer


def _post(peer: Peer, stream: bool) -> dict[str, Any]:
    return {"model": peer.model, "input": "Say hello.", "stream": stream}


def _message_text(response: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )


def test_answers_whole(served: Peer) -> None:
    reply = httpx.post(served.base_url + "/responses", json=_post(served, stream=False), timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "completed", body
    assert _message_text(body) == SCRIPTED, body


def test_answers_streamed(served: Peer) -> None:
    events: list[dict[str, Any]] = []
    with httpx.stream("POST", served.base_url + "/responses", json=_post(served, stream=True), timeout=60) as reply:
        assert reply.status_code == 200, reply.read().decode()
        assert reply.headers["content-type"].startswith("text/event-stream"), reply.headers
        # Every peer puts each event's JSON on one `data:` line, so lines suffice here.
        events = [json.loads(line[5:]) for line in reply.iter_lines() if line.startswith("data:")]
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed", types
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == SCRIPTED, types
    assert _message_text(events[-1]["response"]) == SCRIPTED, events[-1]
