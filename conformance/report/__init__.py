"""Reports rendered from a matrix alone: one HTML page with its evidence, a Markdown summary, JUnit XML.

The report layer reads the matrix dict only, so any results directory, however old, can be re-rendered.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.report.html import render_html
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown

__all__ = ["load_schema", "render_html", "render_junit", "render_markdown", "write_reports"]


def write_reports(
    matrix: dict[str, Any],
    out_dir: Path,
    baseline: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """Write matrix.html, summary.md and junit.xml into out_dir; returns their paths.

    `history` holds past matrices, oldest first, for the HTML page's per-model trend.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {
        "matrix.html": render_html(matrix, baseline, history),
        "summary.md": render_markdown(matrix, baseline),
        "junit.xml": render_junit(matrix),
    }
    paths = []
    for name, text in pages.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def load_schema(name: str) -> dict[str, Any]:
    """The shipped JSON Schema (draft 2020-12) of "results" (one results.jsonl line) or "matrix" (matrix.json)."""
    if name not in ("results", "matrix"):
        raise ValueError(f"no schema {name!r}: results or matrix")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))
