"""The matrix as JUnit XML, so any CI system lists the cells beside its other test results.

One <testcase> per cell: classname "provider.model", name the probe id, time the sum of its exchanges.
FAIL is a <failure> and ERROR an <error>. NOT RUN, UNSUPPORTED and IGNORED are <skipped>, their message
starting with the status: the pytest plugin makes them a skip and xfails, and pytest's own JUnit writer
turns an xfail into <skipped> too, so both routes agree. A status this version does not know is an
<error>, so a newer matrix rendered by an older suite cannot pass quietly. Every testcase also carries
its status as a property; findings go in the message and the element text, or in <system-out> for a
cell that passed with findings (NON-STRICT).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from conformance.evidence import STATUSES
from conformance.records import FindingRecord, MatrixCell
from conformance.report import view
from conformance.report.data import MatrixSource, Report, read_matrix

MESSAGE_LIMIT = 500
OUTCOMES = {s.value: i.outcome.junit for s, i in STATUSES.items() if i.outcome.junit is not None}
PASSING = {s.value for s, i in STATUSES.items() if i.outcome.junit is None}
COUNTERS = {"failure": "failures", "error": "errors", "skipped": "skipped"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(matrix: MatrixSource, report: Report | None = None) -> str:
    """The whole document as text; it always parses, whatever bytes a server sent. `report` is the matrix
    already read, when the caller has it."""
    report = report if report is not None else read_matrix(matrix)
    root = ET.Element("testsuites", name="conformance")
    by_provider: dict[str, list[MatrixCell]] = {}
    for cell in report.cells.values():
        by_provider.setdefault(cell.provider, []).append(cell)
    for provider, cells in by_provider.items():
        root.append(_suite(report, provider, cells))
    _tally(root, list(root))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(value: Any) -> str:
    """XML 1.0 cannot carry most control characters or lone surrogates: they are shown escaped instead."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), str(value))


def _suite(report: Report, provider: str, cells: list[MatrixCell]) -> ET.Element:
    suite = ET.Element("testsuite", name=_text(provider))
    head = report.head
    stamp = head.generated_at or head.started_at
    if stamp:
        suite.set("timestamp", _text(stamp))
    facts = {
        "suite_version": head.suite_version,
        "mode": head.mode,
        "endpoint": view.providers(report).get(provider),
    }
    properties = ET.SubElement(suite, "properties")
    for name, value in facts.items():
        if value:
            ET.SubElement(properties, "property", name=name, value=_text(value))
    cases = [_case(cell) for cell in cells]
    suite.extend(cases)
    _tally(suite, cases)
    return suite


def _case(cell: MatrixCell) -> ET.Element:
    provider, model, probe = cell.key
    status = cell.status
    case = ET.Element("testcase", classname=_text(f"{provider}.{model}"), name=_text(probe), time=_seconds(cell))
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="status", value=_text(status))
    ET.SubElement(properties, "property", name="feature", value=_text(cell.feature))
    if cell.drift:
        ET.SubElement(properties, "property", name="drift", value="true")
    findings = "\n".join(_finding(f) for f in cell.findings)
    if status in PASSING:
        if findings:
            ET.SubElement(case, "system-out").text = _text(findings)
        return case
    outcome = ET.SubElement(case, OUTCOMES.get(status, "error"), type=_text(status), message=_message(status, cell))
    outcome.text = _text(findings or view.style(status).meaning)
    return case


def _finding(finding: FindingRecord) -> str:
    if not finding.rule and not finding.level:
        return finding.message
    return f"[{finding.level}] {finding.rule}: {finding.message}"


def _message(status: str, cell: MatrixCell) -> str:
    """One line: the status, then the first finding (or what the status means)."""
    first = _finding(cell.findings[0]) if cell.findings else view.style(status).meaning
    line = " ".join(f"{status}: {first}".split())
    return _text(line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…")


def _seconds(cell: MatrixCell) -> str:
    """A cell's own duration is not in the matrix; its exchanges' elapsed times are."""
    return f"{sum(t.elapsed_ms or 0.0 for t in cell.latency) / 1000:.3f}"


def _tally(parent: ET.Element, children: list[ET.Element]) -> None:
    """The count attributes every JUnit reader expects, summed over testcases or over suites."""
    counts: Counter[str] = Counter()
    time = 0.0
    for child in children:
        if child.tag == "testcase":
            counts["tests"] += 1
            counts.update(COUNTERS[c.tag] for c in child if c.tag in COUNTERS)
        else:
            counts.update({k: int(child.get(k, "0")) for k in ("tests", *COUNTERS.values())})
        time += float(child.get("time", "0"))
    for key in ("tests", *COUNTERS.values()):
        parent.set(key, str(counts[key]))
    parent.set("time", f"{time:.3f}")
