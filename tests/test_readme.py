"""The README's probe list is generated from the catalog; a stale list fails here."""

from __future__ import annotations

from pathlib import Path

from conformance.probes import PROBES
from conformance.probes.listing import END, START, probe_table


def test_readme_lists_the_current_probe_catalog(repo_root: Path) -> None:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    section = text.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == probe_table().strip(), "run: conformance probes --update-readme"
    assert all(f"`{p.id}`" in section for p in PROBES)
