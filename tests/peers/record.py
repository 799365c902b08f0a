"""Record the cassettes the offline default replays: every probe against every built local peer.

Usage: python -m tests.peers.record [PEER ...]   (default: every peer that is built)
It replaces matrices/cassettes/<peer>/ wholesale, so a probe that was removed leaves no stale
cassette behind, and renders the run into reports/sample/.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from conformance.paths import cassettes_dir
from conformance.probes import PROBES
from conformance.profiles import load_profile
from conformance.session import Session, live_plan, replay_plans
from conformance.transports import RecordMode
from conformance.transports.cassette import safe_name
from tests.peers.servers import COMMANDS, PeerUnavailable, running

SAMPLE = Path("reports/sample")


def record(name: str, cassettes: Path, logs: Path) -> None:
    profile = load_profile(name)
    shutil.rmtree(cassettes / safe_name(profile.name), ignore_errors=True)
    port = urlsplit(profile.base_url).port  # the profile's port, so re-recording leaves URLs unchanged
    with running(name, logs, port=port) as peer:
        live = live_plan(
            replace(profile, base_url=peer.base_url), None, PROBES, RecordMode.ALL, cassettes, timeout_s=30
        )
        Session(logs / f"{name}-run").run([live.plan])
    print(f"recorded {name} into {cassettes / safe_name(profile.name)}")


def main(names: list[str]) -> int:
    cassettes = cassettes_dir()
    logs = Path(tempfile.mkdtemp(prefix="conformance-record-"))
    for name in names or list(COMMANDS):
        try:
            record(name, cassettes, logs)
        except PeerUnavailable as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
            if names:
                return 1
    shutil.rmtree(SAMPLE, ignore_errors=True)
    Session(SAMPLE, {"mode": "replay"}).run(replay_plans(cassettes))
    (SAMPLE / "results.jsonl").unlink()
    (SAMPLE / "run.json").unlink()
    print(f"sample report: {SAMPLE / 'matrix.html'}")
    print(
        "now refresh its picture: python -m tests.report_screenshot "
        f"{SAMPLE / 'screenshot.png'} {SAMPLE / 'matrix.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
