"""The HTML report: a first screen of models x feature groups, a page per model and per probe, evidence on demand.

Pages are rendered server-side by jinja2 with autoescape on. The first screen carries statuses and one-line
reasons only; each row's full evidence is a sidecar script, `evidence/<row>.js`, that the page loads when a
cell opens. A `<script src>` works from `file://`, where `fetch` does not, so a CI artifact opens offline.
What a cell's evidence holds is `evidence`; the sparklines beside the rows are `trend`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from conformance import pool
from conformance.diff import Change
from conformance.records import MatrixCell, ProbeRecord
from conformance.report import view
from conformance.report.data import Key, MatrixSource, Report, Row, read_matrix
from conformance.report.evidence import EVIDENCE_CALLBACK, Exchanges, cell_evidence, inline, packed, script_json
from conformance.report.trend import Trend, trends
from conformance.report.view import Group, Latency, StatusStyle, Verdict

HERE = Path(__file__).parent


CHANGE_GLYPHS = {"improved": "▲", "regressed": "▼", "changed": "◆", "added": "+"}
# Rows listed per kind of change; the counts stay whole. A baseline of another catalog named 100,000
# removed cells, one row each: 22 MB of a two-model page. `conformance diff` lists every change.
MAX_CHANGES = 1000
# Where a status name in a narrow probe column may break: at a syllable, with a hyphen shown only if it does
SOFT_HYPHENS = {"UNSUPPORTED": "UNSUP\u00adPORTED", "ACCEPTED": "ACCEPT\u00adED", "IGNORED": "IGNOR\u00adED"}


@dataclass(frozen=True)
class ProbeCell:
    """One probe's cell: what the expanded group and the per-model and per-probe pages show."""

    probe: ProbeRecord
    style: StatusStyle
    reason: str  # why a cell is not green; a green cell has none
    note: str = ""  # a green cell's first finding: an INFO note, never its reason
    claim: str = ""
    claim_source: str = ""
    drift: bool = False
    flaky: bool = False
    deprecated: str = ""
    change: Change | None = None
    latency: Latency | None = None
    cell: MatrixCell | None = None

    @property
    def change_glyph(self) -> str:
        return CHANGE_GLYPHS.get(self.change.kind, "") if self.change else ""

    @property
    def title(self) -> str:
        text = self.reason or (f"note: {self.note}" if self.note else "")
        if self.change is not None:
            text += f" (baseline: {self.change.old or 'absent'}, {self.change.kind})"
        return text.strip()


@dataclass
class RowView:
    provider: str
    model: str
    page: str  # the model's own page, relative to the report root
    evidence: str  # the row's evidence sidecar, relative to the report root
    semantic_off: int
    total: int
    semantic_note: str
    working: int
    decided: int
    score: float  # share of decided probes that work, for sorting
    drift: int
    latency: Latency | None = None
    trend: Trend | None = None
    groups: list[tuple[Group, Verdict, list[ProbeCell | None]]] = field(default_factory=list)

    @property
    def key(self) -> Row:
        return (self.provider, self.model)


def render_html(
    matrix: MatrixSource, baseline: MatrixSource | None = None, history: Sequence[MatrixSource] | None = None
) -> str:
    """The first screen alone, as text; `write_html` writes it with its pages and evidence."""
    return _Site(read_matrix(matrix), baseline, history or []).index()


def write_html(
    matrix: MatrixSource,
    out_dir: Path,
    baseline: MatrixSource | None = None,
    history: Sequence[MatrixSource] | None = None,
    exchanges: Exchanges | None = None,
    also: Sequence[Callable[[Report], list[Path]]] = (),
) -> list[Path]:
    """matrix.html, a page per model and per probe, and one evidence script per row; returns what it wrote.

    `exchanges` gives a cell's recorded exchanges (from results.jsonl); by default, those the matrix carries.
    A catalog's pages are written by forked workers, on every core, and so are the files `also` writes
    (each given the matrix as read here, once).
    """
    site = _Site(read_matrix(matrix), baseline, history or [])
    probes = [(group, probe) for group in site.grid for probe in group.probes]
    warm()  # compiled once here, before any fork, rather than in each worker

    def pages(task: int) -> list[Path]:
        """Task 0 is the first screen; 1..rows a model's page and evidence; then each probe's page; then `also`."""
        if task == 0:
            return [_write(out_dir / "matrix.html", site.index())]
        if task <= len(site.rows):
            row = site.rows[task - 1]
            return [
                _write(out_dir / row.page, site.model_page(row)),
                _write(out_dir / row.evidence, site.evidence_script(row, exchanges or inline)),
            ]
        if task <= len(site.rows) + len(probes):
            group, probe = probes[task - 1 - len(site.rows)]
            return [_write(out_dir / probe_page(probe.id), site.probe_page(group, probe))]
        return also[task - 1 - len(site.rows) - len(probes)](site.report)

    count = 1 + len(site.rows) + len(probes) + len(also)
    # `also` first: junit.xml is the largest task by far, and last it left one worker to end the render alone
    order = [*range(count - len(also), count), *range(count - len(also))]
    workers = pool.processes(len(site.rows), len(site.report.cells))
    written = dict(zip(order, pool.in_order(pages, order, workers), strict=True))
    return [path for task in range(count) for path in written[task]]


