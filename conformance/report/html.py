"""The HTML report: a first screen of models x feature groups, a page per model and per probe, evidence on demand.

Pages are rendered server-side by jinja2 with autoescape on. The first screen carries statuses and one-line
reasons only; each row's full evidence is a sidecar script, `evidence/<row>.js`, that the page loads when a
cell opens. A `<script src>` works from `file://`, where `fetch` does not, so a CI artifact opens offline.
The evidence is JSON that a little vanilla JS turns into DOM nodes with `textContent` only, which keeps
every byte a server sent inert.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from conformance import safejson
from conformance.diff import Change
from conformance.report import view
from conformance.report.data import CellRecord, Key, ProbeRecord, Report, Row, ms, read_matrix
from conformance.report.view import Group, Latency, StatusStyle, Verdict

HERE = Path(__file__).parent
BODY_LIMIT = 20_000
EVENT_LIMIT = 200
HEADER_LIMIT = 2_000
CHANGE_GLYPHS = {"improved": "▲", "regressed": "▼", "changed": "◆", "added": "+"}
SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 64, 16, 2
EVIDENCE_CALLBACK = "conformanceEvidence"
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}

Exchanges = Callable[[CellRecord], Sequence[Mapping[str, Any]]]


def _inline(cell: CellRecord) -> Sequence[Mapping[str, Any]]:
    return cell.exchanges


@dataclass(frozen=True)
class ProbeCell:
    """One probe's cell: what the expanded group and the per-model and per-probe pages show."""

    probe: ProbeRecord
    style: StatusStyle
    reason: str
    claim: str = ""
    claim_source: str = ""
    drift: bool = False
    flaky: bool = False
    deprecated: str = ""
    change: Change | None = None
    latency: Latency | None = None
    cell: CellRecord | None = None

    @property
    def change_glyph(self) -> str:
        return CHANGE_GLYPHS.get(self.change.kind, "") if self.change else ""

    @property
    def title(self) -> str:
        text = self.reason
        if self.change is not None:
            text += f" (baseline: {self.change.old or 'absent'}, {self.change.kind})"
        return text


@dataclass(frozen=True)
class Trend:
    """A model's PASS count over past runs and this one, drawn as an inline SVG sparkline.

    A run the model was absent from is a gap in the line, not a zero, so a new model does not look broken.
    """

    passes: tuple[int | None, ...]
    ceiling: int
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT

    def _point(self, i: int, value: int) -> tuple[float, float]:
        span = self.width - 2 * SPARK_PAD
        x = SPARK_PAD + (span * i / (len(self.passes) - 1) if len(self.passes) > 1 else span / 2)
        y = self.height - SPARK_PAD - (self.height - 2 * SPARK_PAD) * value / max(self.ceiling, 1)
        return round(x, 1), round(y, 1)

    @property
    def segments(self) -> list[str]:
        """SVG polyline `points`, one per unbroken run of values."""
        runs: list[list[str]] = [[]]
        for i, value in enumerate(self.passes):
            if value is None:
                runs.append([])
            else:
                runs[-1].append("{},{}".format(*self._point(i, value)))
        return [" ".join(run) for run in runs if run]

    @property
    def last(self) -> tuple[float, float] | None:
        value = self.passes[-1]
        return None if value is None else self._point(len(self.passes) - 1, value)

    @property
    def label(self) -> str:
        shown = ", ".join("–" if v is None else str(v) for v in self.passes)
        return f"PASS cells over the last {len(self.passes)} runs, oldest first: {shown}"


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
    matrix: Mapping[str, Any], baseline: Mapping[str, Any] | None = None, history: list[dict[str, Any]] | None = None
) -> str:
    """The first screen alone, as text; `write_html` writes it with its pages and evidence."""
    site = _Site(read_matrix(matrix), view.changes(matrix, baseline), baseline, history or [])
    return site.index()


def write_html(
    matrix: Mapping[str, Any],
    out_dir: Path,
    baseline: Mapping[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    exchanges: Exchanges | None = None,
) -> list[Path]:
    """matrix.html, a page per model and per probe, and one evidence script per row; returns what it wrote.

    `exchanges` gives a cell's recorded exchanges (from results.jsonl); by default, those the matrix carries.
    """
    site = _Site(read_matrix(matrix), view.changes(matrix, baseline), baseline, history or [])
    written = [_write(out_dir / "matrix.html", site.index())]
    for row in site.rows:
        written.append(_write(out_dir / row.page, site.model_page(row)))
        written.append(_write(out_dir / row.evidence, site.evidence_script(row, exchanges or _inline)))
    for group in site.grid:
        for probe in group.probes:
            written.append(_write(out_dir / probe_page(probe.id), site.probe_page(group, probe)))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def slug(*parts: str) -> str:
    """A file name for any id: readable, and unique because a digest of the exact parts ends it."""
    readable = "-".join("".join(c if c.isalnum() or c in "-_." else "_" for c in p)[:60] for p in parts)
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable.lstrip('.') or '_'}-{digest}"


