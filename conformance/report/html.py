"""The matrix as one self-contained HTML page: the table people read each morning, with its evidence.

The table, legend and header are rendered server-side by jinja2 with autoescape on. The evidence for
each cell travels as one JSON blob that a little vanilla JS turns into DOM nodes with `textContent`
only, which keeps a 3000-cell page small and every byte a server sent inert.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Sequence
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
from conformance.report.view import Group, Key, StatusStyle

HERE = Path(__file__).parent
BODY_LIMIT = 20_000
EVENT_LIMIT = 200
HEADER_LIMIT = 2_000
TITLE_LIMIT = 200
CHANGE_GLYPHS = {"improved": "▲", "regressed": "▼", "changed": "◆", "added": "+"}
SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 64, 16, 2
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass(frozen=True)
class CellView:
    index: int
    style: StatusStyle
    title: str
    claim: str = ""
    claim_source: str = ""
    drift: bool = False
    flaky: bool = False
    deprecated: str = ""
    change: Change | None = None

    @property
    def change_glyph(self) -> str:
        return CHANGE_GLYPHS.get(self.change.kind, "") if self.change else ""


@dataclass(frozen=True)
class Summary:
    """A group's (or row's) pass count, with the full per-status breakdown for the tooltip."""

    passed: int
    total: int
    breakdown: str

    @property
    def text(self) -> str:
        return f"{self.passed}/{self.total}"


@dataclass(frozen=True)
class Latency:
    """A model's median time to first byte and total time over all its exchanges: one slow model stands out."""

    first_byte_ms: float | None
    total_ms: float | None
    exchanges: int

    @property
    def text(self) -> str:
        return f"first byte {_ms_text(self.first_byte_ms)} · total {_ms_text(self.total_ms)}"

    @property
    def title(self) -> str:
        return f"median over this model's {self.exchanges} exchanges: time to first byte, and total time"


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
    semantic_off: int
    total: int
    semantic_note: str
    summary: Summary
    latency: Latency | None = None
    trend: Trend | None = None
    groups: list[tuple[Group, list[CellView | None], Summary]] = field(default_factory=list)


def render_html(
    matrix: dict[str, Any], baseline: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None
) -> str:
    """One HTML file with everything inlined: it must open from a CI artifact with no network.

    `history` holds past matrices, oldest first; each row then gets a sparkline of its PASS count.
    """
    return _template().render(**_page(matrix, baseline, history or []))


def cell_anchor(provider: str, model: str, probe: str) -> str:
    """The URL fragment that opens a cell's evidence when matrix.html loads (`openFromHash` in matrix.js)."""
    key = json.dumps([provider, model, probe], ensure_ascii=False, separators=(",", ":"))
    return "#cell=" + quote(key, safe="")


