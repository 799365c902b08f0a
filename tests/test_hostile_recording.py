"""Round six of the hostile cases: what recording costs, whatever many hostile cells in flight at once send.

The fault server's answers are hostile on purpose (tests/faults/server.py); the run is a process of its
own, as in use, so that its peak memory is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.transports.cassette import load_cassette
from tests.faults.server import FaultServer

KEY = "sk-Recording-Key-0123456789"
BOMBS = 8
MAX_RSS = 500 * 1024 * 1024  # a hostile run's bound (tests/test_hostile.py)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def test_many_compression_bombs_recorded_at_once_stay_within_the_runs_memory(
    server: FaultServer, tmp_path: Path
) -> None:
    """Each recorded coded body is decoded (up to 64 MiB) to scrub the key before it is written: some 240 MB
    for one, and eight cells in flight at once held 1.3 GB."""
    models = [arg for i in range(BOMBS) for arg in ("--model", f"fault:gzip_bomb#{i}")]
    command = [
        sys.executable, "-m", "conformance.cli", "run", "--base-url", server.base_url, *models,
        "--probe", "core.text_input", "--api-key-env", "CONFORMANCE_TEST_KEY", "--timeout", "20",
        "--record-mode", "all", "-q",
        "--cassettes", str(tmp_path / "cassettes"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr, env=_keyed())
        _, status, usage = os.wait4(run.pid, 0)  # this child's own peak memory, not the test process's
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    assert usage.ru_maxrss * 1024 < MAX_RSS, f"{usage.ru_maxrss / 1024:.0f} MB"
    cassettes = sorted((tmp_path / "cassettes").rglob("core.text_input.json"))
    assert len(cassettes) == BOMBS
    assert all(load_cassette(c).interactions[0].chunks for c in cassettes), "each kept what it read, scrubbed"


def _keyed() -> dict[str, str]:
    """The environment with the key, and this checkout first on the path (the child runs in another folder)."""
    path = os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "CONFORMANCE_TEST_KEY": KEY, "PYTHONPATH": path}