def model_page(provider: str, model: str) -> str:
    return f"models/{slug(provider, model)}.html"


def probe_page(probe: str) -> str:
    return f"probes/{slug(probe)}.html"


def evidence_script(provider: str, model: str) -> str:
    return f"evidence/{slug(provider, model)}.js"


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
    return env.get_template(name)


@cache
def _asset(name: str) -> Markup:
    """Our own stylesheet and script, inlined verbatim; never server data."""
    return Markup(Path(HERE, name).read_text(encoding="utf-8"))


class _Site:
    """Everything the pages share, worked out once: the grid, each row's verdicts, the changes."""

    def __init__(
        self,
        report: Report,
        changes: dict[Key, Change],
        baseline: Mapping[str, Any] | None,
        history: list[dict[str, Any]],
    ) -> None:
        self.report, self.changes, self.baseline = report, changes, baseline
        self.grid = view.groups(report)
        self.rows = [self._row(row) for row in report.rows]
        if history:
            trends = _trends([read_matrix(h) for h in history] + [report])
            for row in self.rows:
                row.trend = trends.get((row.provider, row.model))

    def _row(self, key: Row) -> RowView:
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
            page=model_page(provider, model),
            evidence=evidence_script(provider, model),
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

    def _probe_cell(self, cell: CellRecord | None, probe: ProbeRecord) -> ProbeCell | None:
        if cell is None:
            return None
        status = view.style(cell.status)
        claim = "" if cell.claim == "unknown" else cell.claim
        return ProbeCell(
            probe=probe,
            style=status,
            reason=view.one_line(cell.reason or f"{status.name}: {status.meaning}"),
            claim=claim,
            claim_source=cell.claim_source if claim else "",
            drift=cell.drift,
            flaky=cell.flaky,
            deprecated=cell.deprecated,
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
            meta=_script_json(
                {"callback": EVIDENCE_CALLBACK, "probes": {p.id: [p.title, p.feature] for p in self.report.probes}}
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
        """One row's evidence as a script that hands it to the page: `conformanceEvidence({...});`."""
        cells = [
            _evidence(c.cell, exchanges(c.cell), c.change)
            for _, _, shown in row.groups
            for c in shown
            if c is not None and c.cell is not None
        ]
        data = {"provider": row.provider, "model": row.model, "cells": cells}
        return f"{EVIDENCE_CALLBACK}({_script_json(data)});\n"


def _header(report: Report, providers: dict[str, str]) -> dict[str, Any]:
    meta = report.meta
    base_url = str(meta.get("base_url") or "")
    facts = [
        ("Date", view.when(meta)),
        ("Mode", str(meta.get("mode") or "")),
        ("Duration", view.duration(meta["duration_s"]) if "duration_s" in meta else ""),
        ("Requests", view.number(meta.get("requests", ""))),
        ("Tokens", view.number(meta.get("tokens", ""))),
        ("Models", view.number(len(report.rows))),
        ("Cells", view.number(len(report.cells))),
        ("Suite", str(meta.get("suite_version") or "")),
    ]
    return {
        "providers": list(providers.items()),
        "endpoint": base_url if base_url and base_url not in providers.values() else "",
        "facts": [(label, value) for label, value in facts if value],
    }


def _trends(runs: list[Report]) -> dict[Row, Trend]:
    """One trend per row of the newest run; the ceiling is the row's largest cell count in any run."""
    passes: list[Counter[Row]] = []
    sizes: list[Counter[Row]] = []
    for run in runs:
        sizes.append(Counter(c.row for c in run.cells.values()))
        passes.append(Counter(c.row for c in run.cells.values() if c.status == "PASS"))
    return {
        key: Trend(
            tuple(p[key] if key in size else None for p, size in zip(passes, sizes, strict=False)),
            max(size[key] for size in sizes),
        )
        for key in runs[-1].rows
    }


def _diff(changes: dict[Key, Change], baseline: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    kinds = ("regressed", "improved", "changed", "added", "removed")
    return {
        "when": view.when(baseline),
        "suite": str(baseline.get("suite_version") or ""),
        "kinds": [(kind, [c for c in changes.values() if c.kind == kind]) for kind in kinds],
        "glyphs": CHANGE_GLYPHS,
    }


def _evidence(cell: CellRecord, exchanges: Sequence[Mapping[str, Any]], change: Change | None) -> dict[str, Any]:
    """Everything the evidence panel shows for one cell, bounded in size, as plain JSON values."""
    out: dict[str, Any] = {
        "probe": cell.probe,
        "status": cell.status,
        "findings": [{"rule": f.rule, "level": f.level, "message": f.message} for f in cell.findings],
        "exchanges": [_exchange(x) for x in exchanges if isinstance(x, Mapping)],
    }
    if not cell.semantic:
        out["semantic_off"] = True
    if cell.claim != "unknown":
        out["claim"] = {"claim": cell.claim, "source": cell.claim_source, "note": cell.claim_note}
    extras = {"drift": cell.drift, "flaky": cell.flaky, "tries": cell.tries, "deprecated": cell.deprecated}
    out.update({k: v for k, v in extras.items() if v})
    if cell.attempts is not None:
        out["attempts"] = _plain(cell.attempts)
    if change is not None:
        out["change"] = {"kind": change.kind, "old": change.old}
    return out


def _exchange(exchange: Mapping[str, Any]) -> dict[str, Any]:
    request = exchange.get("request") if isinstance(exchange.get("request"), Mapping) else {}
    assert isinstance(request, Mapping)
    out: dict[str, Any] = {
        "method": str(request.get("method", "")),
        "url": str(request.get("url", "")),
        "request_headers": _headers(request.get("headers")),
        **_body("request_body", request.get("body"), request.get("body_length")),
        "status": _plain(exchange.get("status")),
        "headers": _headers(exchange.get("headers")),
        "elapsed_ms": ms(exchange.get("elapsed_ms")),
        "first_byte_ms": ms(exchange.get("first_byte_ms")),
    }
    if exchange.get("error") is not None:
        out["error"] = str(exchange["error"])
    if isinstance(exchange.get("events"), list):
        out["events"], note = _events(exchange["events"])
        out.update({"events_note": note} if note else {})
    else:
        out.update(_body("body", exchange.get("body")))
    return out


def _headers(headers: Any) -> list[list[str]]:
    if not isinstance(headers, Mapping):
        return []
    return [[str(k), _clip(str(v), HEADER_LIMIT)[0]] for k, v in headers.items()]


def _body(name: str, body: Any, length: Any = None) -> dict[str, str]:
    """The text to show, pretty-printed when it is JSON, clipped with a `<name>_note` when it is huge."""
    text = "" if body is None else str(body)
    shown, note = _clip(_pretty(text), BODY_LIMIT)
    if isinstance(length, int) and not isinstance(length, bool) and length > len(text):
        note = f"truncated: showing the first {len(shown):,} of {length:,} characters (the cassette has all of them)"
    return {name: shown, f"{name}_note": note} if note else {name: shown}


def _pretty(text: str) -> str:
    """Re-indent a JSON object or array, keeping every token as sent; other text is shown as is."""
    if len(text) > BODY_LIMIT or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        safejson.loads(text)
    except ValueError:
        return text
    return _reindent(_TOKEN.findall(text))


def _reindent(tokens: list[str]) -> str:
    """Layout only: a re-dump would turn 1.0e2 into 100.0 and merge duplicate keys, which is evidence."""
    out: list[str] = []
    depth = 0
    for i, token in enumerate(tokens):
        if token in ("}", "]"):
            depth -= 1
            if tokens[i - 1] not in ("{", "["):
                out.append("\n" + "  " * depth)
        out.append(token)
        if token in ("{", "["):
            depth += 1
            if tokens[i + 1] not in ("}", "]"):
                out.append("\n" + "  " * depth)
        elif token == ",":
            out.append("\n" + "  " * depth)
        elif token == ":":
            out.append(" ")
    return "".join(out)


def _clip(text: str, limit: int) -> tuple[str, str | None]:
    if len(text) <= limit:
        return text, None
    return text[:limit], f"truncated: showing the first {limit:,} of {len(text):,} characters"


def _events(events: list[Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The first events up to EVENT_LIMIT or BODY_LIMIT characters of data, whichever comes first."""
    shown: list[dict[str, Any]] = []
    budget, cut = BODY_LIMIT, False
    for event in events[:EVENT_LIMIT]:
        if budget <= 0:
            break
        event = event if isinstance(event, Mapping) else {"data": event}
        data, note = _clip("" if event.get("data") is None else str(event["data"]), budget)
        budget, cut = budget - len(data), cut or note is not None
        shown.append(
            {
                "offset_ms": ms(event.get("offset_ms")),
                "event": None if event.get("event") is None else str(event["event"]),
                "data": data,
                **{k: str(event[k]) for k in ("id", "retry") if event.get(k) is not None},
            }
        )
    if len(shown) == len(events) and not cut:
        return shown, None
    last = ", the last one cut short" if cut else ""
    return shown, f"truncated: showing {len(shown):,} of {len(events):,} events{last}"


def _plain(value: Any) -> Any:
    """Optional keys of unknown shape, reduced to JSON values (anything odd becomes its text)."""
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:
        return str(value)


def _script_json(value: Any) -> Markup:
    """JSON safe inside <script> and as a script file: nothing can close the element or end a line early."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in _SCRIPT_UNSAFE.items():
        text = text.replace(char, escaped)
    return Markup(text)
