"""What every renderer shares: the status vocabulary's look, the feature groups and their verdicts, changes.

Kept apart from the renderers so the HTML pages, the Markdown summary and JUnit can never disagree on a
glyph, a meaning, a group's verdict or what counts as a regression.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conformance.diff import Change, diff
from conformance.evidence import STATUSES
from conformance.records import MatrixCell, MatrixHead, ProbeRecord
from conformance.report.data import Key, Report, Row


@dataclass(frozen=True)
class StatusStyle:
    """How one status is shown: a glyph and its text always travel together, colour only helps."""

    name: str
    glyph: str
    slug: str
    meaning: str
    known: bool = True


KNOWN: dict[str, StatusStyle] = {s.value: StatusStyle(s.value, i.glyph, i.slug, i.meaning) for s, i in STATUSES.items()}
WORKING = frozenset({"PASS", "NON-STRICT", "ACCEPTED"})  # a client gets what it asked for
CLEAN = frozenset({"PASS", "ACCEPTED"})
UNDECIDED = frozenset({"ERROR", "NOT RUN"})  # says nothing about the feature


def style(status: str) -> StatusStyle:
    """A status this version does not know is still shown, as its own text in a neutral style."""
    return KNOWN.get(status) or StatusStyle(status, "?", "unknown", "a status this report does not know", known=False)


def vocabulary(report: Report) -> list[StatusStyle]:
    """The matrix's own status order, then any unknown status its cells use, in order of appearance."""
    names = [*(report.statuses or KNOWN), *(c.status for c in report.cells.values())]
    return [style(n) for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class Capability:
    """A feature group's verdict for one model, in the words a user choosing a model would use."""

    name: str  # short enough for a cell of the first screen: the one name the legend, pages and summary use
    glyph: str
    slug: str
    meaning: str
    rank: int  # for sorting: higher is better


CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (
        Capability("works", "✓", "pass", "every probe of the group works and conforms", 7),
        Capability("deviates", "≈", "non-strict", "every probe works for clients; some break a SHOULD", 6),
        Capability("partly", "◐", "partly", "some probes work, others do not", 5),
        Capability("unsupported", "⊘", "unsupported", "rejected cleanly: a client is told why", 4),
        Capability("ignored", "∅", "ignored", "accepted, and the documented effect is absent", 3),
        Capability("broken", "✗", "fail", "nothing works: accepted but broken or wrong", 2),
        Capability("undecided", "!", "error", "could not decide (5xx, timeout, transport)", 1),
        Capability("not run", "–", "not-run", "no probe of the group ran", 0),
    )
}


@dataclass(frozen=True)
class Verdict:
    """A group's capability for one model: k of its n decided probes work."""

    capability: Capability
    working: int
    decided: int
    tally: Counter[str]
    claim: str  # the provider's claim for the group: yes / no / partial, "mixed", or "" when unknown
    drift: int  # cells whose claim and observation disagree
    reason: str  # the first probe that keeps the group from being green, and why
    probe: str = ""  # that probe's id, for a link to its evidence

    @property
    def k_of_n(self) -> str:
        return f"{self.working}/{self.decided}" if self.decided else "–"

    @property
    def breakdown(self) -> str:
        return " · ".join(f"{style(s).glyph} {s} {n}" for s, n in self.tally.most_common()) or "no results"


def capability(statuses: Sequence[str]) -> tuple[Capability, int, int]:
    """The group's capability and k of n from its probes' statuses; ERROR and NOT RUN are left out of n.

    A status this version does not know counts as decided and not working, so it can never turn a group green.
    """
    decided = [s for s in statuses if s not in UNDECIDED]
    working = sum(1 for s in decided if s in WORKING)
    if not decided:
        name = "undecided" if "ERROR" in statuses else "not run"
    elif working == len(decided):
        name = "works" if all(s in CLEAN for s in decided) else "deviates"
    elif working:
        name = "partly"
    elif set(decided) == {"UNSUPPORTED"}:
        name = "unsupported"
    elif set(decided) <= {"UNSUPPORTED", "IGNORED"}:
        name = "ignored"
    else:
        name = "broken"
    return CAPABILITIES[name], working, len(decided)


