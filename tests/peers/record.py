"""Record the cassettes the offline default replays: every probe against every built local peer.

Usage: python -m tests.peers.record [PEER ...]   (default: every peer that is built)
       python -m tests.peers.record --replay-only  (re-judge the shipped cassettes: after a grading change)
It replaces matrices/cassettes/<peer>/ wholesale, so a probe that was removed leaves no stale
cassette behind, then replays every shipped cassette into reports/sample/ and rewrites each peer's
baseline (matrices/baseline/) and expectations (matrices/expectations/) from that replay: review
their diff, since a changed expectation is a changed verdict.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from conformance import expectations
from conformance.paths import cassettes_dir, expectations_dir, safe_name
from conformance.plan import live_plan, replay_plans
from conformance.probes import PROBES
from conformance.profiles import load_profile
from conformance.records import Matrix, MatrixHead
from conformance.session import Session
from conformance.transports import RecordMode
from tests.peers.servers import PEERS, PeerUnavailable, running

SAMPLE = Path("reports/sample")
BASELINES = Path("matrices/baseline")
BASELINE_KEYS = ("provider", "model", "feature", "probe", "status")


def record(name: str, cassettes: Path, logs: Path) -> None:
    profile = load_profile(name)
    shutil.rmtree(cassettes / safe_name(profile.name), ignore_errors=True)
    port = urlsplit(profile.base_url).port  # the profile's port, so re-recording leaves URLs unchanged
    start = time.monotonic()
    with running(name, logs, port=port) as peer:
        print(f"{name} ready in {time.monotonic() - start:.0f} s")
        live = live_plan(
            profile.model_copy(update={"base_url": peer.base_url}),
            None,
            PROBES,
            RecordMode.REWRITE,
            cassettes,
            timeout_s=30,
        )
        Session(logs / f"{name}-run").run([live.plan])
    print(f"recorded {name} into {cassettes / safe_name(profile.name)} in {time.monotonic() - start:.0f} s")


def write_baselines(matrix: Matrix) -> None:
    """Per provider: the statuses `conformance diff` compares with, and the reviewed expectations."""
    for provider in expectations.providers_of(matrix.cells):
        mine = [c for c in matrix.cells if c.provider == provider]
        cells = [c.model_dump(mode="json", include=set(BASELINE_KEYS)) for c in mine]
        baseline = {"suite_version": matrix.suite_version, "cells": cells}
        path = BASELINES / f"{safe_name(provider)}.json"
        path.write_text(json.dumps(baseline, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        expected = expectations_dir() / f"{safe_name(provider)}.toml"
        old = expectations.load(expected) if expected.exists() else {}
        new = expectations.carry_intermittent(expectations.from_cells(matrix.cells, provider), old)
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(expectations.render(provider, new), encoding="utf-8")
        print(f"wrote {path} and {expected}")


def main(names: list[str]) -> int:
    cassettes = cassettes_dir()
    logs = Path(tempfile.mkdtemp(prefix="conformance-record-"))
    replay_only = "--replay-only" in names
    names = [n for n in names if n != "--replay-only"]
    skipped = False
    for name in [] if replay_only else names or list(PEERS):
        try:
            record(name, cassettes, logs)
        except PeerUnavailable as exc:
            print(f"skipped {name}: {exc}; the servers' logs are kept in {logs}", file=sys.stderr)
            if names:
                return 1
            skipped = True
    if not skipped:
        shutil.rmtree(logs)  # every peer recorded: its logs and recording run are not needed any more
    shutil.rmtree(SAMPLE, ignore_errors=True)
    matrix = Session(SAMPLE, MatrixHead(mode="replay")).run(replay_plans(cassettes))
    (SAMPLE / "results.jsonl").unlink()
    (SAMPLE / "run.json").unlink()
    write_baselines(matrix)
    print(f"sample report: {SAMPLE / 'matrix.html'}")
    print(f"now refresh its pictures (40 models, from the same cassettes): python -m tests.report_screenshot {SAMPLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
