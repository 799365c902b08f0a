"""A replayed run for the report tests: the shipped cassettes when there are any, else a small recording.

Until cassettes are shipped in matrices/cassettes, a few models of the fault server (tests/faults) are
recorded into a temporary directory, one cassette is removed, and that is replayed instead. Either way
the reports under test come from a real replay, exchanges and all, and hold every kind of outcome:
PASS, NON-STRICT, FAIL, IGNORED, UNSUPPORTED, ERROR and NOT RUN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.paths import cassettes_dir
from conformance.probes import BY_ID, PROBES, Probe
from conformance.runner import Target
from conformance.session import Plan, Session, replay_plans
from conformance.transports import RecordMode
from conformance.transports.cassette import cassette_path
from tests.faults.server import FaultServer

FAULT_MODELS = ("fault:normal", "fault:html_200", "fault:status_500", "fault:sse_missing_seq", "fault:nope")
FAULT_PROBES = tuple(
    BY_ID[p]
    for p in ("core.text_input", "streaming.text", "structured.json_object", "tools.function_call", "errors.missing_input")
)
UNRECORDED = ("fault:normal", "tools.function_call")  # its cassette is removed, so replay has a NOT RUN cell


@dataclass(frozen=True)
class Cassettes:
    path: Path
    probes: tuple[Probe, ...]
    shipped: bool


def cassettes(root: Path) -> Cassettes:
    """The shipped cassettes when any provider is recorded there, else a fresh recording under root."""
    shipped = cassettes_dir()
    if replay_plans(shipped):
        return Cassettes(shipped, PROBES, shipped=True)
    recorded = root / "cassettes"
    with FaultServer() as server:
        plan = Plan(Target("faults", server.base_url, timeout_s=10), FAULT_MODELS, FAULT_PROBES, RecordMode.ALL, recorded)
        Session(root / "recorded").run([plan])
    cassette_path(recorded, "faults", *UNRECORDED).unlink()
    return Cassettes(recorded, FAULT_PROBES, shipped=False)


def replayed_run(root: Path) -> tuple[Path, dict[str, Any]]:
    """A results directory replayed offline (results.jsonl, matrix.json and the reports), and its matrix."""
    found = cassettes(root)
    out = root / "replay"
    matrix = Session(out, {"mode": "replay"}).run(replay_plans(found.path, probes=found.probes))
    return out, matrix
