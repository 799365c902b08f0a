"""Replay opens no socket and gives back the recorded verdicts; a broken cassette costs one cell only.

A small run is recorded against the fault server (a correct answer, and a few broken ones so that
recorded transport errors are replayed too); the server is then stopped and every way of opening a
connection is replaced by one that notes the attempt and refuses.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.matrix import matrix_json
from conformance.node_column import is_derived
from conformance.plan import Plan, replay_plans
from conformance.probes import BY_ID
from conformance.records import MatrixCell
from conformance.results import RESULTS_FILE, read_results
from conformance.runner import Target
from conformance.session import Session
from conformance.transports import RecordMode
from conformance.transports.cassette import cassette_path
from tests.faults.server import FaultServer

MODELS = ("fault:normal", "fault:sse_crlf", "fault:reset_mid_body", "fault:status_500")
PROBES = (BY_ID["core.text_input"], BY_ID["streaming.text"])
BROKEN = ("fault:normal", "core.text_input")
Cells = dict[tuple[str, str], dict[str, Any]]


def _cells(matrix: dict[str, Any], *keys: str) -> Cells:
    return {
        (c["model"], c["probe"]): {k: c[k] for k in keys}
        for c in matrix["cells"]
        if not is_derived(MatrixCell.model_validate(c))
    }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The recorded run's matrix and its cassettes; the server is gone once this returns."""
    root = tmp_path_factory.mktemp("recorded")
    with FaultServer() as server:
        target = Target("faults", server.base_url, api_key="sk-replay-test", timeout_s=10)
        matrix = matrix_json(
            Session(root / "out").run([Plan(target, MODELS, PROBES, RecordMode.ALL, root / "cassettes")])
        )
    return matrix, root / "cassettes"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every attempt to connect anywhere, refused."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("replay must not open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def _replay(cassettes: Path, out: Path) -> dict[str, Any]:
    return matrix_json(Session(out).run(replay_plans(cassettes, probes=PROBES)))


def test_replay_opens_no_socket_and_gives_the_recorded_cells(
    recorded: tuple[dict[str, Any], Path], connections: list[object], tmp_path: Path
) -> None:
    live, cassettes = recorded
    replayed = _replay(cassettes, tmp_path / "replay")
    assert connections == []
    assert len(_cells(live)) == len(MODELS) * len(PROBES)
    assert {c["status"] for c in live["cells"]} >= {"PASS", "FAIL", "ERROR"}
    assert _cells(replayed, "status", "findings") == _cells(live, "status", "findings")
    assert _evidence(tmp_path / "replay") == _evidence(cassettes.parent / "out")


def _evidence(out: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The exchanges (from results.jsonl, their one home), less the request's `authorization: REDACTED`:
    replay has no key, so sends none."""
    cells = {(r.model, r.probe): r.written()["exchanges"] for r in read_results(out / RESULTS_FILE)}
    for exchanges in cells.values():
        for exchange in exchanges:
            exchange["request"]["headers"].pop("authorization", None)
    return cells


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cassette: dict[str, Any]) -> None:
        node = cassette
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(cassette: dict[str, Any]) -> None:
        node = cassette
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


FIRST = ("interactions", 0)
# breakage -> (how the file is broken: new bytes from the good ones, or an edit of its JSON; what the error says)
BREAKAGES: dict[str, tuple[Callable[[bytes], bytes] | Callable[[dict[str, Any]], None], str]] = {
    "corrupt_json": (lambda good: b"{this is not json", "not valid JSON"),
    "truncated": (lambda good: good[: len(good) // 2], "the file may be truncated or corrupt"),
    "empty_file": (lambda good: b"", "not valid JSON"),
    "not_utf8": (lambda good: b"\xff\xfe" + good, "not UTF-8 text"),
    "wrong_top_level_type": (lambda good: b"[1, 2, 3]", "expected a JSON object, got list"),
    "unknown_version": (_set(("version",), 99), "unknown cassette version 99; this suite reads version 1"),
    "no_version": (_drop(("version",)), "unknown cassette version None"),
    "missing_interactions": (_drop(("interactions",)), "malformed cassette: interactions: Field required"),
    "missing_request": (_drop((*FIRST, "request")), "malformed cassette: interactions.0.request: Field required"),
    "interactions_not_a_list": (
        _set(("interactions",), "abc"),
        "malformed cassette: interactions: Input should be a valid list",
    ),
    "bad_base64": (_set((*FIRST, "response", "body_base64"), "!!not base64!!"), "body_base64 is not base64"),
    "status_not_an_int": (_set((*FIRST, "response", "status"), "200"), "status"),
    "header_not_a_string": (_set((*FIRST, "response", "headers", "x-count"), 1), "x-count"),
    "status_of_four_digits": (
        _set((*FIRST, "response", "status"), 2000),
        "status: Input should be less than or equal to 999",
    ),
    "negative_time": (
        _set((*FIRST, "response", "elapsed_ms"), -5),
        "elapsed_ms: Input should be greater than or equal to 0 (got -5)",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_cassette_is_an_error_cell_naming_the_file_and_the_others_replay(
    breakage: str, recorded: tuple[dict[str, Any], Path], connections: list[object], tmp_path: Path
) -> None:
    live, good = recorded
    cassettes = tmp_path / "cassettes"
    shutil.copytree(good, cassettes)
    path = cassette_path(cassettes, "faults", *BROKEN)
    breaker, problem = BREAKAGES[breakage]
    if breakage in ("corrupt_json", "truncated", "empty_file", "not_utf8", "wrong_top_level_type"):
        path.write_bytes(breaker(path.read_bytes()))  # type: ignore[arg-type]
    else:
        cassette = json.loads(path.read_text(encoding="utf-8"))
        breaker(cassette)  # type: ignore[arg-type]
        path.write_text(json.dumps(cassette), encoding="utf-8")

    replayed = _cells(_replay(cassettes, tmp_path / "replay"), "status", "findings")
    assert connections == []
    broken = replayed.pop(BROKEN)
    assert broken["status"] == "ERROR"
    assert [f["rule"] for f in broken["findings"]] == ["harness.cassette"]
    message = broken["findings"][0]["message"]
    assert message.startswith(f"{path}: ") and problem in message, message
    expected = _cells(live, "status", "findings")
    del expected[BROKEN]
    assert replayed == expected
