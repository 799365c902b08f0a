"""The peers' baselines under matrices/baseline/ hold: a replay of the shipped cassettes does not regress."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main


@pytest.mark.parametrize("provider", ["llama-server", "transformers-serve"])
def test_replay_of_the_shipped_cassettes_matches_the_baseline(provider: str, repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / provider
    assert main(["replay", "--provider", provider, "--out", str(out), "-q"]) == 0
    baseline = repo_root / "matrices" / "baseline" / f"{provider}.json"
    assert main(["diff", str(baseline), str(out)]) == 0
    html = (out / "matrix.html").read_text()
    assert main(["report", str(out), "--baseline", str(baseline)]) == 0
    assert (out / "matrix.html").read_text() != html, "the report outlines the comparison"
