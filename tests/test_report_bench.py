"""The report benchmark's machinery on a corpus small enough for the test run (`python -m tests.report_bench`
is the benchmark itself, at 40 models, and runs on its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.probes import PROBES
from tests.browser import find_chromium
from tests.report_bench import main


def test_a_two_model_corpus_prints_every_figure_against_its_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if find_chromium() is None:
        pytest.skip("Chromium not found (apt-get install -y chromium, or set CONFORMANCE_CHROMIUM)")
    assert main(["--models", "2", "--keep", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    recorded, derived = len(PROBES), 4  # each model's cells: one per probe, then its sdk and Node cells
    assert f"2 models, {2 * recorded} recorded cells; {2 * (recorded + derived)} cells in the matrix" in printed
    for figure in ("replay + reports", "peak RSS", "matrix.html", "out dir", "chromium load"):
        assert figure in printed and "of budget" in printed.split(figure, 1)[1].splitlines()[0]
    reads = re.search(r"([0-9.]+) s of CPU for the Python SDK and node to read every answer", printed)
    libraries = re.search(r"([0-9.]+) s for the client-library cells", printed)
    assert reads and float(reads[1]) > 0 and libraries and float(libraries[1]) > 0
    assert (tmp_path / "report" / "matrix.html").is_file()
