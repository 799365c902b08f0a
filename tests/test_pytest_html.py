"""The plugin under pytest-html: the matrix's counts and link in the summary, each cell's verdict in its row.

A tiny cassette set is recorded against the fault server (one model id carries markup, as a provider's
catalog could), then `pytest matrices --conformance-replay` runs in a subprocess, as a user would, under
pytest-xdist, so the extras are shown to survive the trip from the workers.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.node_column import is_derived
from conformance.plan import Plan
from conformance.probes import BY_ID
from conformance.records import MatrixCell
from conformance.runner import Target
from conformance.session import Session
from conformance.transports import RecordMode
from tests.faults.server import FaultServer

EVIL = "fault:nope#<img src=x onerror=alert(1)>"
MODELS = ("fault:normal", "fault:status_500", EVIL)
PROBES = (BY_ID["core.text_input"], BY_ID["streaming.text"])
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cassettes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html-cassettes")
    with FaultServer() as server:
        plan = Plan(Target("faults", server.base_url, timeout_s=10), MODELS, PROBES, RecordMode.ALL, root / "cassettes")
        Session(root / "recorded").run([plan])
    return root / "cassettes"


def _pytest(cassettes: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    probes = [arg for p in PROBES for arg in ("--conformance-probe", p.id)]
    command = [
        sys.executable,
        "-m",
        "pytest",
        "matrices",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--conformance-replay",
        "--conformance-cassettes",
        str(cassettes),
        "--conformance-out",
        str(out),
        *probes,
        *extra,
    ]
    return subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _tests(report: Path) -> dict[str, list[dict[str, Any]]]:
    """pytest-html keeps each test's row and extras as JSON in an attribute of the page."""
    blob = re.search(r'data-jsonblob="([^"]*)"', report.read_text(encoding="utf-8"))
    assert blob is not None
    return dict(json.loads(html.unescape(blob.group(1)))["tests"])


def test_the_html_report_embeds_the_matrix_summary_and_each_cells_verdict(cassettes: Path, tmp_path: Path) -> None:
    report = tmp_path / "html" / "report.html"
    run = _pytest(cassettes, tmp_path / "out", f"--html={report}", "--self-contained-html", "-n", "2")
    assert run.returncode == 1, run.stdout + run.stderr  # the status_500 model's cells are ERROR: they fail
    page = report.read_text(encoding="utf-8")
    matrix = json.loads((tmp_path / "out" / "matrix.json").read_text(encoding="utf-8"))
    # the SDK column is derived, not a test
    probed = [c for c in matrix["cells"] if not is_derived(MatrixCell.model_validate(c))]
    assert f"<h2>Conformance matrix</h2><p>{len(matrix['cells'])} cells: " in page
    link = re.search(r'<a href="([^"]+)">matrix.html</a>', page)
    assert link is not None and (report.parent / link.group(1)).resolve() == (tmp_path / "out" / "matrix.html")
    for cell in matrix["cells"]:
        assert re.search(rf"<b>\S+ {re.escape(cell['status'])}</b></td><td>\d+</td>", page), cell["status"]

    tests = _tests(report)
    assert len(tests) == len(probed) == len(MODELS) * len(PROBES)
    by_key = {(c["model"], c["probe"]): c for c in probed}
    for node, (row, *_) in tests.items():
        model, probe = node.split("::")[-2:]
        probe = probe.split("@")[0]  # under xdist the plugin names a cell with its model's load group
        cell = by_key[(model, probe)]
        shown = {e["format_type"]: e for e in row["extras"]}
        assert "Conformance: <b>" in shown["html"]["content"] and f" {cell['status']}</b>" in shown["html"]["content"]
        if cell["findings"]:
            assert html.escape(cell["findings"][0]["message"]) in shown["html"]["content"]
        assert shown["url"]["content"].startswith(link.group(1) + "#cell=%5B%22faults%22")
        assert all("<img" not in part for part in [shown["html"]["content"], *row["resultsTableRow"]]), node
    assert any("&lt;img src=x" in part for rows in tests.values() for part in rows[0]["resultsTableRow"])


def test_without_pytest_html_the_plugin_still_runs_and_renders(cassettes: Path, tmp_path: Path) -> None:
    run = _pytest(cassettes, tmp_path / "out", "-p", "no:html")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 failed, 2 passed, 2 xfailed" in run.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"matrix.html", "matrix.json", "junit.xml", "summary.md"}
