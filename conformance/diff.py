"""Compare two matrices cell by cell: what improved, regressed, changed, appeared or went away.

A cell's status is ranked by how useful it is to a client. UNSUPPORTED staying UNSUPPORTED is not a
regression (a known gap); a cell going from PASS to UNSUPPORTED is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from conformance import safejson
from conformance.evidence import STATUSES
from conformance.paths import DATA_FILE_BYTES, local_text
from conformance.records import Matrix, MatrixCell, first_problem

RANK = {s.value: i.rank for s, i in STATUSES.items() if i.rank is not None}
NEUTRAL = {s.value for s, i in STATUSES.items() if i.rank is None}

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Change:
    key: Key
    old: str | None
    new: str | None
    kind: str  # improved | regressed | changed | added | removed

    def to_json(self) -> dict[str, Any]:
        provider, model, probe = self.key
        return {
            "provider": provider,
            "model": model,
            "probe": probe,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
        }


def classify(old: str | None, new: str | None) -> str | None:
    """The kind of change between two statuses of one cell, or None when it did not change."""
    if old == new:
        return None
    if old is None or old in NEUTRAL:
        return "added"
    if new is None or new in NEUTRAL:
        return "removed"
    if old not in RANK or new not in RANK:
        return "changed"
    return "improved" if RANK[new] < RANK[old] else "regressed"


def cell_statuses(cells: Iterable[MatrixCell]) -> dict[Key, str]:
    return {c.key: c.status for c in cells}


def diff(old: Iterable[MatrixCell], new: Iterable[MatrixCell]) -> list[Change]:
    """Each cell whose status changed between two runs' cells."""
    before, after = cell_statuses(old), cell_statuses(new)
    changes = []
    for key in sorted(before.keys() | after.keys()):
        kind = classify(before.get(key), after.get(key))
        if kind is not None:
            changes.append(Change(key, before.get(key), after.get(key), kind))
    return changes


def load_matrix(path: Path) -> Matrix:
    """A matrix.json, or a results directory holding one, validated: a baseline or a history file is compared
    cell by cell, and a part of the wrong shape must be its file's one-line error, not a crash."""
    file = path / "matrix.json" if path.is_dir() else path
    try:
        data = safejson.loads(local_text(file, DATA_FILE_BYTES))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: cannot read a matrix ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"{file}: not a matrix (expected an object with a 'cells' list)")
    cells = [_cell(file, number, cell) for number, cell in enumerate(data["cells"], 1)]
    try:
        rest = Matrix.model_validate({**data, "cells": []})
    except ValidationError as exc:
        raise ValueError(f"{file}: not a matrix ({first_problem(exc, 'the matrix')})") from None
    return rest.model_copy(update={"cells": cells})


def _cell(file: Path, number: int, raw: Any) -> MatrixCell:
    """A cell read through the matrix's format, older forms brought up to date."""
    try:
        return MatrixCell.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{file}: cell {number} is not a matrix cell ({first_problem(exc, 'the cell')})") from None


def exit_status(changes: list[Change], new: Iterable[MatrixCell]) -> int:
    """0 when nothing regressed; 1 on a regression; 2 when the harness newly could not judge a cell.

    A harness error is an ERROR cell with a `harness.*` finding (transport, rate limit, cassette,
    key); one the baseline already had (a server that always hangs on a probe) is known, not new.
    """
    if any(c.kind == "regressed" for c in changes):
        return 1
    changed = {c.key for c in changes}
    for cell in new:
        harness = any(f.rule.startswith("harness.") for f in cell.findings)
        if cell.status == "ERROR" and harness and cell.key in changed:
            return 2
    return 0


def render_text(changes: list[Change]) -> str:
    if not changes:
        return "no change"
    return "\n".join(f"{c.kind:9s} {' '.join(c.key)}: {c.old or '-'} -> {c.new or '-'}" for c in changes)
