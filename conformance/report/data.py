"""The one place the report layer reads a matrix: the typed records of `conformance.records`.

A `Matrix` the suite built (or read through `diff.load_matrix`) is typed already and taken as it is. The
contents of a matrix.json handed over as parsed may be old, hand-made, truncated or hostile: its header,
each row, each column and each cell are validated apart, so one bad part costs only itself: a cell that
does not fit `MatrixCell` but says where it belongs is shown as an ERROR cell naming what is wrong,
anything else unreadable is left out and counted in `Report.problems`. A status this version does not
know is kept as its own text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from conformance.evidence import Level, Status
from conformance.records import (
    ExchangeRecord,
    FindingRecord,
    Matrix,
    MatrixCell,
    MatrixHead,
    ProbeRecord,
    RowRecord,
    first_problem,
)

Key = tuple[str, str, str]
Row = tuple[str, str]
UNREADABLE = "report.unreadable"  # the finding of a matrix cell this version could not read
_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class Report:
    head: MatrixHead
    statuses: tuple[str, ...]
    rows: tuple[Row, ...]
    probes: tuple[ProbeRecord, ...]
    cells: Mapping[Key, MatrixCell] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what could not be read, one line each

    def cell(self, provider: str, model: str, probe: str) -> MatrixCell | None:
        return self.cells.get((provider, model, probe))

    def row_cells(self, row: Row) -> list[MatrixCell]:
        return [c for p in self.probes if (c := self.cells.get((*row, p.id))) is not None]


MatrixSource = Matrix | Mapping[str, Any]  # a typed matrix, or a matrix.json's contents as parsed


def read_matrix(matrix: MatrixSource) -> Report:
    """The matrix as the renderers see it; probes and rows that only a cell names still get their place."""
    if isinstance(matrix, Matrix):
        cells = {c.key: c for c in matrix.cells}
        return _report(matrix, matrix.statuses, matrix.rows, matrix.probes, cells, [])
    problems: list[str] = []
    head = _one(MatrixHead, _head_keys(matrix))
    if head is None:
        problems.append("the run's metadata could not be read; it is left out")
        head = MatrixHead()
    cells = {}
    for i, raw in enumerate(_list(matrix.get("cells"))):
        cell = _cell(raw, i, problems)
        if cell is not None:
            cells[cell.key] = cell
    probes = _many(ProbeRecord, matrix.get("probes"), "column", problems)
    rows = _many(RowRecord, matrix.get("rows"), "row", problems)
    statuses = [s for s in _list(matrix.get("statuses")) if isinstance(s, str)]
    return _report(head, statuses, rows, probes, cells, problems)


def _report(
    head: MatrixHead,
    statuses: Sequence[str],
    rows: Sequence[RowRecord],
    columns: Sequence[ProbeRecord],
    cells: dict[Key, MatrixCell],
    problems: Sequence[str],
) -> Report:
    probes = {p.id: p for p in columns}
    for cell in cells.values():
        probes.setdefault(cell.probe, ProbeRecord(id=cell.probe, feature=cell.feature, title=cell.probe))
    places = [(r.provider, r.model) for r in rows] + [c.row for c in cells.values()]
    return Report(head, tuple(statuses), tuple(dict.fromkeys(places)), tuple(probes.values()), cells, tuple(problems))


def _head_keys(matrix: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in matrix.items() if k not in ("statuses", "rows", "probes", "cells")}


def _one(model: type[_Model], raw: Any) -> _Model | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _many(model: type[_Model], raw: Any, what: str, problems: list[str]) -> list[_Model]:
    read = [_one(model, item) for item in _list(raw)]
    if None in read:
        problems.append(f"{read.count(None)} {what}(s) of matrix.json could not be read and are left out")
    return [r for r in read if r is not None]


def _cell(raw: Any, index: int, problems: list[str]) -> MatrixCell | None:
    """The cell, or an ERROR cell saying why it could not be read; None when it does not even say where it goes."""
    try:
        return MatrixCell.model_validate(raw)
    except ValidationError as exc:
        more = f", and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
        problem = first_problem(exc, "cell") + more
    place = [raw.get(k) for k in ("provider", "model", "probe")] if isinstance(raw, Mapping) else []
    provider, model, probe = (v if isinstance(v, str) and v else "" for v in place or ["", "", ""])
    if not (provider and model and probe):
        problems.append(f"cell [{index}] of matrix.json could not be read and is left out ({problem})")
        return None
    feature = raw.get("feature") if isinstance(raw.get("feature"), str) else probe.split(".")[0]
    message = f"this cell of matrix.json could not be read ({problem}); see results.jsonl for its evidence"
    return MatrixCell(
        provider=provider,
        model=model,
        probe=probe,
        feature=feature,
        status=Status.ERROR.value,
        findings=[FindingRecord(rule=UNREADABLE, level=Level.INFO, message=message)],
    )


def inline_exchanges(cell: MatrixCell) -> list[ExchangeRecord]:
    """The exchanges a matrix of an older format carried inline, those that can be read; newer matrices keep
    them in results.jsonl."""
    extra = cell.model_extra or {}
    read = (_one(ExchangeRecord, x) for x in _list(extra.get("exchanges")))
    return [x for x in read if x is not None]


def ms(value: Any) -> float | None:
    """A latency to show; anything that is not a finite number is unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _list(raw: Any) -> Iterable[Any]:
    return raw if isinstance(raw, list) else []
