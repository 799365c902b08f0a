"""The HTML and Markdown reports: every status is legible, evidence is there, server text stays inert."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import Exchange
from conformance.records import ResultLine
from conformance.report import render_html, render_junit, render_markdown, write_reports
from conformance.report.data import UNREADABLE, read_matrix
from conformance.report.html import MAX_CHANGES, cell_anchor, evidence_script, model_page, probe_page, slug
from conformance.report.markdown import LIST_LIMIT
from conformance.report.view import CAPABILITIES, KNOWN, capability, verdict
from tests.sidecars import evidence_data

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


def _site(matrix: dict[str, Any], tmp: Path, **kwargs: Any) -> Path:
    """The whole report written into `tmp`; returns the folder."""
    write_reports(matrix, tmp, **kwargs)
    return tmp


def _evidence(matrix: dict[str, Any], tmp: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Every cell's evidence, row by row, as the page would load it."""
    _site(matrix, tmp, **kwargs)
    cells: list[dict[str, Any]] = []
    for row in matrix["rows"]:
        cells += evidence_data(tmp / evidence_script(slug(row["provider"], row["model"])))["cells"]
    return cells


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
    html = render_html(_all_statuses()).replace("\u00ad", "")  # where a narrow column may break a long name
    for style in KNOWN.values():
        assert re.search(f'<td class="pc c [^>]*><span class="g">{style.glyph}</span>{style.name}[<]', html)
        assert style.meaning in html
    assert '<td class="pc c s-unknown" ' in html
    assert '<span class="g">?</span>WEIRD</td>' in html
    assert 'data-status="WEIRD"' in html, "an unknown status gets a legend entry"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["PASS", "ACCEPTED"], ("works", 2, 2)),
        (["PASS", "NON-STRICT"], ("deviates", 2, 2)),
        (["PASS", "FAIL", "NOT RUN"], ("partly", 1, 2)),
        (["NON-STRICT", "IGNORED"], ("partly", 1, 2)),
        (["FAIL", "UNSUPPORTED"], ("broken", 0, 2)),
        (["UNSUPPORTED", "UNSUPPORTED"], ("unsupported", 0, 2)),
        (["IGNORED", "UNSUPPORTED"], ("ignored", 0, 2)),
        (["PASS", "ERROR"], ("works", 1, 1)),
        (["ERROR", "NOT RUN"], ("undecided", 0, 0)),
        (["NOT RUN"], ("not run", 0, 0)),
        ([], ("not run", 0, 0)),
        (["PASS", "WEIRD"], ("partly", 1, 2)),
        (["WEIRD"], ("broken", 0, 1)),
    ],
)
def test_a_groups_capability_follows_from_its_probes(statuses: list[str], expected: tuple[str, int, int]) -> None:
    found, working, decided = capability(statuses)
    assert (found.name, working, decided) == expected


def test_the_first_screen_has_one_verdict_per_group_with_k_of_n_claim_and_drift() -> None:
    cells = [
        _cell("tools.a", "PASS", claim={"claim": "yes", "source": "catalog"}),
        _cell("tools.b", "FAIL", claim={"claim": "yes", "source": "catalog"}, drift=True),
        _cell("tools.c", "ERROR"),
        _cell("vision.a", "UNSUPPORTED"),
    ]
    html = render_html(_matrix(cells))
    tools = re.search(r'<td class="gc s-partly" data-g="0" data-cap="partly"[^>]*>(.*?)</td>', html)
    assert tools is not None
    assert '<span class="kn">1/2</span>' in tools.group(1)
    assert '<span class="claim">claim yes</span><span class="drift">DRIFT</span>' in tools.group(1)
    assert "tools.b: FAIL: finding for tools.b" in tools.group(1), "the reason names the probe that does not work"
    assert 'data-cap="unsupported"' in html
    assert html.count('class="gc ') == 2


