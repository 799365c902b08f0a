"""The matrix as compact Markdown for $GITHUB_STEP_SUMMARY: the morning glance, not the evidence.

Every string that came from a server, a model catalog or a config is escaped so it renders as the
literal text it is: no table breakout, no HTML, no links, no code spans, no math.
"""

from __future__ import annotations

from typing import Any

from conformance.report import view

PER_PROBE_LIMIT = 10
LIST_LIMIT = 50
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


def render_markdown(matrix: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    lines = [_title(matrix), "", _facts(matrix), "", *_table(matrix), "", _totals(matrix), "", _legend(matrix)]
    if baseline is not None:
        lines += ["", *_regressions(matrix, baseline)]
    return "\n".join(lines) + "\n"


def _title(matrix: dict[str, Any]) -> str:
    return "## Responses API conformance: " + (", ".join(escape(p) for p in view.providers(matrix)) or "no provider")


def _facts(matrix: dict[str, Any]) -> str:
    facts = [
        view.when(matrix),
        str(matrix.get("mode") or ""),
        f"suite {matrix['suite_version']}" if matrix.get("suite_version") else "",
        f"{view.number(matrix['requests'])} requests" if "requests" in matrix else "",
        f"{view.number(matrix['tokens'])} tokens" if "tokens" in matrix else "",
        view.duration(matrix["duration_s"]) if "duration_s" in matrix else "",
    ]
    return " · ".join(escape(f) for f in facts if f) or "no run metadata"


def _table(matrix: dict[str, Any]) -> list[str]:
    """Per-probe columns when they fit on a screen, else one column of status counts per feature."""
    grid = view.groups(matrix)
    probes = [p for g in grid for p in g.probes]
    per_probe = len(probes) <= PER_PROBE_LIMIT
    heads = [escape(p["id"]) for p in probes] if per_probe else [f"{escape(g.feature)} ({len(g.probes)})" for g in grid]
    cells = view.cell_index(matrix)
    single = len({p for p, _ in view.rows(matrix)}) == 1
    lines = [_line(["Model", *heads]), _line([":--"] * (len(heads) + 1))]
    for provider, model in view.rows(matrix):
        mine = [cells.get((provider, model, p["id"])) for p in probes]
        label = escape(model) if single else f"{escape(provider)} / {escape(model)}"
        note = view.semantic_note([c for c in mine if c])
        if note:
            label += f" _({note})_"
        if per_probe:
            row = [_status(c) for c in mine]
        else:
            row = [_counts([cells.get((provider, model, p["id"])) for p in g.probes]) for g in grid]
        lines.append(_line([label, *row]))
    return lines


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _status(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return ""
    s = view.style(view.status_of(cell))
    return f"{s.glyph} {escape(s.name)}" + (" · **DRIFT**" if cell.get("drift") else "")


def _counts(cells: list[dict[str, Any] | None]) -> str:
    present = [c for c in cells if c is not None]
    tally = view.counts(present)
    order = {name: i for i, name in enumerate(view.KNOWN)}
    parts = [_count(s, n) for s, n in sorted(tally.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))]
    drift = sum(1 for c in present if c.get("drift"))
    return " · ".join(parts + ([f"**DRIFT {drift}**"] if drift else []))


def _count(status: str, n: int) -> str:
    s = view.style(status)
    return f"{s.glyph} {n}" if s.known else f"{s.glyph} {escape(s.name)} {n}"


def _totals(matrix: dict[str, Any]) -> str:
    tally = view.counts(matrix.get("cells", []))
    parts = [f"{s.glyph} {escape(s.name)} {tally[s.name]}" for s in view.vocabulary(matrix) if tally.get(s.name)]
    return "**Totals:** " + (" · ".join(parts) or "no cells")


def _legend(matrix: dict[str, Any]) -> str:
    return "**Legend:** " + " · ".join(f"{s.glyph} {escape(s.name)}: {s.meaning}" for s in view.vocabulary(matrix))


def _regressions(matrix: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    changes = list(view.changes(matrix, baseline).values())
    regressed = [c for c in changes if c.kind == "regressed"]
    since = view.when(baseline)
    lines = [f"### Regressions (vs baseline{' of ' + escape(since) if since else ''})", ""]
    if regressed:
        lines += [_line(["Provider", "Model", "Probe", "Baseline", "Now"]), _line([":--"] * 5)]
        lines += [
            _line([escape(c.key[0]), escape(c.key[1]), escape(c.key[2]), _named(c.old), _named(c.new)])
            for c in regressed[:LIST_LIMIT]
        ]
        if len(regressed) > LIST_LIMIT:
            lines += ["", f"…and {len(regressed) - LIST_LIMIT} more (see matrix.html)."]
    else:
        lines.append("No regressions.")
    others = [f"{sum(1 for c in changes if c.kind == k)} {k}" for k in ("improved", "changed", "added", "removed")]
    return [*lines, "", "Also: " + ", ".join(others) + "."]


def _named(status: str | None) -> str:
    if status is None:
        return "absent"
    s = view.style(status)
    return f"{s.glyph} {escape(s.name)}"
