"""The HTML and Markdown reports: every status is legible, evidence is there, server text stays inert."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.report import render_html, render_markdown, write_reports
from conformance.report.view import KNOWN

XSS = "<script>alert(1)</script>"
RAW = "<script>alert(1)"
HTML_ESCAPED = "&lt;script&gt;alert(1)"
JSON_ESCAPED = "\\u003cscript\\u003ealert(1)"
VOID = {"meta", "input", "br", "hr", "img", "link", "wbr", "col", "source"}


def _exchange(body: str = '{"id": "resp_1", "status": "completed"}', **extra: Any) -> dict[str, Any]:
    exchange = {
        "request": {
            "method": "POST",
            "url": "http://127.0.0.1:8080/v1/responses",
            "headers": {"content-type": "application/json"},
            "body": '{"model": "m", "input": "Say hello."}',
        },
        "status": 200,
        "headers": {"content-type": "application/json"},
        "elapsed_ms": 51.5,
        "first_byte_ms": 50.25,
        "error": None,
        "body": body,
    }
    return {**exchange, **extra}


def _cell(probe: str, status: str, model: str = "model-a", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "prov",
        "model": model,
        "feature": probe.split(".")[0],
        "probe": probe,
        "status": status,
        "findings": [{"rule": "response.schema", "level": "MUST", "message": f"finding for {probe}"}],
        "semantic_checks": True,
        "exchanges": [_exchange()],
        **extra,
    }


def _matrix(cells: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    probes = list(dict.fromkeys(c["probe"] for c in cells))
    return {
        "suite_version": "0.1.0",
        "provider": "prov",
        "base_url": "http://127.0.0.1:8080/v1",
        "mode": "replay",
        "generated_at": "2026-11-24T16:13:26+00:00",
        "duration_s": 3.4,
        "requests": 13,
        "tokens": 580,
        **meta,
        "statuses": list(KNOWN),
        "rows": [{"provider": p, "model": m} for p, m in dict.fromkeys((c["provider"], c["model"]) for c in cells)],
        "probes": [{"id": p, "feature": p.split(".")[0], "title": f"title of {p}"} for p in probes],
        "cells": cells,
    }


def _all_statuses() -> dict[str, Any]:
    names = [*KNOWN, "WEIRD"]
    return _matrix([_cell(f"{'core' if i < 5 else 'errors'}.p{i}", s) for i, s in enumerate(names)])


def _evidence(html: str) -> list[dict[str, Any]]:
    match = re.search(r'<script type="application/json" id="evidence">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))["cells"]


class _TagBalance(HTMLParser):
    """Tracks open elements; any end tag that does not close the innermost open element is a mismatch."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.mismatches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.mismatches.append(f"</{tag}> with open {self.stack[-3:]}")


def test_every_status_is_shown_with_its_glyph_text_and_meaning() -> None:
    html = render_html(_all_statuses())
    for style in KNOWN.values():
        assert f'<span class="g">{style.glyph}</span>{style.name}</td>' in html
        assert style.meaning in html
    assert '<td class="c s-unknown" ' in html
    assert '<span class="g">?</span>WEIRD</td>' in html
    assert 'data-status="WEIRD"' in html, "an unknown status gets a legend entry and a filter"
    assert 'core <span class="gsum">1/5 pass</span>' in html
    assert "0/4" in html


def test_header_carries_the_run_metadata() -> None:
    html = render_html(_all_statuses())
    for text in ("prov", "http://127.0.0.1:8080/v1", "2026-11-24 16:13 UTC", "0.1.0", "3.4 s", "580", "replay"):
        assert f">{text}<" in html


def test_evidence_for_a_cell_is_embedded_and_indexed_by_the_cell() -> None:
    html = render_html(_all_statuses())
    evidence = _evidence(html)
    index = int(re.search(r'data-i="(\d+)" data-s="FAIL"', html).group(1))
    entry = evidence[index]
    assert (entry["probe"], entry["status"]) == ("core.p2", "FAIL")
    assert entry["findings"] == [{"rule": "response.schema", "level": "MUST", "message": "finding for core.p2"}]
    exchange = entry["exchanges"][0]
    assert exchange["method"] == "POST" and exchange["status"] == 200
    assert exchange["body"] == '{\n  "id": "resp_1",\n  "status": "completed"\n}', "JSON is pretty-printed"
    assert (exchange["first_byte_ms"], exchange["elapsed_ms"]) == (50.25, 51.5)


def test_pretty_printing_keeps_every_json_token_as_sent() -> None:
    body = '{"n": 1.0e2, "a": 1, "a": [], "s": "x,:{}"}'
    html = render_html(_matrix([_cell("core.a", "PASS", exchanges=[_exchange(body=body)])]))
    shown = _evidence(html)[0]["exchanges"][0]["body"]
    assert shown == '{\n  "n": 1.0e2,\n  "a": 1,\n  "a": [],\n  "s": "x,:{}"\n}'


def test_huge_bodies_and_streams_are_truncated_with_a_note() -> None:
    events = [{"offset_ms": i, "event": "response.output_text.delta", "data": '{"delta": "x"}'} for i in range(500)]
    cells = [
        _cell("core.big", "PASS", exchanges=[_exchange(body="x" * 100_000)]),
        _cell("streaming.long", "PASS", exchanges=[_exchange(events=events)]),
    ]
    big, long = _evidence(render_html(_matrix(cells)))
    assert len(big["exchanges"][0]["body"]) == 20_000
    assert "of 100,000 characters" in big["exchanges"][0]["body_note"]
    assert len(long["exchanges"][0]["events"]) == 200
    assert long["exchanges"][0]["events_note"] == "truncated: showing 200 of 500 events"