def test_a_verdicts_reason_prefers_a_probe_that_does_not_work_over_one_that_deviates() -> None:
    cells = [_cell("core.a", "NON-STRICT"), _cell("core.b", "IGNORED"), _cell("core.c", "PASS")]
    found = verdict([read_matrix(_matrix(cells)).cells[c["provider"], c["model"], c["probe"]] for c in cells])
    assert found.reason.startswith("core.b: IGNORED: ")
    assert (found.capability.name, found.k_of_n) == ("partly", "2/3")


def test_header_carries_the_run_metadata() -> None:
    html = render_html(_all_statuses())
    for text in ("prov", "http://127.0.0.1:8080/v1", "2026-11-24 16:13 UTC", "0.1.0", "3.4 s", "580", "replay"):
        assert f">{text}<" in html


def test_evidence_is_a_sidecar_per_row_and_the_page_carries_none(tmp_path: Path) -> None:
    matrix = _all_statuses()
    evidence = _evidence(matrix, tmp_path)
    html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    assert "finding for core.p2" in html, "the one-line reason is on the page"
    assert '"status": "completed"' not in html and "resp_1" not in html, "no exchange is on the page"
    entry = next(e for e in evidence if e["probe"] == "core.p2")
    assert entry["status"] == "FAIL"
    assert entry["findings"] == [{"rule": "response.schema", "level": "MUST", "message": "finding for core.p2"}]
    exchange = entry["exchanges"][0]
    assert exchange["method"] == "POST" and exchange["status"] == 200
    assert exchange["body"] == '{"id": "resp_1", "status": "completed"}', "as sent: the page lays JSON out"
    assert (exchange["first_byte_ms"], exchange["elapsed_ms"]) == (50.25, 51.5)
    assert 'data-ev="evidence/prov-model-a-' in html


def test_evidence_comes_from_the_records_when_the_matrix_has_none(tmp_path: Path) -> None:
    """matrix.json keeps no exchange: results.jsonl is where they are stored, once."""
    record = _cell("core.a", "PASS", exchanges=[_exchange(body='{"from": "results"}')])
    lean = {k: v for k, v in record.items() if k != "exchanges"}
    evidence = _evidence(_matrix([lean]), tmp_path, records=[ResultLine.model_validate(record)])
    assert evidence[0]["exchanges"][0]["body"] == '{"from": "results"}'


def test_huge_bodies_and_streams_are_truncated_with_a_note(tmp_path: Path) -> None:
    events = [{"offset_ms": i, "event": "response.output_text.delta", "data": '{"delta": "x"}'} for i in range(500)]
    clipped = _exchange()
    clipped["request"] = {**clipped["request"], "body": "y" * 1000, "body_length": 3_000_000}
    cells = [
        _cell("core.big", "PASS", exchanges=[_exchange(body="x" * 100_000)]),
        _cell("streaming.long", "PASS", exchanges=[_exchange(events=events)]),
        _cell("core.sent_big", "PASS", exchanges=[clipped]),
    ]
    big, sent, long = _evidence(_matrix(cells), tmp_path)
    assert len(big["exchanges"][0]["body"]) == 20_000
    assert "of 100,000 characters" in big["exchanges"][0]["body_note"]
    assert len(long["exchanges"][0]["events"]) == 200
    assert long["exchanges"][0]["events_note"] == "truncated: showing 200 of 500 events"
    assert "of 3,000,000 characters (the cassette has all of them)" in sent["exchanges"][0]["request_body_note"]


def test_an_oversized_request_body_is_clipped_in_the_record_and_keeps_its_json_shape() -> None:
    sent = json.dumps({"model": "m", "input": "x" * 3_000_000, "stream": True})
    record = Exchange("POST", "http://h/v1/responses", {}, sent).to_json()["request"]
    assert record["body_length"] == len(sent) and len(record["body_sha256"]) == 64
    body = json.loads(record["body"])
    assert body["model"] == "m" and body["stream"] is True and body["input"].endswith("…[3,000,000 characters]")
    assert "body_length" not in Exchange("POST", "http://h/v1/responses", {}, '{"a": 1}').to_json()["request"]
    plain = Exchange("POST", "http://h/v1/responses", {}, "z" * 100_000).to_json()["request"]
    assert len(plain["body"]) == 65_536 and plain["body_length"] == 100_000