def warm() -> None:
    """Compile the page templates (a tenth of a second each); a live run does it while it waits for answers."""
    for name in ("matrix.html.j2", "model.html.j2", "probe.html.j2"):
        _template(name)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def slug(*parts: str, digits: int = 8) -> str:
    """A file name for any id: readable, and told apart by a digest of the exact parts that ends it."""
    readable = "-".join("".join(c if c.isalnum() or c in "-_." else "_" for c in p)[:60] for p in parts)
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:digits]
    return f"{readable.lstrip('.-') or '_'}-{digest}"  # no name a shell reads as an option, or hides


def row_stems(rows: Sequence[Row]) -> dict[Row, str]:
    """Each row's file-name stem, its slug; where two rows' slugs meet (eight hex digits do, for ids a hostile
    catalog picks, in some 2^16 tries), even in case alone (a file system may ignore it), those rows take the
    whole digest, so that no model's page or evidence overwrites another's."""
    short = {row: slug(*row) for row in rows}
    taken = Counter(stem.casefold() for stem in short.values())
    return {row: stem if taken[stem.casefold()] == 1 else slug(*row, digits=64) for row, stem in short.items()}


def model_page(stem: str) -> str:
    return f"models/{stem}.html"


def probe_page(probe: str) -> str:
    return f"probes/{slug(probe)}.html"


def evidence_script(stem: str) -> str:
    return f"evidence/{stem}.js"


def cell_anchor(provider: str, model: str, probe: str) -> str:
    """The URL fragment that opens a cell's evidence when matrix.html loads (`openFromHash` in matrix.js)."""
    key = json.dumps([provider, model, probe], ensure_ascii=False, separators=(",", ":"))
    return "#cell=" + quote(key, safe="")


