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

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from conformance.evidence import STATUSES
from conformance.report import view

MESSAGE_LIMIT = 500
OUTCOMES = {s.value: i.outcome.junit for s, i in STATUSES.items() if i.outcome.junit is not None}
PASSING = {s.value for s, i in STATUSES.items() if i.outcome.junit is None}
COUNTERS = {"failure": "failures", "error": "errors", "skipped": "skipped"}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(matrix: dict[str, Any]) -> str:
    """The whole document as text; it always parses, whatever bytes a server sent."""
    root = ET.Element("testsuites", name="conformance")
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for cell in matrix.get("cells", []):
        by_provider.setdefault(view.key_of(cell)[0], []).append(cell)
    for provider, cells in by_provider.items():
        root.append(_suite(matrix, provider, cells))
    _tally(root, list(root))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(value: Any) -> str:
    """XML 1.0 cannot carry most control characters or lone surrogates: they are shown escaped instead."""
    return _NOT_XML.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), str(value))


def _suite(matrix: dict[str, Any], provider: str, cells: list[dict[str, Any]]) -> ET.Element:
    suite = ET.Element("testsuite", name=_text(provider))
    stamp = matrix.get("generated_at") or matrix.get("started_at")
    if stamp:
        suite.set("timestamp", _text(stamp))
    facts = {
        "suite_version": matrix.get("suite_version"),
        "mode": matrix.get("mode"),
        "endpoint": view.providers(matrix).get(provider),
    }
    properties = ET.SubElement(suite, "properties")
    for name, value in facts.items():
        if value:
            ET.SubElement(properties, "property", name=name, value=_text(value))
    cases = [_case(cell) for cell in cells]
    suite.extend(cases)
    _tally(suite, cases)
    return suite


def _case(cell: dict[str, Any]) -> ET.Element:
    provider, model, probe = view.key_of(cell)
    status = view.status_of(cell)
    case = ET.Element("testcase", classname=_text(f"{provider}.{model}"), name=_text(probe), time=_seconds(cell))
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="status", value=_text(status))
    ET.SubElement(properties, "property", name="feature", value=_text(cell.get("feature", "")))
    if cell.get("drift"):
        ET.SubElement(properties, "property", name="drift", value="true")
    findings = "\n".join(_finding(f) for f in cell.get("findings") or [])
    if status in PASSING:
        if findings:
            ET.SubElement(case, "system-out").text = _text(findings)
        return case
    outcome = ET.SubElement(case, OUTCOMES.get(status, "error"), type=_text(status), message=_message(status, cell))
    outcome.text = _text(findings or view.style(status).meaning)
    return case


def _finding(finding: Any) -> str:
    if not isinstance(finding, dict):
        return str(finding)
    return f"[{finding.get('level', '')}] {finding.get('rule', '')}: {finding.get('message', '')}"


def _message(status: str, cell: dict[str, Any]) -> str:
    """One line: the status, then the first finding (or what the status means)."""
    findings = cell.get("findings") or []
    first = _finding(findings[0]) if findings else view.style(status).meaning
    line = " ".join(f"{status}: {first}".split())
    return _text(line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…")


def _seconds(cell: dict[str, Any]) -> str:
    """A cell's own duration is not in the matrix; its exchanges' elapsed times are."""
    total = 0.0
    for exchange in cell.get("exchanges") or []:
        elapsed = exchange.get("elapsed_ms") if isinstance(exchange, dict) else None
        if isinstance(elapsed, int | float) and not isinstance(elapsed, bool) and math.isfinite(elapsed):
            total += float(elapsed)
    return f"{total / 1000:.3f}"


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