PLACES = {
    "finding message": lambda c: c["findings"][0].update(message=XSS),
    "response body": lambda c: c["exchanges"][0].update(body=XSS),
    "sse event data": lambda c: c["exchanges"][0].update(events=[{"offset_ms": 1.0, "event": "x", "data": XSS}]),
    "header value": lambda c: c["exchanges"][0]["headers"].update({"x-evil": XSS}),
    "model id": lambda c: c.update(model=XSS),
    "probe id": lambda c: c.update(probe="core." + XSS),
    "claim source": lambda c: c.update(claim={"claim": "yes", "source": XSS, "note": XSS}),
}


@pytest.mark.parametrize("place", PLACES)
def test_injected_script_is_inert_in_every_page_the_evidence_and_markdown(place: str, tmp_path: Path) -> None:
    cell = _cell("core.text_input", "FAIL")
    PLACES[place](cell)
    matrix = _matrix([cell, _cell("core.other", "PASS", model=cell["model"])])
    baseline = _matrix([_cell(cell["probe"], "PASS", model=cell["model"])])
    _site(matrix, tmp_path, baseline=baseline)
    pages = list(tmp_path.rglob("*.html"))
    assert len(pages) == 1 + 1 + 2, "the first screen, one model page, two probe pages"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert RAW not in text, page
    assert HTML_ESCAPED in "".join(p.read_text(encoding="utf-8") for p in pages) or place in (
        "response body",
        "sse event data",
        "header value",
    )
    (script,) = (tmp_path / "evidence").iterdir()
    raw = script.read_text(encoding="utf-8")
    assert RAW not in raw and "</" not in raw
    assert XSS in json.dumps(evidence_data(script), ensure_ascii=False), "the text is kept, only escaped"
    markdown = render_markdown(matrix, baseline=baseline)
    assert RAW not in markdown
    if place == "model id":
        html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
        assert HTML_ESCAPED in html.split('id="meta"')[0], "the row header shows it escaped"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown


def test_markdown_metacharacters_cannot_break_the_table() -> None:
    evil = "a|b`c\nd*e<f>"
    markdown = render_markdown(_matrix([_cell("core.text_input", "PASS", model=evil)]))
    row = next(line for line in markdown.splitlines() if line.startswith("| a"))
    assert row.startswith(r"| a\|b\`c d\*e&lt;f&gt; |")
    assert row.count("|") - row.count(r"\|") == 3


def test_markdown_gives_the_capability_table_the_reasons_and_the_changes() -> None:
    baseline = _matrix([_cell("core.a", "PASS"), _cell("tools.a", "PASS"), _cell("tools.b", "PASS")])
    cells = [_cell("core.a", "PASS"), _cell("tools.a", "PASS"), _cell("tools.b", "FAIL")]
    markdown = render_markdown(_matrix(cells), baseline)
    assert "| Model | core | tools |" in markdown
    assert "| model-a | ✓ works 1/1 | ◐ partly 1/2 |" in markdown
    assert "- **model-a**\n  - tools (partly 1/2): tools.b: FAIL: finding for tools.b" in markdown
    assert "### Changes since the baseline of 2026-11-24 16:13 UTC" in markdown
    assert "1 regressed, 0 improved, 0 changed, 0 added, 0 removed." in markdown
    assert "| regressed | prov | model-a | tools.b | ✓ PASS | ✗ FAIL | finding for tools.b |" in markdown


