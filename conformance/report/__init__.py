"""Reports rendered from a matrix: matrix.html with a page per model and per probe, summary.md, junit.xml.

The report layer reads a matrix through `data.read_matrix` alone, so any results directory, however old,
can be re-rendered; the exchanges come from results.jsonl, where they are stored once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.records import SCHEMAS, ExchangeRecord, MatrixCell, ResultLine
from conformance.report.data import MatrixSource, Report, inline_exchanges
from conformance.report.evidence import Exchanges
from conformance.report.html import render_html, write_html
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown

__all__ = ["load_schema", "render_html", "render_junit", "render_markdown", "write_reports"]


def write_reports(
    matrix: MatrixSource,
    out_dir: Path,
    baseline: MatrixSource | None = None,
    history: Sequence[MatrixSource] | None = None,
    records: Iterable[ResultLine] | None = None,
) -> list[Path]:
    """Write matrix.html (with its pages and evidence), summary.md and junit.xml into out_dir.

    `matrix` is the run's `Matrix`, or a matrix.json's contents (read leniently, part by part). `history`
    holds past matrices, oldest first, for the per-model trend. `records` are the results.jsonl
    lines the matrix was built from: the evidence files take the exchanges from them. Without them, a
    matrix that carries its exchanges inline (older runs) still gets its evidence.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    exchanges = None if records is None else _exchanges_by_cell(records)

    def summary(report: Report) -> list[Path]:
        return [_write(out_dir / "summary.md", render_markdown(matrix, baseline, report))]

    def junit(report: Report) -> list[Path]:
        return [_write(out_dir / "junit.xml", render_junit(matrix, report))]

    return write_html(matrix, out_dir, baseline, history, exchanges, also=(summary, junit))


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _exchanges_by_cell(records: Iterable[ResultLine]) -> Exchanges:
    """A cell's exchanges from its record; a later record for the same cell wins, as in the matrix."""
    found = {record.key: record.exchanges for record in records}

    def lookup(cell: MatrixCell) -> Sequence[ExchangeRecord]:
        return found.get(cell.key) or inline_exchanges(cell)

    return lookup


def load_schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema (draft 2020-12): "results" (one results.jsonl line), "matrix", "cassette", "profile",
    "catalog"; each generated from its model in conformance.records."""
    if name not in SCHEMAS:
        raise ValueError(f"no schema {name!r}: {', '.join(SCHEMAS)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))
