"""The matrix as compact Markdown for $GITHUB_STEP_SUMMARY: which model can do what, why not, what changed.

Every string that came from a server, a model catalog or a config is escaped so it renders as the
literal text it is: no table breakout, no HTML, no links, no code spans, no math.
"""

from __future__ import annotations

from typing import Any

from conformance.diff import Change
from conformance.report import view
from conformance.report.data import MatrixSource, Report, read_matrix

REASONS_PER_MODEL = 3
LIST_LIMIT = 50
WHY_LIMIT = 160
_BREAKS = dict.fromkeys("\r\n\t\x0b\x0c\x85\u2028\u2029", " ")
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        **{c: "\\" + c for c in "\\`*_[]|~#$"},
        **_BREAKS,
    }
)


def escape(text: Any) -> str:
    """Inline text made inert inside a Markdown table cell or list item."""
    return "".join(c if c.isprintable() or c == " " else " " for c in str(text).translate(_ESCAPES))


def render_markdown(matrix: MatrixSource, baseline: MatrixSource | None = None, report: Report | None = None) -> str:
    """summary.md; `report` is the matrix already read, when the caller has it."""
    report = report if report is not None else read_matrix(matrix)
    lines = [_title(report), "", _facts(report), "", *_table(report), "", _legend(), ""]
    lines += [*_reasons(report), "", _totals(report)]
    if baseline is not None:
        lines += ["", *_changes(report, read_matrix(baseline))]
    return "\n".join(lines) + "\n"


def _title(report: Report) -> str:
    return "## Responses API conformance: " + (", ".join(escape(p) for p in view.providers(report)) or "no provider")


def _facts(report: Report) -> str:
    head = report.head
    facts = [
        view.when(head),
        head.mode or "",
        f"suite {head.suite_version}" if head.suite_version else "",
        f"{len(report.rows)} models, {len(report.cells)} cells",
        "" if head.requests is None else f"{view.number(head.requests)} requests",
        "" if head.tokens is None else f"{view.number(head.tokens)} tokens",
        "" if head.duration_s is None else view.duration(head.duration_s),
        *(f"unreadable: {problem}" for problem in report.problems),
    ]
    return " · ".join(escape(f) for f in facts if f) or "no run metadata"


def _label(report: Report, provider: str, model: str) -> str:
    single = len({p for p, _ in report.rows}) == 1
    return escape(model) if single else f"{escape(model)} ({escape(provider)})"


def _table(report: Report) -> list[str]:
    """One column per feature group, one capability verdict per cell: the question a user asks first."""
    grid = view.groups(report)
    heads = [escape(g.feature) for g in grid]
    lines = [_line(["Model", *heads]), _line([":--"] * (len(heads) + 1))]
    for row in report.rows:
        label = _label(report, *row)
        note = view.semantic_note(report.row_cells(row))
        if note:
            label += f" _({note})_"
        lines.append(_line([label, *(_verdict(view.verdict(view.group_cells(report, row, g))) for g in grid)]))
    return lines


def _verdict(verdict: view.Verdict) -> str:
    c = verdict.capability
    text = f"{c.glyph} {c.name} {verdict.k_of_n}" if verdict.decided else f"{c.glyph} {c.name}"
    if verdict.claim:
        text += f" · claim {escape(verdict.claim)}"
    return text + (" · **DRIFT**" if verdict.drift else "")


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _legend() -> str:
    parts = [f"{c.glyph} {c.name}: {c.meaning}" for c in view.CAPABILITIES.values()]
    return "**Legend:** " + " · ".join(parts) + ". k/n: probes that work of those decided (ERROR and NOT RUN left out)."


def _reasons(report: Report) -> list[str]:
    """Per model, the worst groups first, each with the probe that keeps it from being green and why."""
    grid = view.groups(report)
    lines = ["### Why a group is not green", ""]
    for row in report.rows:
        verdicts = [(g, view.verdict(view.group_cells(report, row, g))) for g in grid]
        blocked = sorted(
            [(g, v) for g, v in verdicts if v.reason and v.capability.name != "works"],
            key=lambda gv: (gv[1].capability.rank, gv[0].index),
        )
        if not blocked:
            continue
        lines.append(f"- **{_label(report, *row)}**")
        for group, verdict in blocked[:REASONS_PER_MODEL]:
            verdict_text = f"{verdict.capability.name} {verdict.k_of_n}"
            lines.append(f"  - {escape(group.feature)} ({verdict_text}): {escape(verdict.reason)}")
        if len(blocked) > REASONS_PER_MODEL:
            lines.append(f"  - …and {len(blocked) - REASONS_PER_MODEL} more groups (see matrix.html)")
    if len(lines) == 2:
        lines.append("No group has a probe that fails or deviates.")
    return lines


def _totals(report: Report) -> str:
    tally = view.counts(report.cells.values())
    parts = [f"{s.glyph} {escape(s.name)} {tally[s.name]}" for s in view.vocabulary(report) if tally.get(s.name)]
    return "**Probe cells:** " + (" · ".join(parts) or "no cells")


def _changes(report: Report, baseline: Report) -> list[str]:
    changes = list(view.changes(report, baseline).values())
    since = view.when(baseline.head)
    lines = [f"### Changes since the baseline{' of ' + escape(since) if since else ''}", ""]
    kinds = ("regressed", "improved", "changed", "added", "removed")
    counts = [f"{sum(1 for c in changes if c.kind == k)} {k}" for k in kinds]
    lines += [", ".join(counts) + ".", ""]
    shown = [c for c in changes if c.kind in ("regressed", "improved", "changed")]
    shown.sort(key=lambda c: ("regressed", "changed", "improved").index(c.kind))
    if not shown:
        came_or_went = "; models or probes came or went" if changes else ""
        lines.append(f"No cell changed status{came_or_went}.")
        return lines
    lines += [_line(["Change", "Provider", "Model", "Probe", "Baseline", "Now", "Why now"]), _line([":--"] * 7)]
    lines += [
        _line([c.kind, *(escape(k) for k in c.key), _named(c.old), _named(c.new), _why(report, c)])
        for c in shown[:LIST_LIMIT]
    ]
    if len(shown) > LIST_LIMIT:
        lines += ["", f"…and {len(shown) - LIST_LIMIT} more (matrix.html lists more; `conformance diff` lists all)."]
    return lines


def _why(report: Report, change: Change) -> str:
    """The finding that decided the cell now, so a regression reads without the report; a clean cell has none."""
    cell = report.cells.get(change.key)
    if cell is None or cell.status in view.CLEAN or not cell.reason:
        return ""
    return escape(view.one_line(cell.reason, WHY_LIMIT))


def _named(status: str | None) -> str:
    if status is None:
        return "absent"
    s = view.style(status)
    return f"{s.glyph} {escape(s.name)}"