def test_a_changed_cell_says_why_in_markdown_unless_it_is_now_clean() -> None:
    """A regression in a step summary reads without opening the report; a PASS's note is no reason."""
    baseline = _matrix([_cell("core.a", "PASS"), _cell("core.b", "FAIL")])
    long = [{"rule": "r", "level": "MUST", "message": "x " * 200}]
    matrix = _matrix([_cell("core.a", "FAIL", findings=long), _cell("core.b", "PASS")])
    markdown = render_markdown(matrix, baseline)
    regressed = next(line for line in markdown.splitlines() if line.startswith("| regressed "))
    assert regressed.endswith(" | " + "x " * 79 + "x… |"), "one line, clipped"
    assert "| improved | prov | model-a | core.b | ✗ FAIL | ✓ PASS |  |" in markdown


def test_a_model_whose_groups_all_work_has_no_reasons() -> None:
    markdown = render_markdown(_matrix([_cell("core.a", "PASS")]))
    assert "No group has a probe that fails or deviates." in markdown


def test_baseline_marks_regressed_improved_added_and_removed_cells() -> None:
    baseline = _matrix([_cell("core.a", "PASS"), _cell("core.b", "FAIL"), _cell("core.gone", "PASS")])
    matrix = _matrix([_cell("core.a", "FAIL"), _cell("core.b", "PASS"), _cell("core.new", "PASS")])
    html = render_html(matrix, baseline)
    assert re.search(r'<td class="pc c s-fail d-regressed[ "][^>]*title="[^"]*baseline: PASS, regressed', html)
    assert re.search(r'<td class="pc c s-pass d-improved"[^>]*title="[^"]*baseline: FAIL, improved', html)
    assert "1 regressed" in html and "1 improved" in html and "1 added" in html and "1 removed" in html
    assert "<code>core.gone</code>" in html and "<code>core.new</code>" in html
    assert f'<a href="{cell_anchor("prov", "model-a", "core.a")}"><code>core.a</code></a>' in html, "its evidence"
    assert f'href="{cell_anchor("prov", "model-a", "core.gone")}"' not in html, "a removed cell has none"


def test_a_baseline_of_another_catalog_lists_a_bounded_number_of_changes() -> None:
    """Hand-made: a 53 MB baseline naming 100,000 cells this run does not have made a two-model run's
    matrix.html 22 MB, a row per removed cell; the counts stay whole, and `conformance diff` lists them all."""
    many = 3 * MAX_CHANGES
    baseline = _matrix([_cell("core.a", "PASS", model=f"gone-{i}") for i in range(many)])
    html = render_html(_matrix([_cell("core.a", "PASS")]), baseline)
    assert f"{many} removed" in html and f"Removed ({many})" in html
    assert html.count("gone-") == MAX_CHANGES
    assert f"and {many - MAX_CHANGES} more" in html


def test_markdown_lists_its_first_changes_and_says_where_the_rest_are() -> None:
    """Hand-made: a step summary stays short; past its list, it points to the page and to `conformance diff`."""
    many = LIST_LIMIT + 7
    baseline = _matrix([_cell(f"core.p{i}", "PASS") for i in range(many)])
    markdown = render_markdown(_matrix([_cell(f"core.p{i}", "FAIL") for i in range(many)]), baseline)
    assert sum(line.startswith("| regressed ") for line in markdown.splitlines()) == LIST_LIMIT
    assert "…and 7 more (matrix.html lists more; `conformance diff` lists all)." in markdown


def test_the_model_page_lists_every_probe_with_findings_latency_and_change(tmp_path: Path) -> None:
    baseline = _matrix([_cell("core.a", "PASS")])
    matrix = _matrix([_cell("core.a", "FAIL"), _cell("tools.b", "PASS")])
    _site(matrix, tmp_path, baseline=baseline)
    page = (tmp_path / model_page(slug("prov", "model-a"))).read_text(encoding="utf-8")
    assert "<code>core.a</code>" in page and "<code>tools.b</code>" in page
    assert "finding for core.a" in page and "finding for tools.b" in page
    assert "first byte 50.2 ms · total 51.5 ms" in page
    assert "regressed: was PASS" in page
    assert f'href="../matrix.html{cell_anchor("prov", "model-a", "core.a")}"' in page
    assert f'href="../{probe_page("core.a")}"' in page