PLACES = {
    "finding message": lambda c: c["findings"][0].update(message=XSS),
    "response body": lambda c: c["exchanges"][0].update(body=XSS),
    "sse event data": lambda c: c["exchanges"][0].update(events=[{"offset_ms": 1.0, "event": "x", "data": XSS}]),
    "header value": lambda c: c["exchanges"][0]["headers"].update({"x-evil": XSS}),
    "model id": lambda c: c.update(model=XSS),
}


@pytest.mark.parametrize("place", PLACES)
def test_injected_script_is_inert_in_html_and_markdown(place: str) -> None:
    cell = _cell("core.text_input", "FAIL")
    PLACES[place](cell)
    matrix = _matrix([cell, _cell("core.other", "PASS", model=cell["model"])])
    html = render_html(matrix, baseline=_matrix([_cell("core.text_input", "PASS", model=cell["model"])]))
    assert RAW not in html
    assert HTML_ESCAPED in html or JSON_ESCAPED in html
    assert XSS in json.dumps(_evidence(html), ensure_ascii=False), "the text is kept, only escaped"
    markdown = render_markdown(matrix, baseline=_matrix([_cell("core.text_input", "PASS", model=cell["model"])]))
    assert RAW not in markdown
    if place == "model id":
        assert HTML_ESCAPED in html.split('id="evidence"')[0], "the row header shows it escaped"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_markdown_metacharacters_cannot_break_the_table() -> None:
    evil = "a|b`c\nd*e<f>"
    markdown = render_markdown(_matrix([_cell("core.text_input", "PASS", model=evil)]))
    row = next(line for line in markdown.splitlines() if line.startswith("| a"))
    assert row.startswith(r"| a\|b\`c d\*e&lt;f&gt; |")
    assert row.count("|") - row.count(r"\|") == 3


def test_baseline_marks_regressed_improved_added_and_removed_cells() -> None:
    baseline = _matrix([_cell("core.a", "PASS"), _cell("core.b", "FAIL"), _cell("core.gone", "PASS")])
    matrix = _matrix([_cell("core.a", "FAIL"), _cell("core.b", "PASS"), _cell("core.new", "PASS")])
    html = render_html(matrix, baseline)
    assert re.search(r'<td class="c s-fail d-regressed"[^>]*title="[^"]*baseline: PASS, regressed', html)
    assert re.search(r'<td class="c s-pass d-improved"[^>]*title="[^"]*baseline: FAIL, improved', html)
    assert "1 regressed" in html and "1 improved" in html and "1 added" in html and "1 removed" in html
    assert "<code>core.gone</code>" in html and "<code>core.new</code>" in html
    markdown = render_markdown(matrix, baseline)
    assert "### Regressions" in markdown
    assert "| prov | model-a | core.a | ✓ PASS | ✗ FAIL |" in markdown
    assert "1 improved, 0 changed, 1 added, 1 removed" in markdown


def test_optional_cell_keys_are_rendered_when_present() -> None:
    extra = {"claim": "yes", "drift": True, "flaky": True, "redirected": ["use core.b"], "attempts": ["FAIL", "PASS"]}
    cell = _cell("core.a", "PASS", **extra)
    plain = _cell("core.b", "PASS", semantic_checks=False)
    html = render_html(_matrix([cell, plain]))
    assert '<span class="claim">claim yes</span><span class="drift">DRIFT</span>' in html
    assert "FLAKY" in html and 'title="use core.b">DEPRECATED' in html
    assert "semantic checks off in 1 of 2" in html
    assert "_(semantic checks off in 1 of 2)_" in render_markdown(_matrix([cell, plain]))
    assert "_(semantic checks off)_" in render_markdown(_matrix([plain]))
    assert _evidence(html)[0]["attempts"] == ["FAIL", "PASS"]
    assert "**DRIFT 1**" not in render_markdown(_matrix([cell, plain]))
    assert "· **DRIFT**" in render_markdown(_matrix([cell, plain]))


def test_html_is_self_contained_and_parses_with_balanced_tags() -> None:
    html = render_html(_all_statuses(), baseline=_all_statuses())
    parser = _TagBalance()
    parser.feed(html)
    parser.close()
    assert parser.mismatches == []
    assert parser.stack == []
    assert not re.search(r"<link|\ssrc=|@import|url\(", html)


def test_a_large_matrix_stays_small() -> None:
    statuses = list(KNOWN)
    cells = [
        _cell(f"f{p // 10}.probe_{p}", statuses[(m + p) % len(statuses)], model=f"org/model-{m}")
        for m in range(50)
        for p in range(60)
    ]
    html = render_html(_matrix(cells))
    assert len(html.encode("utf-8")) < 3_000_000
    assert len(_evidence(html)) == 3000
    assert len(render_markdown(_matrix(cells)).encode("utf-8")) < 100_000


def test_write_reports_writes_the_page_and_the_summary(tmp_path: Path) -> None:
    paths = write_reports(_all_statuses(), tmp_path / "out")
    assert [p.name for p in paths] == ["matrix.html", "summary.md", "junit.xml"]
    assert all(p.read_text(encoding="utf-8") for p in paths)
