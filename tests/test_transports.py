"""Record modes, matching, redaction and cassette errors, with httpx.MockTransport as the far end.

The MockTransport handlers here are hand-made stand-ins for a server, used only to drive the
transport logic; the live path itself is exercised against real peers in test_record_replay.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from conformance.records import ResultLine
from conformance.render import _totals
from conformance.transports import CassetteMiss, CassetteTransport, RecordMode
from conformance.transports.cassette import CassetteError, load_cassette

KEY = "sk-test-key-0123456789abcdef"


def _server(calls: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = json.dumps({"n": len(calls), "echo": request.headers.get("authorization")}).encode()
        # a stream, not `json=`: a real transport's body is read through the stream, which the tee wraps
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))

    return httpx.MockTransport(handle)


def _send(transport: httpx.BaseTransport, body: dict) -> httpx.Response:
    with httpx.Client(transport=transport) as client:
        response = client.post("http://peer.test/v1/responses", json=body, headers={"authorization": f"Bearer {KEY}"})
        response.read()
        return response


def _transport(path: Path, mode: RecordMode, calls: list[httpx.Request]) -> CassetteTransport:
    return CassetteTransport(path, mode, _server(calls), provider="p", model="m", probe="x", secrets=[KEY])


def test_record_mode_names_are_validated() -> None:
    assert RecordMode.parse("new_episodes") is RecordMode.NEW_EPISODES
    with pytest.raises(ValueError, match="unknown record mode 'new-episodes'; choose one of: none, once"):
        RecordMode.parse("new-episodes")


def test_once_records_then_replays_without_the_network(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    assert _send(_transport(path, RecordMode.ONCE, calls), {"a": 1}).json()["n"] == 1
    replayed = _send(_transport(path, RecordMode.ONCE, calls), {"a": 1})
    assert replayed.json()["n"] == 1 and len(calls) == 1
    with pytest.raises(CassetteMiss, match=r"c\.json: no recorded interaction matches POST"):
        _send(_transport(path, RecordMode.ONCE, calls), {"a": 2})


def test_none_never_records_and_new_episodes_appends(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    with pytest.raises(CassetteError, match="no such cassette"):
        _transport(path, RecordMode.NONE, calls)
    _send(_transport(path, RecordMode.ALL, calls), {"a": 1})
    with pytest.raises(CassetteMiss):
        _send(_transport(path, RecordMode.NONE, calls), {"a": 2})
    transport = _transport(path, RecordMode.NEW_EPISODES, calls)
    assert _send(transport, {"a": 1}).json()["n"] == 1
    assert _send(transport, {"a": 2}).json()["n"] == 2
    transport.close()
    assert len(load_cassette(path).interactions) == 2


def test_rewrite_rerecords_from_scratch(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    _send(_transport(path, RecordMode.REWRITE, calls), {"a": 1})
    _send(_transport(path, RecordMode.REWRITE, calls), {"a": 1})
    assert len(calls) == 2 and len(load_cassette(path).interactions) == 1


def test_all_records_every_request_and_keeps_what_was_recorded_as_vcrpy_does(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    _send(_transport(path, RecordMode.ALL, calls), {"a": 1})
    transport = _transport(path, RecordMode.ALL, calls)
    assert _send(transport, {"a": 1}).json()["n"] == 2, "never replayed"
    transport.close()
    assert len(calls) == 2 and len(load_cassette(path).interactions) == 2


def test_json_bodies_match_whatever_their_key_order(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    _send(_transport(path, RecordMode.ALL, calls), {"a": 1, "b": 2})
    with httpx.Client(transport=_transport(path, RecordMode.NONE, calls)) as client:
        response = client.post("http://peer.test/v1/responses", content=b'{"b":2,  "a":1}')
    assert response.status_code == 200 and len(calls) == 1


def test_replay_takes_the_first_recorded_twin_whether_its_text_or_only_its_json_is_the_same(tmp_path: Path) -> None:
    """Interactions are consumed in the order recorded: a request the second one holds byte for byte, and the
    first one only as JSON, gets the first one's answer."""
    path, calls = tmp_path / "c.json", []
    recording = _transport(path, RecordMode.ALL, calls)
    with httpx.Client(transport=recording) as client:
        for content in (b'{"a": 1, "b": 2}', b'{"b":2,"a":1}'):
            client.post("http://peer.test/v1/responses", content=content).read()
    recording.close()
    with httpx.Client(transport=_transport(path, RecordMode.NONE, calls)) as client:
        first = client.post("http://peer.test/v1/responses", content=b'{"b":2,"a":1}')
        second = client.post("http://peer.test/v1/responses", content=b'{"b":2,"a":1}')
    assert (first.json()["n"], second.json()["n"]) == (1, 2) and len(calls) == 2