@cache
def _template(name: str) -> Template:
    env = Environment(
        loader=FileSystemLoader(HERE),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.globals["anchor"] = cell_anchor
    env.filters["inline_code"] = inline_code
    env.filters["plain_code"] = plain_code
    env.filters["breakable"] = breakable
    return env.get_template(name)


def inline_code(text: str) -> Markup:
    """A title's `spans` as <code>, as its Markdown means them; every part is escaped, so no markup gets through.

    An odd number of backticks pairs nothing: the text is shown as written.
    """
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return escape(text)
    return Markup("").join(Markup("<code>%s</code>") % p if i % 2 else escape(p) for i, p in enumerate(parts))


def breakable(status: str) -> str:
    """A status name as a narrow probe column shows it: long ones may break at a syllable, hyphenated."""
    return SOFT_HYPHENS.get(status, status)


def plain_code(text: str) -> str:
    """The same text where no markup is allowed (a `title` attribute): what `inline_code` marks, unmarked."""
    return inline_code(text).striptags()


@cache
def _asset(name: str) -> Markup:
    """Our own stylesheet and script, inlined verbatim; never server data."""
    return Markup(Path(HERE, name).read_text(encoding="utf-8"))


class _Site:
    """Everything the pages share, worked out once: the grid, each row's verdicts, the changes."""

    def __init__(self, report: Report, baseline: MatrixSource | None, history: Sequence[MatrixSource]) -> None:
        self.report = report
        self.baseline = None if baseline is None else read_matrix(baseline)
        self.changes = view.changes(report, self.baseline)
        self.grid = view.groups(report)
        stems = row_stems(report.rows)
        self.rows = [self._row(row, stems[row]) for row in report.rows]
        if history:
            by_row = trends([read_matrix(h) for h in history] + [report])
            for row in self.rows:
                row.trend = by_row.get((row.provider, row.model))

    def _row(self, key: Row, stem: str) -> RowView:
        provider, model = key
        mine = self.report.row_cells(key)
        groups = []
        working = decided = 0
        for group in self.grid:
            cells = view.group_cells(self.report, key, group)
            verdict = view.verdict(cells)
            working, decided = working + verdict.working, decided + verdict.decided
            shown = [self._probe_cell(self.report.cell(provider, model, p.id), p) for p in group.probes]
            groups.append((group, verdict, shown))
        return RowView(
            provider=provider,
            model=model,
            page=model_page(stem),
            evidence=evidence_script(stem),
            semantic_off=view.semantic_off(mine),
            total=len(mine),
            semantic_note=view.semantic_note(mine),
            working=working,
            decided=decided,
            score=round(working / decided, 4) if decided else -1.0,
            drift=sum(1 for c in mine if c.drift),
            latency=view.latency(mine),
            groups=groups,
        )

    def _probe_cell(self, cell: MatrixCell | None, probe: ProbeRecord) -> ProbeCell | None:
        if cell is None:
            return None
        status = view.style(cell.status)
        claim = "" if cell.claim.claim == "unknown" else cell.claim.claim
        clean = cell.status in view.CLEAN
        return ProbeCell(
            probe=probe,
            style=status,
            reason="" if clean else view.one_line(cell.reason or f"{status.name}: {status.meaning}"),
            note=view.one_line(cell.reason) if clean else "",
            claim=claim,
            claim_source=cell.claim.source if claim else "",
            drift=cell.drift,
            flaky=bool(cell.flaky),
            deprecated="; ".join(cell.redirected),
            change=self.changes.get(cell.key),
            latency=view.latency([cell]),
            cell=cell,
        )

    def _common(self, root: str) -> dict[str, Any]:
        providers = view.providers(self.report)
        return {
            "root": root,
            "style": view.style,
            "css": _asset("matrix.css"),
            "title": "Conformance: " + ", ".join(providers),
            "header": _header(self.report, providers),
            "probe_page": probe_page,
        }

    def index(self) -> str:
        tally = view.counts(self.report.cells.values())
        verdicts = Counter(v.capability.name for row in self.rows for _, v, _ in row.groups)
        return _template("matrix.html.j2").render(
            **self._common(""),
            capabilities=[(c, verdicts.get(c.name, 0)) for c in view.CAPABILITIES.values()],
            vocabulary=[(s, tally.get(s.name, 0)) for s in view.vocabulary(self.report)],
            grid=self.grid,
            rows=self.rows,
            diff=_diff(self.changes, self.baseline),
            meta=script_json(
                {
                    "callback": EVIDENCE_CALLBACK,
                    "clean": sorted(view.CLEAN),  # a cell of these statuses has notes, not a reason
                    "probes": {p.id: [p.title, p.feature, probe_page(p.id)] for p in self.report.probes},
                }
            ),
            js=_asset("matrix.js"),
        )

    def model_page(self, row: RowView) -> str:
        return _template("model.html.j2").render(**self._common("../"), row=row)

    def probe_page(self, group: Group, probe: ProbeRecord) -> str:
        cells = [(row, self._probe_cell(self.report.cell(*row.key, probe.id), probe)) for row in self.rows]
        shown = [(row, c) for row, c in cells if c is not None]
        tally = Counter(c.style.name for _, c in shown)
        return _template("probe.html.j2").render(
            **self._common("../"),
            probe=probe,
            group=group,
            cells=shown,
            tally=[(view.style(s), n) for s, n in tally.most_common()],
        )

    def evidence_script(self, row: RowView, exchanges: Exchanges) -> str:
        """One row's evidence as a script that hands it to the page: `conformanceEvidence({provider, model,
        cells})`, its cells `packed`.

        A cell's title is there too when it has code spans, which its `title` attribute shows as plain text.
        """
        cells = [
            cell_evidence(c.cell, exchanges(c.cell), c.change)
            | ({"title": c.title} if plain_code(c.title) != c.title else {})
            for _, _, shown in row.groups
            for c in shown
            if c is not None and c.cell is not None
        ]
        data = {"provider": row.provider, "model": row.model, "cells": packed(cells)}
        return f"{EVIDENCE_CALLBACK}({script_json(data)});\n"


def _header(report: Report, providers: dict[str, str]) -> dict[str, Any]:
    head = report.head
    base_url = str((head.model_extra or {}).get("base_url") or "")
    facts = [
        ("Date", view.when(head)),
        ("Mode", head.mode or ""),
        ("Duration", "" if head.duration_s is None else view.duration(head.duration_s)),
        ("Requests", "" if head.requests is None else view.number(head.requests)),
        ("Tokens", "" if head.tokens is None else view.number(head.tokens)),
        ("Models", view.number(len(report.rows))),
        ("Cells", view.number(len(report.cells))),
        ("Suite", head.suite_version),
        ("Unreadable", "; ".join(report.problems)),
    ]
    return {
        "providers": list(providers.items()),
        "endpoint": base_url if base_url and base_url not in providers.values() else "",
        "facts": [(label, value) for label, value in facts if value],
    }


def _diff(changes: dict[Key, Change], baseline: Report | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    kinds = ("regressed", "improved", "changed", "added", "removed")
    by_kind = [(kind, [c for c in changes.values() if c.kind == kind]) for kind in kinds]
    head = baseline.head
    return {
        "when": view.when(head),
        "suite": head.suite_version,
        "kinds": [(kind, listed[:MAX_CHANGES], len(listed)) for kind, listed in by_kind],
        "glyphs": CHANGE_GLYPHS,
    }