def verdict(cells: Sequence[MatrixCell]) -> Verdict:
    found, working, decided = capability([c.status for c in cells])
    claims = {c.claim.claim for c in cells if c.claim.claim != "unknown"}
    claim = "" if not claims else claims.pop() if len(claims) == 1 else "mixed"
    # the reason names the first probe that does not work, else the first that deviates
    failing = [c for c in cells if c.status not in WORKING and c.status != "NOT RUN"]
    blocking = next(iter(failing or [c for c in cells if c.status not in CLEAN and c.status != "NOT RUN"]), None)
    reason = ""
    if blocking is not None:
        reason = one_line(f"{blocking.probe}: {blocking.status}: {blocking.reason or style(blocking.status).meaning}")
    return Verdict(
        capability=found,
        working=working,
        decided=decided,
        tally=Counter(c.status for c in cells),
        claim=claim,
        drift=sum(1 for c in cells if c.drift),
        reason=reason,
        probe="" if blocking is None else blocking.probe,
    )


@dataclass(frozen=True)
class Group:
    """A feature group: its probes are contiguous columns under one header."""

    index: int
    feature: str
    probes: tuple[ProbeRecord, ...]


def groups(report: Report) -> list[Group]:
    """Probes grouped by feature, groups in order of first appearance, probes in matrix order."""
    by_feature: dict[str, list[ProbeRecord]] = {}
    for probe in report.probes:
        by_feature.setdefault(probe.feature, []).append(probe)
    return [Group(i, feature, tuple(probes)) for i, (feature, probes) in enumerate(by_feature.items())]


def group_cells(report: Report, row: Row, group: Group) -> list[MatrixCell]:
    return [c for p in group.probes if (c := report.cell(*row, p.id)) is not None]


def counts(cells: Iterable[MatrixCell]) -> Counter[str]:
    return Counter(c.status for c in cells)


def semantic_off(cells: Iterable[MatrixCell]) -> int:
    """How many of a row's cells ran without semantic checks (answers were not judged on meaning)."""
    return sum(1 for c in cells if not c.semantic_checks)


def semantic_note(cells: list[MatrixCell]) -> str:
    """A row's badge text: empty when every cell was judged on meaning, else how many were not."""
    off = semantic_off(cells)
    if not off:
        return ""
    return "semantic checks off" if off == len(cells) else f"semantic checks off in {off} of {len(cells)}"


def changes(report: Report, baseline: Report | None) -> dict[Key, Change]:
    if baseline is None:
        return {}
    return {c.key: c for c in diff(baseline.cells.values(), report.cells.values())}


def providers(report: Report) -> dict[str, str]:
    """Provider name to endpoint, from whichever form of run metadata the matrix carries."""
    older = report.head.model_extra or {}  # a matrix from before several providers: one `provider`, `base_url`
    found = dict(report.head.providers)
    if isinstance(older.get("provider"), str) and older["provider"]:
        found.setdefault(older["provider"], "")
    for provider, _ in report.rows:
        found.setdefault(provider, "")
    if len(found) == 1 and isinstance(older.get("base_url"), str) and older["base_url"]:
        found = {name: url or older["base_url"] for name, url in found.items()}
    return found


@dataclass(frozen=True)
class Latency:
    """Median time to first byte and total time over a set of exchanges: one slow model stands out."""

    first_byte_ms: float | None
    total_ms: float | None
    exchanges: int

    @property
    def text(self) -> str:
        return f"first byte {ms_text(self.first_byte_ms)} · total {ms_text(self.total_ms)}"


def latency(cells: Iterable[MatrixCell]) -> Latency | None:
    timings = [t for c in cells for t in c.latency]
    first = [t.first_byte_ms for t in timings if t.first_byte_ms is not None]
    total = [t.elapsed_ms for t in timings if t.elapsed_ms is not None]
    if not first and not total:
        return None
    median = statistics.median
    return Latency(median(first) if first else None, median(total) if total else None, len(timings))


def ms_text(value: float | None) -> str:
    """As the evidence panel shows a latency (matrix.js `ms`), so the two never disagree."""
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def when(head: MatrixHead) -> str:
    raw = head.generated_at or head.started_at
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
