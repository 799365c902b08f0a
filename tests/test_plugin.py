"""The pytest plugin runs the same cells as the CLI, one item per (model, probe), under xdist too."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conformance.cli import main
from conformance.node_column import is_derived
from conformance.records import MatrixCell


def _statuses(out: Path) -> dict[tuple[str, str, str], str]:
    matrix = json.loads((out / "matrix.json").read_text())
    return {
        (c["provider"], c["model"], c["probe"]): c["status"]
        for c in matrix["cells"]
        if not is_derived(MatrixCell.model_validate(c))
    }


def test_plugin_replay_under_xdist_matches_the_cli(repo_root: Path, tmp_path: Path) -> None:
    assert main(["replay", "--out", str(tmp_path / "cli"), "-q"]) == 0
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "matrices",
            "--conformance-replay",
            "-n",
            "2",
            "-v",
            "-p",
            "no:randomly",
            "--conformance-out",
            str(tmp_path / "plugin"),
            "-o",
            "addopts=",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    cli, plugin = _statuses(tmp_path / "cli"), _statuses(tmp_path / "plugin")
    assert plugin == cli and len(plugin) > 100
    lines = (tmp_path / "plugin" / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(cli), "one results line per cell, appended by the workers"
    counts = Counter(cli.values())
    failed = counts["FAIL"] + counts["ERROR"]
    assert run.returncode == (1 if failed else 0), run.stdout[-2000:]
    assert f"{failed} failed" in run.stdout
    assert f"{counts['UNSUPPORTED'] + counts['IGNORED']} xfailed" in run.stdout
    workers: dict[str, set[str]] = {}
    for worker, group in re.findall(r"^\[(gw\d+)\] \[.*@(\S+)\s*$", run.stdout, re.MULTILINE):
        workers.setdefault(group, set()).add(worker)
    assert len(workers) >= 2 and all(len(w) == 1 for w in workers.values()), f"a model's cells on one worker: {workers}"


def test_bad_input_to_the_plugin_is_one_usage_line(repo_root: Path, tmp_path: Path) -> None:
    """A profile that is not there, or a key variable holding what no header can carry, is pytest's usage error
    (exit 4) with one line naming it, as the CLI answers it: no traceback."""
    runs = [
        ["--conformance-provider", str(tmp_path / "nowhere.toml")],
        ["--conformance-base-url", "http://127.0.0.1:9/v1", "--conformance-api-key-env", "CONFORMANCE_BAD_KEY"],
    ]
    for options in runs:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "matrices", *options, "-p", "no:randomly", "-o", "addopts="],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CONFORMANCE_BAD_KEY": "sk-test\nsecond-line"},
        )
        said = run.stdout + run.stderr
        assert run.returncode == 4, said[-2000:]
        assert "ERROR: conformance: " in said and "Traceback" not in said, said[-2000:]
        assert "second-line" not in said
