"""A run stopped by SIGINT, SIGTERM or SIGKILL keeps every finished cell, and the same command resumes it.

The real CLI runs in a subprocess against the fault server. It is stopped while its fourth cell
waits on the `slow` fault (the server has that cell's request, results.jsonl has three lines), then
the very same command is run again: it must run only the cells that had not finished, and the
interrupted cell must not come back from a half-recorded cassette.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.node_column import is_derived
from conformance.paths import safe_name
from conformance.preflight import HEADER
from conformance.records import MatrixCell
from conformance.transports.cassette import cassette_path
from tests.faults.server import FaultServer

MODELS = ("fault:normal", "fault:slow", "fault:normal#2")
PROBES = ("core.text_input", "streaming.text")
CELLS = [(model, probe) for model in MODELS for probe in PROBES]
INTERRUPTED = CELLS[3]  # the slow model's stream: its answer waits SLOW_S on the server
WAIT_S = 30.0


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _command(server: FaultServer, root: Path, mode: str) -> list[str]:
    models = [arg for m in MODELS for arg in ("--model", m)]
    probes = [arg for p in PROBES for arg in ("--probe", p)]
    return [
        sys.executable, "-m", "conformance.cli", "run", "--base-url", server.base_url, *models, *probes,
        "--out", str(root / "out"), "--record-mode", mode, "--cassettes", str(root / "cassettes"),
        "--timeout", "10", "-q", "--jobs", "1",  # one lane: cells finish in a known order
    ]  # fmt: skip


def _cells(root: Path) -> list[tuple[str, str]]:
    """The finished cells in results.jsonl, in order; every line must be whole JSON."""
    path = root / "out" / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [(r["model"], r["probe"]) for r in map(json.loads, lines)]


def _requests(server: FaultServer) -> Counter[tuple[str, bool]]:
    """How often each cell's request reached the server, as (model, stream); the run's preflight aside."""
    return Counter((r.model, r.stream) for r in server.requests if r.model and HEADER not in r.headers)


def _as_request(cell: tuple[str, str]) -> tuple[str, bool]:
    return cell[0], cell[1] == "streaming.text"


@pytest.mark.parametrize(
    ("stop", "mode"),
    [(signal.SIGINT, "once"), (signal.SIGTERM, "once"), (signal.SIGKILL, "all")],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_stopped_run_keeps_its_cells_and_the_same_command_resumes(
    stop: signal.Signals, mode: str, server: FaultServer, tmp_path: Path
) -> None:
    command = _command(server, tmp_path, mode)
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (len(_cells(tmp_path)) == 3 and _requests(server)[_as_request(INTERRUPTED)] == 1):
            assert run.poll() is None, f"the run ended before it could be stopped: {run.communicate()}"
            assert time.monotonic() < deadline, "the run never reached its fourth cell"
            time.sleep(0.02)
        run.send_signal(stop)
        _, stderr = run.communicate(timeout=WAIT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    if stop == signal.SIGINT:  # Ctrl-C is caught: a sentence, not a traceback, and the shell's 130
        assert run.returncode == 130 and b"interrupted" in stderr and b"Run the same command" in stderr, stderr[-2000:]
    elif stop == signal.SIGTERM:  # a cancelled CI job: caught the same way, with the shell's 143
        assert run.returncode == 143 and b"terminated" in stderr and b"Run the same command" in stderr, stderr[-2000:]
    else:
        assert run.returncode == -stop, stderr.decode(errors="replace")[-2000:]

    assert _cells(tmp_path) == CELLS[:3]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["complete"] is False
    provider = safe_name(server.base_url.split("://")[1].split("/")[0])
    assert not cassette_path(tmp_path / "cassettes", provider, *INTERRUPTED).exists(), "a half-recorded cassette"

    resumed = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=WAIT_S * 2, check=False)
    assert resumed.returncode == 0, resumed.stderr.decode(errors="replace")[-2000:]
    assert _cells(tmp_path) == CELLS
    assert _requests(server) == Counter({_as_request(c): 1 + (c == INTERRUPTED) for c in CELLS})
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"PASS"}, [(r["model"], r["probe"], r["findings"]) for r in records]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["complete"] is True
    cells = json.loads((tmp_path / "out" / "matrix.json").read_text())["cells"]
    assert len([c for c in cells if not is_derived(MatrixCell.model_validate(c))]) == len(CELLS), (
        "the SDK column is derived, not run"
    )
