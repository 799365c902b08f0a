"""A model's PASS count across past runs, drawn as an inline SVG sparkline beside its row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from conformance.report.data import Report, Row

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 64, 16, 2


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


def trends(runs: list[Report]) -> dict[Row, Trend]:
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
