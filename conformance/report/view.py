"""What both renderers share: the status vocabulary's look, the probe groups and the baseline changes.

Kept apart from the renderers so the HTML page and the Markdown summary can never disagree on a
glyph, a meaning or what counts as a regression.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conformance.diff import Change, diff
from conformance.evidence import STATUSES

Key = tuple[str, str, str]


@dataclass(frozen=True)
class StatusStyle:
    """How one status is shown: a glyph and its text always travel together, colour only helps."""

    name: str
    glyph: str
    slug: str
    meaning: str
    known: bool = True


KNOWN: dict[str, StatusStyle] = {s.value: StatusStyle(s.value, i.glyph, i.slug, i.meaning) for s, i in STATUSES.items()}


def style(status: str) -> StatusStyle:
    """A status this version does not know is still shown, as its own text in a neutral style."""
    return KNOWN.get(status) or StatusStyle(status, "?", "unknown", "a status this report does not know", known=False)


def vocabulary(matrix: dict[str, Any]) -> list[StatusStyle]:
    """The matrix's own status order, then any unknown status its cells use, in order of appearance."""
    names = [str(s) for s in matrix.get("statuses") or KNOWN]
    names += [status_of(c) for c in matrix.get("cells", [])]
    return [style(n) for n in dict.fromkeys(names)]


def status_of(cell: dict[str, Any]) -> str:
    return str(cell.get("status", "NOT RUN"))


def key_of(cell: dict[str, Any]) -> Key:
    return (str(cell.get("provider", "")), str(cell.get("model", "")), str(cell.get("probe", "")))


@dataclass(frozen=True)
class Group:
    """A feature group: its probes are contiguous columns under one header."""

    index: int
    feature: str
    probes: list[dict[str, str]]


def groups(matrix: dict[str, Any]) -> list[Group]:
    """Probes grouped by feature, groups in order of first appearance, probes in matrix order.

    A probe that only a cell names (a hand-made or truncated matrix) still gets its column.
    """
    listed = [
        {"id": str(p.get("id", "")), "feature": str(p.get("feature", "")), "title": str(p.get("title", ""))}
        for p in matrix.get("probes", [])
    ]
    known = {p["id"] for p in listed}
    for cell in matrix.get("cells", []):
        probe = key_of(cell)[2]
        if probe not in known:
            known.add(probe)
            listed.append({"id": probe, "feature": str(cell.get("feature", "")), "title": probe})
    by_feature: dict[str, list[dict[str, str]]] = {}
    for entry in listed:
        short = entry["id"].removeprefix(entry["feature"] + ".")
        by_feature.setdefault(entry["feature"], []).append({**entry, "short": short})
    return [Group(i, feature, probes) for i, (feature, probes) in enumerate(by_feature.items())]


def rows(matrix: dict[str, Any]) -> list[tuple[str, str]]:
    listed = [(str(r.get("provider", "")), str(r.get("model", ""))) for r in matrix.get("rows", [])]
    return list(dict.fromkeys(listed + [key_of(c)[:2] for c in matrix.get("cells", [])]))


def cell_index(matrix: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {key_of(c): c for c in matrix.get("cells", [])}


def counts(cells: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(status_of(c) for c in cells)


def semantic_off(cells: Iterable[dict[str, Any]]) -> int:
    """How many of a row's cells ran without semantic checks (answers were not judged on meaning)."""
    return sum(1 for c in cells if c.get("semantic_checks") is False)


def semantic_note(cells: list[dict[str, Any]]) -> str:
    """A row's badge text: empty when every cell was judged on meaning, else how many were not."""
    off = semantic_off(cells)
    if not off:
        return ""
    return "semantic checks off" if off == len(cells) else f"semantic checks off in {off} of {len(cells)}"


def changes(matrix: dict[str, Any], baseline: dict[str, Any] | None) -> dict[Key, Change]:
    if baseline is None:
        return {}
    return {c.key: c for c in diff(baseline, matrix)}


def providers(matrix: dict[str, Any]) -> dict[str, str]:
    """Provider name to endpoint, from whichever form of run metadata the matrix carries."""
    found: dict[str, str] = {}
    listed = matrix.get("providers")
    if isinstance(listed, dict):
        found.update({str(k): str(v or "") for k, v in listed.items()})
    if matrix.get("provider"):
        found.setdefault(str(matrix["provider"]), "")
    for provider, _ in rows(matrix):
        found.setdefault(provider, "")
    if len(found) == 1 and matrix.get("base_url"):
        found = {name: url or str(matrix["base_url"]) for name, url in found.items()}
    return found


def when(matrix: dict[str, Any]) -> str:
    raw = matrix.get("generated_at") or matrix.get("started_at")
    if not raw:
        return ""
    try:
        stamp = datetime.fromisoformat(str(raw))
    except ValueError:
        return str(raw)
    offset = stamp.utcoffset()
    zone = "" if offset is None else " UTC" if not offset else stamp.strftime(" %z")
    return stamp.strftime("%Y-%m-%d %H:%M") + zone


def duration(seconds: Any) -> str:
    try:
        total = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if not math.isfinite(total):
        return str(seconds)
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(round(total), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