def test_the_key_never_reaches_the_cassette(tmp_path: Path) -> None:
    path, calls = tmp_path / "c.json", []
    _send(_transport(path, RecordMode.ALL, calls), {"input": f"my key is {KEY}"})
    text = path.read_text()
    assert KEY not in text
    interaction = json.loads(text)["interactions"][0]
    assert interaction["request"]["headers"]["authorization"] == "REDACTED"
    assert "REDACTED" in interaction["request"]["body"] and "REDACTED" in interaction["response"]["body"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"version": 1, "provider": "p"', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"version": 99}', "unknown cassette version 99"),
        ('{"version": 1, "provider": "p"}', "malformed cassette: model: Field required"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_broken_cassettes_name_the_file_and_the_problem(tmp_path: Path, content: str | bytes, problem: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CassetteError) as info:
        load_cassette(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_a_secret_split_across_chunks_is_still_redacted() -> None:
    from conformance.transports.cassette import Chunk, scrub_chunks

    chunks = [Chunk(1.0, b"data: sk-te"), Chunk(2.0, b"st-key-0123456789abcdef\n"), Chunk(3.0, b"\n"), Chunk(4.0, b"x")]
    scrubbed = scrub_chunks(chunks, [KEY])
    assert [c.offset_ms for c in scrubbed] == [2.0, 3.0, 4.0]
    assert b"".join(c.data for c in scrubbed) == b"data: REDACTED\n\nx"


def test_a_probe_wait_is_honoured_live_and_skipped_on_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from conformance.probes.base import Probe, Request
    from conformance.runner import Target, run_cell

    def script(model: str):  # type: ignore[no-untyped-def]
        yield Request({"model": model, "input": "a"})
        yield Request({"model": model, "input": "b"}, delay_s=0.25)

    probe = Probe("core.wait_test", "core", "a hand-made two-step probe that waits", script, ())
    target = Target("p", "http://peer.test/v1", timeout_s=5)
    path, calls, waits = tmp_path / "c.json", [], []
    monkeypatch.setattr(time, "sleep", waits.append)
    run_cell(probe, "m", target, lambda p, m: _transport(path, RecordMode.ALL, calls))
    assert waits == [0.25] and len(calls) == 2
    replayed = run_cell(probe, "m", target, lambda p, m: _transport(path, RecordMode.NONE, calls))
    assert waits == [0.25] and len(calls) == 2 and len(replayed.exchanges) == 2


def test_a_semantic_failure_is_retried_every_attempt_kept_and_replayed_alike(tmp_path: Path) -> None:
    from conformance.checks.core import answer_mentions
    from conformance.probes.base import Probe, text_input
    from conformance.runner import Target, run_cell

    answers = iter(["no idea", "It is Zorblat."])

    def handle(request: httpx.Request) -> httpx.Response:
        text = next(answers)
        item = {"type": "message", "content": [{"type": "output_text", "text": text}]}
        body = json.dumps({"status": "completed", "output": [item]}).encode()
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))

    probe = Probe(
        "core.name_test",
        "core",
        "hand-made: the answer must name Zorblat",
        text_input("Name?"),
        (answer_mentions("Zorblat"),),
    )
    target = Target("p", "http://peer.test/v1", semantic_tries=3)
    path = tmp_path / "c.json"

    def recording(p: Probe, m: str) -> CassetteTransport:
        return CassetteTransport(path, RecordMode.ALL, httpx.MockTransport(handle), provider="p", model="m", probe="x")

    live = run_cell(probe, "m", target, recording)
    assert live.status.value == "PASS"
    assert live.extra["tries"] == "1/2" and live.extra["flaky"] is True
    assert [a["status"] for a in live.extra["attempts"]] == ["IGNORED", "PASS"]
    assert len(load_cassette(path).interactions) == 2, "both attempts are in the cassette"
    assert [a["requests"] for a in live.extra["attempts"]] == [1, 1]
    line = ResultLine.model_validate(live.to_json())
    assert _totals([line])["requests"] == 2, "the run's count includes the semantic retry"
    replayed = run_cell(probe, "m", target, lambda p, m: _transport(path, RecordMode.NONE, []))
    assert (replayed.status, replayed.extra) == (live.status, live.extra)
