"""results.jsonl: one line per finished cell, appended and flushed at once so no cell is ever lost."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.jsonl"


class ResultsWriter:
    """Appends each cell as one line; O_APPEND keeps lines whole when several processes write."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / RESULTS_FILE

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_results(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each cell; a torn last line (a killed run) is skipped, any other bad line is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError as exc:
            if number == len(lines):
                return
            raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from exc
