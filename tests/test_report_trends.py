"""The row header's latency and PASS trend, and a cell's documented claim, as the HTML page shows them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conformance.report import render_html, write_reports
from tests.test_report import _cell, _exchange, _matrix


def _row_headers(html: str) -> dict[str, str]:
    """Each row header's markup, by model."""
    headers = re.findall(r'<th class="rowh".*?</th>', html, re.DOTALL)
    return {re.search(r'<a class="model"[^>]*>(.*?)</a>', h).group(1): h for h in headers}  # type: ignore[union-attr]


def _run(passes: dict[str, int], total: int = 4) -> dict[str, Any]:
    """A matrix where each model passes the first `n` of `total` probes and fails the rest."""
    return _matrix(
        [
            _cell(f"core.p{i}", "PASS" if i < n else "FAIL", model=model)
            for model, n in passes.items()
            for i in range(total)
        ]
    )


def test_the_row_header_shows_the_median_latency_of_the_models_exchanges() -> None:
    slow = [_exchange(elapsed_ms=e, first_byte_ms=f) for e, f in ((10.0, 1.0), (30.0, 2.0), (2500.0, 100.0))]
    cells = [
        _cell("core.a", "PASS", model="m", exchanges=slow[:2]),
        _cell("core.b", "PASS", model="m", exchanges=[slow[2], _exchange(elapsed_ms=float("nan"), first_byte_ms=None)]),
        _cell("core.a", "NOT RUN", model="idle", exchanges=[]),
    ]
    rows = _row_headers(render_html(_matrix(cells)))
    assert (
        '<span class="lat" title="median over this model&#39;s 4 exchanges: time to first byte, and total time">'
        "first byte 2.0 ms · total 30.0 ms</span>" in rows["m"]
    )
    assert 'class="lat"' not in rows["idle"], "no exchange, no latency"


def test_history_draws_a_pass_trend_per_model_with_a_gap_where_it_was_absent() -> None:
    history = [_run({"a": 1}), _run({"a": 2, "b": 4})]
    html = render_html(_run({"a": 4, "b": 3}), history=history)
    rows = _row_headers(html)
    label = "PASS cells over the last 3 runs, oldest first: 1, 2, 4"
    assert (
        f'<svg class="spark" width="64" height="16" viewBox="0 0 64 16" role="img" aria-label="{label}">' in rows["a"]
    )
    assert '<polyline points="2.0,11.0 32.0,8.0 62.0,2.0"/>' in rows["a"], "scaled to the row's 4 cells"
    assert '<circle cx="62.0" cy="2.0" r="2"/>' in rows["a"]
    assert "oldest first: –, 4, 3" in rows["b"]
    assert '<polyline points="32.0,2.0 62.0,5.0"/>' in rows["b"], "the run it was absent from is a gap"


def test_no_history_no_sparkline(tmp_path: Path) -> None:
    assert "<svg" not in render_html(_run({"a": 1}))
    write_reports(_run({"a": 1}), tmp_path, history=[_run({"a": 0})])
    assert "oldest first: 0, 1" in (tmp_path / "matrix.html").read_text(encoding="utf-8")


def test_a_documented_claim_is_shown_with_its_source_and_an_unknown_one_is_not() -> None:
    cells = [
        _cell("core.a", "FAIL", claim={"claim": "yes", "source": "profile"}, drift=True),
        _cell("core.b", "PASS", claim={"claim": "unknown", "source": ""}, drift=False),
    ]
    html = render_html(_matrix(cells))
    assert '<span class="claim" title="claimed by profile">claim yes</span><span class="drift">DRIFT</span>' in html
    assert html.count('class="claim"') == 2, "the probe's cell, and its group's"
    assert '<span class="claim">claim yes</span><span class="drift">DRIFT</span></span><span class="why"' in html
    assert "{&#39;claim&#39;" not in html and "{'claim'" not in html