@cache
def _template() -> Template:
    env = Environment(
        loader=FileSystemLoader(HERE),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("matrix.html.j2")


@cache
def _asset(name: str) -> Markup:
    """Our own stylesheet and script, inlined verbatim; never server data."""
    return Markup(Path(HERE, name).read_text(encoding="utf-8"))


def _page(matrix: dict[str, Any], baseline: dict[str, Any] | None, history: list[dict[str, Any]]) -> dict[str, Any]:
    grid = view.groups(matrix)
    cells = view.cell_index(matrix)
    keys = view.rows(matrix)
    changes = view.changes(matrix, baseline)
    evidence: list[dict[str, Any]] = []
    rows = [_row(provider, model, grid, cells, changes, evidence) for provider, model in keys]
    if history:
        trends = _trends([*history, matrix])
        for row in rows:
            row.trend = trends.get((row.provider, row.model))
    tally = view.counts(matrix.get("cells", []))
    return {
        "title": "Conformance: " + ", ".join(view.providers(matrix)),
        "header": _header(matrix),
        "vocabulary": [(s, tally.get(s.name, 0)) for s in view.vocabulary(matrix)],
        "groups": [(g, _summary([cells.get((*k, probe["id"])) for k in keys for probe in g.probes])) for g in grid],
        "rows": rows,
        "diff": _diff(changes, baseline),
        "style": view.style,
        "evidence": _script_json({"probes": _probes(grid), "cells": evidence}),
        "css": _asset("matrix.css"),
        "js": _asset("matrix.js"),
    }


def _header(matrix: dict[str, Any]) -> dict[str, Any]:
    providers = view.providers(matrix)
    base_url = str(matrix.get("base_url") or "")
    facts = [
        ("Date", view.when(matrix)),
        ("Mode", str(matrix.get("mode") or "")),
        ("Duration", view.duration(matrix["duration_s"]) if "duration_s" in matrix else ""),
        ("Requests", view.number(matrix.get("requests", ""))),
        ("Tokens", view.number(matrix.get("tokens", ""))),
        ("Suite", str(matrix.get("suite_version") or "")),
    ]
    return {
        "providers": list(providers.items()),
        "endpoint": base_url if base_url and base_url not in providers.values() else "",
        "facts": [(label, value) for label, value in facts if value],
    }


def _row(
    provider: str,
    model: str,
    grid: list[Group],
    cells: dict[Key, dict[str, Any]],
    changes: dict[Key, Change],
    evidence: list[dict[str, Any]],
) -> RowView:
    mine = [c for g in grid for p in g.probes if (c := cells.get((provider, model, p["id"]))) is not None]
    row = RowView(
        provider, model, view.semantic_off(mine), len(mine), view.semantic_note(mine), _summary(mine), _latency(mine)
    )
    for group in grid:
        shown: list[CellView | None] = []
        for probe in group.probes:
            key = (provider, model, probe["id"])
            cell = cells.get(key)
            if cell is None:
                shown.append(None)
                continue
            shown.append(_cell(cell, len(evidence), changes.get(key)))
            evidence.append(_evidence(cell, changes.get(key)))
        row.groups.append((group, shown, _summary([cells.get((provider, model, p["id"])) for p in group.probes])))
    return row


def _latency(cells: list[dict[str, Any]]) -> Latency | None:
    exchanges = [x for c in cells for x in c.get("exchanges") or [] if isinstance(x, dict)]
    first = [v for x in exchanges if (v := _ms(x.get("first_byte_ms"))) is not None]
    total = [v for x in exchanges if (v := _ms(x.get("elapsed_ms"))) is not None]
    if not first and not total:
        return None
    median = statistics.median
    return Latency(median(first) if first else None, median(total) if total else None, len(exchanges))


def _ms_text(value: float | None) -> str:
    """As the evidence panel shows a latency (matrix.js `ms`), so the two never disagree."""
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _trends(runs: list[dict[str, Any]]) -> dict[tuple[str, str], Trend]:
    """One trend per row of the newest run; the ceiling is the row's largest cell count in any run."""
    passes: list[Counter[tuple[str, str]]] = []
    sizes: list[Counter[tuple[str, str]]] = []
    for run in runs:
        cells = [c for c in run.get("cells") or [] if isinstance(c, dict)]
        sizes.append(Counter(view.key_of(c)[:2] for c in cells))
        passes.append(Counter(view.key_of(c)[:2] for c in cells if view.status_of(c) == "PASS"))
    return {
        key: Trend(
            tuple(p[key] if key in size else None for p, size in zip(passes, sizes, strict=False)),
            max(size[key] for size in sizes),
        )
        for key in view.rows(runs[-1])
    }


def _summary(cells: Sequence[dict[str, Any] | None]) -> Summary:
    present = [c for c in cells if c is not None]
    tally = view.counts(present)
    breakdown = " · ".join(f"{view.style(s).glyph} {s} {n}" for s, n in tally.most_common())
    return Summary(tally.get("PASS", 0), len(present), breakdown or "no results")


def _cell(cell: dict[str, Any], index: int, change: Change | None) -> CellView:
    status = view.style(view.status_of(cell))
    reason = _one_line(_first_message(cell) or f"{status.name}: {status.meaning}")
    if change is not None:
        reason += f" (baseline: {change.old or 'absent'}, {change.kind})"
    claim, source = _claim(cell.get("claim"))
    return CellView(
        index=index,
        style=status,
        title=reason,
        claim=claim,
        claim_source=source,
        drift=bool(cell.get("drift")),
        flaky=bool(cell.get("flaky")),
        deprecated=str(cell.get("deprecated") or ""),
        change=change,
    )


def _claim(raw: Any) -> tuple[str, str]:
    """The documented claim and its source; "unknown" is every undocumented cell, so it is not shown."""
    value, source = (raw.get("claim"), raw.get("source")) if isinstance(raw, dict) else (raw, "")
    value = str(value or "")
    return ("", "") if value == "unknown" else (value, str(source or ""))


def _first_message(cell: dict[str, Any]) -> str:
    for finding in cell.get("findings") or []:
        if isinstance(finding, dict) and finding.get("message"):
            return str(finding["message"])
    return ""


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TITLE_LIMIT else flat[: TITLE_LIMIT - 1] + "…"


def _diff(changes: dict[Key, Change], baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    kinds = ("regressed", "improved", "changed", "added", "removed")
    return {
        "when": view.when(baseline),
        "suite": str(baseline.get("suite_version") or ""),
        "kinds": [(kind, [c for c in changes.values() if c.kind == kind]) for kind in kinds],
        "glyphs": CHANGE_GLYPHS,
    }


def _probes(grid: list[Group]) -> dict[str, dict[str, str]]:
    """Probe titles once for the whole page rather than once per cell."""
    return {p["id"]: {"title": p["title"], "feature": g.feature} for g in grid for p in g.probes}


def _evidence(cell: dict[str, Any], change: Change | None) -> dict[str, Any]:
    """Everything the evidence panel shows for one cell, bounded in size, as plain JSON values."""
    provider, model, probe = view.key_of(cell)
    out: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "probe": probe,
        "status": view.status_of(cell),
        "findings": [_finding(f) for f in cell.get("findings") or []],
        "exchanges": [_exchange(x) for x in cell.get("exchanges") or [] if isinstance(x, dict)],
    }
    if cell.get("semantic_checks") is False:
        out["semantic_off"] = True
    for extra in ("claim", "drift", "flaky", "tries", "deprecated", "attempts"):
        if cell.get(extra) not in (None, ""):
            out[extra] = _plain(cell[extra])
    if change is not None:
        out["change"] = {"kind": change.kind, "old": change.old}
    return out


def _finding(finding: Any) -> dict[str, str]:
    if not isinstance(finding, dict):
        return {"rule": "", "level": "", "message": str(finding)}
    return {k: str(finding.get(k, "")) for k in ("rule", "level", "message")}


def _exchange(exchange: dict[str, Any]) -> dict[str, Any]:
    request = exchange.get("request") or {}
    out: dict[str, Any] = {
        "method": str(request.get("method", "")),
        "url": str(request.get("url", "")),
        "request_headers": _headers(request.get("headers")),
        **_body("request_body", request.get("body")),
        "status": _plain(exchange.get("status")),
        "headers": _headers(exchange.get("headers")),
        "elapsed_ms": _ms(exchange.get("elapsed_ms")),
        "first_byte_ms": _ms(exchange.get("first_byte_ms")),
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
    if not isinstance(headers, dict):
        return []
    return [[str(k), _clip(str(v), HEADER_LIMIT)[0]] for k, v in headers.items()]


def _body(name: str, body: Any) -> dict[str, str]:
    """The text to show, pretty-printed when it is JSON, clipped with a `<name>_note` when it is huge."""
    shown, note = _clip(_pretty("" if body is None else str(body)), BODY_LIMIT)
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
        event = event if isinstance(event, dict) else {"data": event}
        data, note = _clip("" if event.get("data") is None else str(event["data"]), budget)
        budget, cut = budget - len(data), cut or note is not None
        shown.append(
            {
                "offset_ms": _ms(event.get("offset_ms")),
                "event": None if event.get("event") is None else str(event["event"]),
                "data": data,
                **{k: str(event[k]) for k in ("id", "retry") if event.get(k) is not None},
            }
        )
    if len(shown) == len(events) and not cut:
        return shown, None
    last = ", the last one cut short" if cut else ""
    return shown, f"truncated: showing {len(shown):,} of {len(events):,} events{last}"


def _ms(value: Any) -> float | None:
    """A latency to show; anything that is not a finite number is shown as unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    """Optional keys of unknown shape, reduced to JSON values (anything odd becomes its text)."""
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except ValueError:
        return str(value)


def _script_json(value: Any) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can close the element, no U+2028/9 can end a line."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in _SCRIPT_UNSAFE.items():
        text = text.replace(char, escaped)
    return Markup(text)
