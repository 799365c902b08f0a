"""The shipped cassettes hold their expectations: a replay matches matrices/expectations/<peer>.toml
cell by cell (status and deciding rule), and does not regress against matrices/baseline/<peer>.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main
from conformance.paths import cassettes_dir


def shipped() -> list[str]:
    """Every provider with shipped cassettes: a peer added without its expectations file fails here."""
    return sorted(p.name for p in cassettes_dir().iterdir() if p.is_dir())


@pytest.mark.parametrize("provider", shipped())
def test_replay_of_the_shipped_cassettes_matches_the_expectations(
    provider: str, repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / provider
    assert main(["replay", "--provider", provider, "--out", str(out), "-q"]) == 0
    expectations = repo_root / "matrices" / "expectations" / f"{provider}.toml"
    assert expectations.exists(), f"no {expectations}: write it with `conformance expectations RUN --update`"
    capsys.readouterr()
    code = main(["expectations", str(out), "--dir", str(expectations.parent)])
    assert code == 0, capsys.readouterr().out
    baseline = repo_root / "matrices" / "baseline" / f"{provider}.json"
    assert main(["diff", str(baseline), str(out)]) == 0
    html = (out / "matrix.html").read_text()
    assert main(["report", str(out), "--baseline", str(baseline)]) == 0
    assert (out / "matrix.html").read_text() != html, "the report outlines the comparison"