def test_the_model_page_links_each_groups_reason_to_that_probes_evidence(tmp_path: Path) -> None:
    matrix = _matrix([_cell("tools.a", "PASS"), _cell("tools.b", "FAIL"), _cell("core.a", "PASS")])
    _site(matrix, tmp_path)
    page = (tmp_path / model_page(slug("prov", "model-a"))).read_text(encoding="utf-8")
    link = f'<a href="../matrix.html{cell_anchor("prov", "model-a", "tools.b")}" title="this probe\'s evidence">'
    assert f'<td class="reason">{link}tools.b: FAIL: finding for tools.b</a></td>' in page
    assert '<td class="reason"></td>' in page, "a group that works has no reason and no link"


def test_the_first_screen_says_what_k_of_n_deviates_claim_and_drift_mean() -> None:
    """Read without the docs: the key sits beside the legend, not behind a click."""
    html = render_html(_matrix([_cell("tools.a", "PASS", claim={"claim": "yes", "source": "catalog"})]))
    key = re.search(r'<p class="key" id="key">(.*?)</p>', html)
    assert key is not None and "<details" not in html[: html.index('<p class="key"')].split("</details>")[-1]
    text = re.sub(r"<[^>]+>", "", key.group(1))
    assert "k/n: k of its n decided probes work" in text
    assert "claim: what the provider documents" in text and "DRIFT: claim and observation disagree" in text


def test_each_group_verdict_says_what_it_means_beside_its_button_not_in_a_tooltip() -> None:
    html = render_html(_matrix([_cell("tools.a", "PASS")]))
    buttons = re.findall(r'<button type="button" class="lg" ([^>]*)>(.*?)</button>', html, re.S)
    meanings = [re.findall(r'<span class="meaning">([^<]*)</span>', inner) for _, inner in buttons]
    assert meanings == [[c.meaning] for c in CAPABILITIES.values()]
    assert all("title=" not in attributes for attributes, _ in buttons), "said once, where it is read"


def test_the_probe_page_shows_every_models_verdict_side_by_side(tmp_path: Path) -> None:
    matrix = _matrix([_cell("core.a", "FAIL", model="m1"), _cell("core.a", "PASS", model="m2")])
    _site(matrix, tmp_path)
    page = (tmp_path / probe_page("core.a")).read_text(encoding="utf-8")
    assert page.index(">m1<") < page.index(">m2<")
    assert "finding for core.a" in page
    assert '<span class="g">✗</span>FAIL</span> 1' in page and '<span class="g">✓</span>PASS</span> 1' in page
    assert f'href="../{model_page(slug("prov", "m2"))}"' in page


def test_file_names_of_ids_that_differ_only_in_punctuation_do_not_collide(tmp_path: Path) -> None:
    matrix = _matrix([_cell("core.a", "PASS", model="org/m"), _cell("core.a", "FAIL", model="org_m")])
    _site(matrix, tmp_path)
    assert len(list((tmp_path / "models").iterdir())) == 2
    assert len(list((tmp_path / "evidence").iterdir())) == 2
    assert model_page(slug("prov", "../../etc")).startswith("models/") and "/" not in model_page(slug("p", "../x"))[7:]
    assert not slug("-rf", "m").startswith("-") and not slug(".", "m").startswith(".")


def test_ids_whose_short_digests_collide_keep_a_page_each(tmp_path: Path) -> None:
    """Hand-made: two ids a hostile catalog could pick, their first 60 characters alike and the first eight hex
    digits of their digests too; one model's page and evidence overwrote the other's."""
    first, second = "m" * 60 + "26808", "m" * 60 + "77890"
    assert slug("prov", first) == slug("prov", second)  # the collision this test is about
    _site(_matrix([_cell("core.a", "PASS", model=first), _cell("core.a", "FAIL", model=second)]), tmp_path)
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "models").iterdir()]
    assert len(pages) == 2 and len(list((tmp_path / "evidence").iterdir())) == 2
    assert sorted("PASS" in p for p in pages) == [False, True]


