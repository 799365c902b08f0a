"""The one place the report layer reads a matrix: plain dicts in, typed, defensive records out.

Every renderer works from a `Report`; none reads matrix keys itself. A matrix may be old, hand-made,
truncated or hostile, so each field is read with a fallback, and a status this version does not know
is kept as its own text. When the matrix becomes a typed model, `read_matrix` is what changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str, str]
Row = tuple[str, str]


@dataclass(frozen=True)
class FindingRecord:
    rule: str
    level: str
    message: str


@dataclass(frozen=True)
class Timing:
    first_byte_ms: float | None
    elapsed_ms: float | None


@dataclass(frozen=True)
class CellRecord:
    provider: str
    model: str
    probe: str
    feature: str
    status: str
    findings: tuple[FindingRecord, ...] = ()
    semantic: bool = True
    claim: str = "unknown"
    claim_source: str = ""
    claim_note: str = ""
    drift: bool = False
    flaky: bool = False
    tries: str = ""
    deprecated: str = ""  # the provider's deprecation redirects (the matrix's `redirected`), as one line
    attempts: Any = None
    timings: tuple[Timing, ...] = ()
    # the exchanges a matrix of an older format carried inline; newer ones keep them in results.jsonl
    exchanges: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> Key:
        return (self.provider, self.model, self.probe)

    @property
    def row(self) -> Row:
        return (self.provider, self.model)

    @property
    def reason(self) -> str:
        """The finding that decided the cell (findings come ordered by what decided the verdict)."""
        return self.findings[0].message if self.findings else ""


@dataclass(frozen=True)
class ProbeRecord:
    id: str
    feature: str
    title: str

    @property
    def short(self) -> str:
        return self.id.removeprefix(self.feature + ".")


@dataclass(frozen=True)
class Report:
    meta: Mapping[str, Any]
    statuses: tuple[str, ...]
    rows: tuple[Row, ...]
    probes: tuple[ProbeRecord, ...]
    cells: Mapping[Key, CellRecord] = field(default_factory=dict)

    def cell(self, provider: str, model: str, probe: str) -> CellRecord | None:
        return self.cells.get((provider, model, probe))

    def row_cells(self, row: Row) -> list[CellRecord]:
        return [c for p in self.probes if (c := self.cells.get((*row, p.id))) is not None]


def read_matrix(matrix: Mapping[str, Any]) -> Report:
    """The matrix as the renderers see it; probes and rows that only a cell names still get their place."""
    cells: dict[Key, CellRecord] = {}
    for raw in _dicts(matrix.get("cells")):
        cell = _cell(raw)
        cells[cell.key] = cell
    probes = {p.id: p for p in (_probe(raw) for raw in _dicts(matrix.get("probes")))}
    for cell in cells.values():
        probes.setdefault(cell.probe, ProbeRecord(cell.probe, cell.feature, cell.probe))
    rows = [(_text(r.get("provider")), _text(r.get("model"))) for r in _dicts(matrix.get("rows"))]
    rows += [c.row for c in cells.values()]
    statuses = [_text(s) for s in matrix.get("statuses") or ()] if isinstance(matrix.get("statuses"), list) else []
    meta = {k: v for k, v in matrix.items() if k not in ("cells", "rows", "probes", "statuses")}
    return Report(meta, tuple(statuses), tuple(dict.fromkeys(rows)), tuple(probes.values()), cells)


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _probe(raw: Mapping[str, Any]) -> ProbeRecord:
    return ProbeRecord(_text(raw.get("id")), _text(raw.get("feature")), _text(raw.get("title")))


def _cell(raw: Mapping[str, Any]) -> CellRecord:
    claim = raw.get("claim")
    if isinstance(claim, Mapping):
        value = _text(claim.get("claim") or "unknown")
        source, note = _text(claim.get("source")), _text(claim.get("note"))
    else:
        value, source, note = _text(claim or "unknown"), "", ""
    exchanges = tuple(x for x in raw.get("exchanges") or () if isinstance(x, Mapping))
    latency = raw.get("latency") if isinstance(raw.get("latency"), list) else exchanges
    tries = raw.get("tries")
    return CellRecord(
        provider=_text(raw.get("provider")),
        model=_text(raw.get("model")),
        probe=_text(raw.get("probe")),
        feature=_text(raw.get("feature")),
        status=_text(raw.get("status") or "NOT RUN"),
        findings=tuple(_finding(f) for f in raw.get("findings") or () if f is not None),
        semantic=raw.get("semantic_checks") is not False,
        claim=value,
        claim_source=source,
        claim_note=note,
        drift=bool(raw.get("drift")),
        flaky=bool(raw.get("flaky")),
        tries="" if tries in (None, "") else _text(tries),
        deprecated="; ".join(_text(r) for r in _list(raw.get("redirected")) if r),
        attempts=raw.get("attempts"),
        timings=tuple(_timing(t) for t in latency or () if isinstance(t, Mapping)),
        exchanges=exchanges,
    )


def _finding(raw: Any) -> FindingRecord:
    if not isinstance(raw, Mapping):
        return FindingRecord("", "", _text(raw))
    return FindingRecord(_text(raw.get("rule")), _text(raw.get("level")), _text(raw.get("message")))


def _timing(raw: Mapping[str, Any]) -> Timing:
    return Timing(ms(raw.get("first_byte_ms")), ms(raw.get("elapsed_ms")))


def ms(value: Any) -> float | None:
    """A latency to show; anything that is not a finite number is unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []
