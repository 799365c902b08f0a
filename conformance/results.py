"""results.jsonl: one line per finished cell, appended and flushed at once so no cell is ever lost
(a pooled replay flushes a model's cells together, as they come back together).

Also what keeps a run's files whole: a torn last line (a killed run, a full disk) is set aside
before a resume appends after it, a short write is an error rather than half a line, and a lock
file keeps a second run out of a directory another run is writing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from conformance import safejson
from conformance.paths import DATA_FILE_BYTES, SMALL_FILE_BYTES, local_text
from conformance.records import ExchangeRecord, FindingRecord, ResultLine, first_problem
from conformance.runner import (
    EVIDENCE_BODY,
    EVIDENCE_EVENTS,
    MAX_MESSAGE,
    MAX_SAME_RULE,
    bounded_evidence,
    cut_message,
    more_findings,
)

RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".conformance.lock"


class ResultsWriter:
    """Appends each cell as one line; O_APPEND keeps lines whole when several processes write."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / RESULTS_FILE
        self._held: list[bytes] | None = None  # lines of an open batch, written when it closes

    def append(self, record: ResultLine) -> None:
        self.append_line(encoded(record))

    def append_line(self, line: bytes) -> None:
        """A line `encoded` made, perhaps in another process."""
        if self._held is not None:
            self._held.append(line)
        else:
            self._write(line)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Lines appended meanwhile are written together, with one fsync: a model's cells that came back at once.

        A killed run loses at most the open batch, whose cells a resumed run does again.
        """
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held:
                self._write(b"".join(held))

    def _write(self, line: bytes) -> None:
        fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            written = os.write(fd, line)
            if written != len(line):  # one write, so that concurrent appenders never interleave
                raise OSError(f"{self.path}: short write, {written} of {len(line)} bytes (is the disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)


def open_no_follow(path: Path, flags: int) -> int:
    """A file descriptor for a file the suite writes in place; a symlink planted there is refused, not
    followed out of the folder."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{path} is a symlink; refusing to write through it") from None
        raise


def encoded(record: ResultLine) -> bytes:
    """The results line of a record; ValueError for a value JSON cannot hold (NaN, infinity)."""
    return (json.dumps(record.written(), ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def read_results(path: Path) -> Iterator[ResultLine]:
    """Yield each cell; a torn last line (a killed run) is skipped, any other bad line names the file.

    Lines end at "\n" alone: the writer leaves U+2028, U+2029 and U+0085 raw inside strings, as JSON allows,
    and `str.splitlines` would cut a line at each of them.
    """
    text = read_text_file(path, "results", DATA_FILE_BYTES)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = safejson.loads(line)
        except ValueError as exc:
            if number == len(lines) and not text.endswith("\n"):
                return
            raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
        try:
            result = ResultLine.model_validate(record)
        except ValidationError as exc:
            raise ValueError(f"{path}:{number}: not a results line ({first_problem(exc, 'the line')})") from None
        yield within_bounds(result)


CUT_NOTE = 64  # room for the writer's own "... (N more characters)" after a cut message


def within_bounds(record: ResultLine) -> ResultLine:
    """The line cut to what the writer keeps (`runner.bounded_findings`, `runner.bounded_evidence`), so a line
    written by hand or by another tool cannot copy megabytes into every page of the report. A line the suite
    wrote is within them already, and comes back unchanged."""
    update: dict[str, Any] = {}
    counts = Counter(f.rule for f in record.findings)
    if max(counts.values(), default=0) > MAX_SAME_RULE + 1 or any(_long(f) for f in record.findings):
        update["findings"] = _bounded(record.findings, counts)
    if any(_outsized(e) for e in record.exchanges):
        update["exchanges"] = [
            ExchangeRecord.model_validate(bounded_evidence(e.model_dump(mode="json", exclude_unset=True)))
            for e in record.exchanges
        ]
    return record.model_copy(update=update) if update else record


def _long(finding: FindingRecord) -> bool:
    return len(finding.message) > MAX_MESSAGE + CUT_NOTE


def _outsized(exchange: ExchangeRecord) -> bool:
    return len(exchange.body or "") > EVIDENCE_BODY or len(exchange.events or ()) > EVIDENCE_EVENTS


def _bounded(findings: list[FindingRecord], counts: Counter[str]) -> list[FindingRecord]:
    """MAX_SAME_RULE findings of a rule, then one counting the rest, as the writer does; long messages cut."""
    seen: Counter[str] = Counter()
    kept: list[FindingRecord] = []
    for finding in findings:
        seen[finding.rule] += 1
        if seen[finding.rule] <= MAX_SAME_RULE or counts[finding.rule] == MAX_SAME_RULE + 1:  # the writer's own count
            kept.append(
                finding.model_copy(update={"message": cut_message(finding.message)}) if _long(finding) else finding
            )
        elif seen[finding.rule] == MAX_SAME_RULE + 1:
            kept.append(finding.model_copy(update={"message": more_findings(finding.rule, counts[finding.rule])}))
    return kept


def set_aside_torn_tail(path: Path) -> Path | None:
    """Move an unfinished last line into a `.torn-<time>` file beside, with a warning; None if there was none.

    Appending after a torn line would glue the next cell onto it and corrupt both.
    """
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return None
        keep = data.rfind(b"\n") + 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        aside = path.with_name(f"{path.name}.torn-{stamp}")
        aside.write_bytes(data[keep:])
        handle.truncate(keep)
    print(
        f"conformance: {path} ended in an unfinished line ({len(data) - keep} bytes); set aside in {aside.name}",
        file=sys.stderr,
    )
    return aside


def read_text_file(path: Path, what: str, cap: int = SMALL_FILE_BYTES) -> str:
    """A local file's text, or ValueError naming the file and the problem in one line."""
    try:
        return local_text(path, cap)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what} file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the {what} file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"{path}: the {what} file cannot be read ({exc.strerror or exc})") from None


def write_file_atomic(path: Path, text: str) -> None:
    """Write beside, then rename over: never a half file, a symlink at `path` is replaced rather than followed,
    and parallel workers (pytest-xdist) writing the same file each replace it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_json_file(path: Path, what: str) -> Any:
    """A local JSON file, or ValueError naming the file and the problem in one line."""
    try:
        return safejson.loads(read_text_file(path, what))
    except safejson.JSONProblem as exc:
        raise ValueError(f"{path}: the {what} file is not valid JSON ({exc})") from None


class DirLock:
    """An exclusive lock on a directory for one run, held through a lock file that names its holder.

    `flock` ends with the process, so a killed run never leaves a stale lock behind.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 500).decode("utf-8", errors="replace").strip() or "another process"
            os.close(fd)
            raise LockHeld(f"{self.path.parent} is in use by another run ({holder}); lock file {self.path}") from None
        os.ftruncate(fd, 0)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LockHeld(ValueError):
    """Another run holds the directory."""
