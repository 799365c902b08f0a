"""Reports rendered from a matrix alone: one HTML page with its evidence, one Markdown summary.

The report layer reads the matrix dict only, so any results directory, however old, can be re-rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.report.html import render_html
from conformance.report.markdown import render_markdown

__all__ = ["render_html", "render_markdown", "write_reports"]


def write_reports(matrix: dict[str, Any], out_dir: Path, baseline: dict[str, Any] | None = None) -> list[Path]:
    """Write matrix.html and summary.md into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {"matrix.html": render_html(matrix, baseline), "summary.md": render_markdown(matrix, baseline)}
    paths = []
    for name, text in pages.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
