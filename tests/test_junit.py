"""junit.xml: one testcase per cell, the outcome CI systems understand, and always well-formed XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.report import render_junit, write_reports
from tests.replayed import replayed_run
from tests.test_report import _all_statuses, _cell, _matrix

OUTCOME = {"FAIL": "failure", "ERROR": "error", "NOT RUN": "skipped", "UNSUPPORTED": "skipped", "IGNORED": "skipped"}


def _outcome(case: ET.Element) -> ET.Element | None:
    return next((c for c in case if c.tag in ("failure", "error", "skipped")), None)


def _status(case: ET.Element) -> str:
    return next(p.get("value", "") for p in case.iter("property") if p.get("name") == "status")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ET.Element, dict[str, Any]]:
    out, _ = replayed_run(tmp_path_factory.mktemp("junit"))
    matrix = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    return ET.parse(out / "junit.xml").getroot(), matrix


def test_a_run_directory_gets_junit_xml_with_one_testcase_per_cell(
    replayed: tuple[ET.Element, dict[str, Any]],
) -> None:
    root, matrix = replayed
    cases = list(root.iter("testcase"))
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        (f"{c['provider']}.{c['model']}", c["probe"]) for c in matrix["cells"]
    ]
    assert [_status(c) for c in cases] == [c["status"] for c in matrix["cells"]]
    tags = Counter(o.tag for c in cases if (o := _outcome(c)) is not None)
    expected = Counter(OUTCOME[c["status"]] for c in matrix["cells"] if c["status"] in OUTCOME)
    assert tags == expected
    assert root.get("tests") == str(len(cases))
    assert (root.get("failures"), root.get("errors"), root.get("skipped")) == (
        str(tags["failure"]),
        str(tags["error"]),
        str(tags["skipped"]),
    )
    assert {s.get("name") for s in root.iter("testsuite")} == set(matrix["providers"])
    assert sum(int(s.get("tests", "0")) for s in root.iter("testsuite")) == len(cases)


def test_every_status_maps_to_its_junit_outcome() -> None:
    root = ET.fromstring(render_junit(_all_statuses()))
    seen = {_status(c): _outcome(c) for c in root.iter("testcase")}
    for status in ("PASS", "NON-STRICT", "ACCEPTED"):
        assert seen[status] is None
    for status, tag in {**OUTCOME, "WEIRD": "error"}.items():
        outcome = seen[status]
        assert outcome is not None and outcome.tag == tag, status
        assert outcome.get("type") == status
        assert outcome.get("message", "").startswith(f"{status}: [MUST] response.schema: finding for ")
    passed = next(c for c in root.iter("testcase") if _status(c) == "NON-STRICT")
    assert passed.findtext("system-out") == "[MUST] response.schema: finding for core.p1", "findings of a pass are kept"


def test_server_text_is_escaped_and_bytes_xml_cannot_carry_are_shown_escaped() -> None:
    evil = 'a <script>x</script> & "q" ]]> \x00\x1b\ud800 end'
    cell = _cell("core.text_input", "FAIL", model="m<&>")
    cell["findings"][0]["message"] = evil
    text = render_junit(_matrix([cell]))
    assert "<script>" not in text
    case = ET.fromstring(text.encode("utf-8")).find("testsuite/testcase")
    assert case is not None and case.get("classname") == "prov.m<&>"
    failure = case.find("failure")
    assert failure is not None
    shown = 'a <script>x</script> & "q" ]]> \\x00\\x1b\\ud800 end'
    assert failure.text == f"[MUST] response.schema: {shown}"
    assert failure.get("message") == f"FAIL: [MUST] response.schema: {shown}"


def test_a_cell_without_findings_still_says_why_and_time_sums_its_exchanges() -> None:
    cell = _cell("core.a", "ERROR", findings=[], exchanges=[_exchange_ms(100.0), _exchange_ms(250.7)])
    case = ET.fromstring(render_junit(_matrix([cell]))).find("testsuite/testcase")
    assert case is not None and case.get("time") == "0.351"
    error = case.find("error")
    assert (
        error is not None
        and error.get("message") == "ERROR: could not decide (a transient 5xx, timeout, transport, rate limit)"
    )


def _exchange_ms(elapsed: float) -> dict[str, Any]:
    return {"request": {}, "status": 200, "headers": {}, "elapsed_ms": elapsed, "first_byte_ms": 1.0, "body": ""}


def test_write_reports_puts_junit_beside_the_matrix(tmp_path: Path) -> None:
    paths = write_reports(_all_statuses(), tmp_path)
    assert tmp_path / "junit.xml" in paths
    assert len(ET.parse(tmp_path / "junit.xml").getroot().findall("testsuite/testcase")) == 9
