"""A replayed run of the shipped cassettes, for the report tests: real exchanges, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.matrix import matrix_json
from conformance.paths import cassettes_dir
from conformance.plan import replay_plans
from conformance.records import MatrixHead
from conformance.session import Session


def replayed_run(root: Path) -> tuple[Path, dict[str, Any]]:
    """A results directory replayed offline (results.jsonl, matrix.json and the reports), and its matrix as
    matrix.json holds it."""
    plans = replay_plans(cassettes_dir())
    assert plans, f"no cassettes shipped under {cassettes_dir()}: run python -m tests.peers.record"
    out = root / "replay"
    return out, matrix_json(Session(out, MatrixHead(mode="replay")).run(plans))
