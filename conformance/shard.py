"""Splitting a run across machines by model, and merging the parts back into one run directory.

A shard takes whole models, so one model's probes share one machine and one rate-limit pacer;
the split is a stable hash of provider and model, the same on every machine and every night.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.plan import Plan
from conformance.results import RESULTS_FILE, ResultsWriter, read_results


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as people count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'K/N' with 1 <= K <= N."""
        try:
            k, n = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes K/N (e.g. 2/4), got {text!r}") from None
        if not 1 <= k <= n:
            raise ValueError(f"--shard {text}: expected 1 <= K <= N")
        return cls(k, n)

    def owns(self, provider: str, model: str) -> bool:
        digest = hashlib.sha256(f"{provider}\0{model}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def apply(self, plans: list[Plan]) -> list[Plan]:
        return [replace(p, models=tuple(m for m in p.models if self.owns(p.target.provider, m))) for p in plans]


def merge(parts: list[Path], out: Path) -> int:
    """Concatenate the parts' results (and catalog snapshots) into `out`; returns the cell count.

    A cell present in two parts is an error: shards never overlap, so it means the wrong
    directories were given.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).unlink(missing_ok=True)
    writer, seen = ResultsWriter(out), dict[tuple[str, str, str], Path]()
    for part in parts:
        results = part / RESULTS_FILE
        if not results.exists():
            raise ValueError(f"{part}: no {RESULTS_FILE} to merge")
        for record in read_results(results):
            key = record.key
            if key in seen:
                raise ValueError(f"{part}: cell {' '.join(key)} is also in {seen[key]}; shards never overlap")
            seen[key] = part
            writer.append(record)
        for snapshot in (part / "catalogs").glob("*.json"):
            (out / "catalogs").mkdir(exist_ok=True)
            shutil.copyfile(snapshot, out / "catalogs" / snapshot.name)
    return len(seen)