def test_a_broken_matrix_is_read_without_a_crash() -> None:
    matrix = {
        "rows": ["x", {"provider": None, "model": 3}],
        "probes": [None, {"id": "core.a"}],
        "cells": [
            "junk",
            {"provider": "p", "model": "m", "probe": "core.a", "findings": ["plain", None, {"message": 1}]},
            {"provider": "p", "model": "m", "probe": "core.b", "claim": "yes", "latency": "x", "exchanges": [3]},
        ],
        "statuses": "PASS",
    }
    report = read_matrix(matrix)
    assert [c.status for c in report.cells.values()] == ["ERROR", "ERROR"], "a cell that cannot be read says so"
    unreadable = report.cells["p", "m", "core.a"].findings[0]
    assert unreadable.rule == UNREADABLE and "status: Field required" in unreadable.message
    assert "(status: Field required, and 1 more)" in report.cells["p", "m", "core.b"].reason
    assert len(report.problems) == 3, "the junk cell, the two rows and the column that cannot be read are counted"
    assert "cell [0] of matrix.json could not be read" in report.problems[0]
    html = render_html(matrix)
    assert "core.b" in html and "core.b" in render_junit(matrix) and "Unreadable" in html
    assert "| m | ! undecided |" in render_markdown(matrix)


ATTEMPTS = [{"status": "FAIL", "findings": []}, {"status": "PASS", "findings": []}]


def test_optional_cell_keys_are_rendered_when_present(tmp_path: Path) -> None:
    extra = {"claim": "yes", "drift": True, "flaky": True, "redirected": ["use core.b"], "attempts": ATTEMPTS}
    cell = _cell("core.a", "PASS", **extra)
    plain = _cell("core.b", "PASS", semantic_checks=False)
    html = render_html(_matrix([cell, plain]))
    assert '<span class="claim">claim yes</span><span class="drift">DRIFT</span>' in html
    assert "FLAKY" in html and 'title="use core.b">DEPRECATED' in html
    assert "semantic checks off in 1 of 2" in html and ">semantic off 1/2<" in html
    assert "_(semantic checks off in 1 of 2)_" in render_markdown(_matrix([cell, plain]))
    assert "_(semantic checks off)_" in render_markdown(_matrix([plain]))
    assert _evidence(_matrix([cell, plain]), tmp_path)[0]["attempts"] == ATTEMPTS
    assert "· **DRIFT**" in render_markdown(_matrix([cell, plain]))


def test_every_page_is_self_contained_and_parses_with_balanced_tags(tmp_path: Path) -> None:
    _site(_all_statuses(), tmp_path, baseline=_all_statuses())
    pages = list(tmp_path.rglob("*.html"))
    assert len(pages) == 1 + 1 + len(KNOWN) + 1
    for page in pages:
        html = page.read_text(encoding="utf-8")
        parser = _TagBalance()
        parser.feed(html)
        parser.close()
        assert parser.mismatches == [], page
        assert parser.stack == [], page
        assert not re.search(r"<link|\ssrc=|@import|url\(|https?://(?!127\.0\.0\.1)", html), page


def test_a_large_matrix_stays_small() -> None:
    statuses = list(KNOWN)
    cells = [
        _cell(f"f{p // 10}.probe_{p}", statuses[(m + p) % len(statuses)], model=f"org/model-{m}")
        for m in range(50)
        for p in range(60)
    ]
    html = render_html(_matrix(cells))
    assert len(html.encode("utf-8")) < 1_500_000
    assert html.count('class="pc c ') == 3000 and html.count('class="gc ') == 50 * 6
    assert len(render_markdown(_matrix(cells)).encode("utf-8")) < 100_000


