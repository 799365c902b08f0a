"""Before a live run, one request says whether the endpoint is there and takes the key; a refused
key or an unreachable URL stops the run with one line and a non-zero exit, never the key itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conformance import cli
from conformance.preflight import HEADER, preflight
from conformance.runner import Target
from conformance.schedule import Pacing

KEY = "sk-preflight-canary-4242"


class _Gate(BaseHTTPRequestHandler):
    """A hand-made fixture: answers every POST with the status the test set, quoting the key it got."""

    status = 200
    seen: ClassVar[list[dict[str, Any]]] = []  # each fixture gives its subclass a list of its own

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self.seen.append({"headers": dict(self.headers.items()), "body": body})
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        message = {403: "Authentication Failed", 401: f"Incorrect API key provided: {key}"}.get(self.status, "ok")
        payload = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
        self.send_response(self.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def gate() -> Iterator[tuple[str, type[_Gate]]]:
    handler = type("Gate", (_Gate,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler
    finally:
        server.shutdown()
        server.server_close()


def _target(url: str, key: str | None = KEY) -> Target:
    return Target("p", url, api_key=key, timeout_s=5, request_defaults={"store": False})


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "the key in AI_ENDPOINT_API_KEY was refused (403 Authentication Failed)"),
        (401, "the key in AI_ENDPOINT_API_KEY was refused (401 Incorrect API key provided: REDACTED)"),
    ],
)
def test_a_refused_key_is_named_by_its_variable_never_by_its_value(
    gate: tuple[str, type[_Gate]], status: int, expected: str
) -> None:
    url, handler = gate
    handler.status = status
    problem = preflight(_target(url), "m", Pacing(), "AI_ENDPOINT_API_KEY")
    assert problem is not None and problem.message == expected
    (sent,) = handler.seen
    assert sent["body"]["store"] is False and sent["headers"][HEADER] == "1", "the profile's fields, and marked"


def test_an_answer_that_is_not_a_refusal_lets_the_run_go_on(gate: tuple[str, type[_Gate]]) -> None:
    url, handler = gate
    for status in (200, 400, 429, 500):
        handler.status = status
        assert preflight(_target(url), "m", Pacing(), "K") is None


def test_no_key_and_a_401_says_which_variable_to_set(gate: tuple[str, type[_Gate]]) -> None:
    url, handler = gate
    handler.status = 401
    problem = preflight(_target(url, key=None), "m", Pacing(), "AI_ENDPOINT_API_KEY")
    assert problem is not None and "wants a key and none was given" in problem.message
    assert "set AI_ENDPOINT_API_KEY" in problem.message


def test_an_unreachable_endpoint_is_one_line() -> None:
    problem = preflight(_target("http://127.0.0.1:9/v1"), "m", Pacing(), "K")
    assert problem is not None and problem.message.startswith("cannot reach http://127.0.0.1:9/v1: ConnectError")


def test_the_cli_stops_before_the_plan_with_a_non_zero_exit(
    gate: tuple[str, type[_Gate]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = gate
    handler.status = 403
    monkeypatch.setenv("AI_ENDPOINT_API_KEY", KEY)
    argv = ["run", "--base-url", url, "--api-key-env", "AI_ENDPOINT_API_KEY", "--model", "m", "--out", str(tmp_path)]
    assert cli.main(argv) == 3  # bad input: the key
    err = capsys.readouterr().err
    assert "the key in AI_ENDPOINT_API_KEY was refused (403 Authentication Failed); nothing was run." in err
    assert KEY not in err
    assert len(handler.seen) == 1 and not (tmp_path / "results.jsonl").exists()