def test_write_reports_writes_the_pages_the_evidence_and_the_summary(tmp_path: Path) -> None:
    paths = write_reports(_all_statuses(), tmp_path / "out")
    names = [p.relative_to(tmp_path / "out").as_posix() for p in paths]
    assert names[0] == "matrix.html" and names[-2:] == ["summary.md", "junit.xml"]
    assert {n.split("/")[0] for n in names[1:-2]} == {"models", "evidence", "probes"}
    assert all(p.read_text(encoding="utf-8") for p in paths)


def test_a_verdict_has_one_name_in_cells_legend_pages_and_summary(tmp_path: Path) -> None:
    """A cell, the legend, a model page and summary.md call one verdict by the same words beside the same glyph."""
    cells = [_cell("core.a", "PASS"), _cell("core.b", "NON-STRICT"), _cell("tools.a", "FAIL")]
    _site(_matrix(cells), tmp_path)
    html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    page = (tmp_path / model_page(slug("prov", "model-a"))).read_text(encoding="utf-8")
    markdown = (tmp_path / "summary.md").read_text(encoding="utf-8")
    named = re.compile(r'<span class="g">(.)</span>([^<]+)</span>')
    in_cells = dict(re.findall(r'<span class="cap"><span class="g">(.)</span><span class="nm">([^<]+)</span>', html))
    legend = dict(named.findall("".join(re.findall(r'<button type="button" class="lg".*?</button>', html, re.S))))
    on_page = dict(named.findall(page.split('<table class="groups">')[1].split("</table>")[0]))
    assert in_cells == {"≈": "deviates", "✗": "broken"}
    for glyph, name in in_cells.items():
        assert legend[glyph] == on_page[glyph] == name
        assert f"{glyph} {name} " in markdown and f"{glyph} {name}: " in markdown
    assert "works with deviations" not in html + page + markdown


def test_a_probe_titles_backticks_are_code_and_its_markup_stays_text(tmp_path: Path) -> None:
    """Titles are written in Markdown's inline code; they are escaped first, so a hostile one stays inert."""
    matrix = _matrix([_cell("core.a", "FAIL"), _cell("core.b", "PASS")])
    matrix["probes"][0]["title"] = f"{XSS} sends `tool_choice` and `a<b>`"
    matrix["probes"][1]["title"] = "an odd ` stays as written"
    _site(matrix, tmp_path)
    shown = f"{HTML_ESCAPED}&lt;/script&gt; sends <code>tool_choice</code> and <code>a&lt;b&gt;</code>"
    for page in (tmp_path / model_page(slug("prov", "model-a")), tmp_path / probe_page("core.a")):
        text = page.read_text(encoding="utf-8")
        assert RAW not in text and shown in text, page
    assert "an odd ` stays as written" in (tmp_path / probe_page("core.b")).read_text(encoding="utf-8")
    html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    tooltip = 'title="core.a: &lt;script&gt;alert(1)&lt;/script&gt; sends tool_choice and a&lt;b&gt;"'
    assert RAW not in html and tooltip in html


def test_a_findings_backticks_are_code_where_html_shows_it_plain_in_titles_and_its_markup_stays_text(
    tmp_path: Path,
) -> None:
    """Messages are written with Markdown's inline code, as titles are, and are shown the same way (escaped first)."""
    message = f"{XSS} expected only calls to `get_time`, not `<b>x</b>`"
    odd = "an odd ` stays as written"
    cells = [
        _cell("core.a", "FAIL", findings=[{"rule": "tools.calls", "level": "MUST", "message": message}]),
        _cell("core.b", "ACCEPTED", findings=[{"rule": "sampling.echo", "level": "INFO", "message": f"`{XSS}`"}]),
        _cell("core.c", "FAIL", findings=[{"rule": "tools.calls", "level": "MUST", "message": odd}]),
    ]
    _site(_matrix(cells), tmp_path)
    spans = "<code>get_time</code>, not <code>&lt;b&gt;x&lt;/b&gt;</code>"
    code = f"{HTML_ESCAPED}&lt;/script&gt; expected only calls to {spans}"
    model = (tmp_path / model_page(slug("prov", "model-a"))).read_text(encoding="utf-8")
    assert f'<code class="rule">tools.calls</code> {code}</li>' in model, "its findings"
    assert f'title="this probe\'s evidence">core.a: FAIL: {code}</a>' in model, "what keeps a group from green"
    assert f"{odd}</li>" in model
    probe = (tmp_path / probe_page("core.a")).read_text(encoding="utf-8")
    assert f'<td class="reason">{code}</td>' in probe
    note = (tmp_path / probe_page("core.b")).read_text(encoding="utf-8")
    assert f'<span class="nl">note</span> <code>{HTML_ESCAPED}&lt;/script&gt;</code></td>' in note
    html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    plain = "&lt;script&gt;alert(1)&lt;/script&gt; expected only calls to get_time, not &lt;b&gt;x&lt;/b&gt;"
    assert f'data-s="FAIL" tabindex="0" title="{plain}"' in html, "a title attribute has the backticks taken out"
    assert 'title="note: &lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert f'title="{odd}"' in html
    assert f"core.a: FAIL: {code}</span>" in html, "a group cell's description and tip"
    for text in (model, probe, note, html):
        assert RAW not in text
    evidence = {c["probe"]: c for c in evidence_data(tmp_path / evidence_script(slug("prov", "model-a")))["cells"]}
    assert evidence["core.a"]["title"] == message and evidence["core.a"]["findings"][0]["message"] == message
    assert "title" not in evidence["core.c"], "only a title with code spans is carried, for the panel to mark up"


def test_a_clean_cells_first_finding_is_shown_as_a_note_not_as_its_reason(tmp_path: Path) -> None:
    """A PASS or ACCEPTED cell has no reason: its INFO finding is a note, and says so wherever a reason would be."""
    note = [{"rule": "sampling.echo", "level": "INFO", "message": "temperature 0.3 was sent and the Response has none"}]
    cells = [
        _cell("core.a", "FAIL", model="m1"),
        _cell("core.a", "ACCEPTED", model="m2", findings=note),
        _cell("core.a", "PASS", model="m3", findings=note),
        _cell("core.a", "PASS", model="m4", findings=[]),
    ]
    _site(_matrix(cells), tmp_path)
    page = (tmp_path / probe_page("core.a")).read_text(encoding="utf-8")
    why = re.findall(r'<td class="(reason|note)">(.*?)</td>', page)
    labelled = '<span class="nl">note</span> temperature 0.3 was sent and the Response has none'
    assert why == [("reason", "finding for core.a"), ("note", labelled), ("note", labelled), ("reason", "")]
    html = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    assert 'data-s="ACCEPTED" tabindex="0" title="note: temperature 0.3 was sent' in html
    assert 'data-s="FAIL" tabindex="0" title="finding for core.a"' in html


def test_a_group_cells_reason_is_its_description_and_its_deciding_probe_is_marked() -> None:
    """Not a tooltip only: a keyboard, touch or screen reader user reaches it; the probe it names says so."""
    cells = [_cell("tools.a", "PASS"), _cell("tools.b", "FAIL"), _cell("tools.c", "FAIL"), _cell("core.a", "PASS")]
    html = render_html(_matrix(cells))
    tools = re.search(r'<td class="gc [^>]*data-g="0"[^>]*>', html)
    assert tools is not None and " title=" not in tools.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', tools.group(0))
    assert described is not None
    why = re.search(rf'<span class="why" id="{described.group(1)}">([^<]*)</span>', html)
    assert why is not None
    assert why.group(1) == "tools: partly, 1/3 work (✗ FAIL 2 · ✓ PASS 1). tools.b: FAIL: finding for tools.b"
    deciding = re.findall(r'<td class="pc c [^"]*\bdec\b[^"]*"[^>]*data-p="([^"]+)"[^>]*>(.*?)</td>', html)
    assert [(probe, "decides" in text) for probe, text in deciding] == [("tools.b", True)], "one per group, if any"
