"""The report in a real browser: headless Chromium opens matrix.html from a file, as someone would.

What only a browser can tell: the cells and legend are there once the page has run, clicking a cell
opens its evidence, a status filter dims the rest, and a 3000-cell page still reacts at once. Skipped
when Chromium is absent, except where CONFORMANCE_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.report import render_html
from conformance.report.html import cell_anchor
from conformance.report.view import KNOWN, number
from tests.browser import REQUIRE_ENV, Browser, find_chromium
from tests.replayed import replayed_run
from tests.test_report import _cell, _matrix

WIDTH, HEIGHT = 1400, 900


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"Chromium is required here ({REQUIRE_ENV}=1): apt-get install -y chromium")
        pytest.skip("Chromium not found (apt-get install -y chromium, or set CONFORMANCE_CHROMIUM)")
    with Browser(executable, tmp_path_factory.mktemp("chromium"), WIDTH, HEIGHT) as opened:
        yield opened


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out, matrix = replayed_run(tmp_path_factory.mktemp("replayed"))
    return out / "matrix.html", matrix


def _evidence_of(browser: Browser, selector: str) -> dict[str, Any]:
    """The evidence entry the page holds for the cell a selector picks."""
    value = browser.eval(
        "JSON.parse(document.getElementById('evidence').textContent)"
        f".cells[Number(document.querySelector({selector!r}).dataset.i)]"
    )
    assert isinstance(value, dict)
    return value


def test_the_replayed_matrix_renders_every_cell_the_legend_and_the_header(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    rows, probes = len(matrix["rows"]), len(matrix["probes"])
    assert browser.eval("document.querySelectorAll('#matrix tbody td.c').length") == rows * probes
    assert browser.eval("document.querySelectorAll('#matrix td.c[data-i]').length") == len(matrix["cells"])
    legend = browser.eval("Array.from(document.querySelectorAll('.legend .lg'), (b) => b.dataset.status)")
    assert legend == list(KNOWN) == matrix["statuses"]
    facts = dict(
        browser.eval(
            "Array.from(document.querySelectorAll('.facts div'), (d) => [d.children[0].textContent,"
            " d.children[1].textContent])"
        )
    )
    assert facts["Requests"] == number(matrix["requests"]) and facts["Tokens"] == number(matrix["tokens"])
    assert facts["Duration"].endswith(" s")
    latencies = browser.eval("Array.from(document.querySelectorAll('.rowh .lat'), (n) => n.textContent)")
    assert len(latencies) == rows and all(t.startswith("first byte ") and " · total " in t for t in latencies)
    assert browser.eval("document.getElementById('shown').textContent") == f"{rows} rows"


def test_clicking_a_cell_opens_its_evidence(browser: Browser, replayed: tuple[Path, dict[str, Any]]) -> None:
    page, _ = replayed
    browser.open(page.as_uri())
    assert browser.eval("document.getElementById('panel').hidden") is True
    selector = "td.c[data-s='FAIL'], td.c[data-s='ERROR'], td.c[data-s='IGNORED'], td.c[data-s='NON-STRICT']"
    expected = _evidence_of(browser, selector)
    assert expected["findings"], "a cell with findings is picked"
    browser.click(selector)
    assert browser.eval("getComputedStyle(document.getElementById('panel')).display") != "none"
    assert browser.eval("document.getElementById('panel').getBoundingClientRect().width") > 300
    panel = browser.eval("document.getElementById('panel-body').innerText")
    assert panel.splitlines()[0] == expected["probe"]
    assert expected["findings"][0]["message"].splitlines()[0][:80] in panel
    assert f"{expected['provider']} · {expected['model']}" in panel
    assert browser.eval(f"document.querySelector({selector!r}).classList.contains('sel')") is True
    assert browser.eval("location.hash").startswith("#cell=")
    browser.click("#panel-close")
    assert browser.eval("document.getElementById('panel').hidden") is True


def test_a_cell_anchor_opens_that_cells_evidence_on_load(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    """The link the pytest-html report gives each cell."""
    page, matrix = replayed
    cell = matrix["cells"][-1]
    browser.open(page.as_uri() + cell_anchor(cell["provider"], cell["model"], cell["probe"]))
    assert browser.eval("document.getElementById('panel').hidden") is False
    assert browser.eval("document.querySelector('#panel-body h2').textContent") == cell["probe"]
    assert browser.eval("document.querySelector('#panel-body .who').textContent").startswith(
        f"{cell['provider']} · {cell['model']} · "
    )


def test_a_status_filter_dims_the_other_cells_and_hides_rows_without_one(
    browser: Browser, replayed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    status = next(s for s in ("FAIL", "ERROR", "UNSUPPORTED", "PASS") if any(c["status"] == s for c in matrix["cells"]))
    browser.click(f".legend .lg[data-status='{status}']")
    state = browser.eval(
        "Array.from(document.querySelectorAll('#matrix tbody tr'), (tr) => ({"
        " shown: getComputedStyle(tr).display !== 'none',"
        " cells: Array.from(tr.querySelectorAll('td.c[data-s]'),"
        "   (td) => [td.dataset.s, Number(getComputedStyle(td).opacity)]) }))"
    )
    shown = [row for row in state if row["shown"]]
    assert shown and len(shown) == sum(1 for row in state if any(s == status for s, _ in row["cells"]))
    for row in shown:
        for cell_status, opacity in row["cells"]:
            assert (opacity == 1) if cell_status == status else (opacity < 0.5), (cell_status, opacity)
    assert (
        browser.eval("document.querySelector(`.lg[data-status='" + status + "']`).getAttribute('aria-pressed')")
        == "true"
    )
    shot = browser.screenshot(tmp_path / "filtered.png")
    _assert_png(shot, WIDTH, HEIGHT)
    browser.click("#reset")
    assert browser.eval("document.querySelectorAll('#matrix td.c.dim, #matrix tr.off').length") == 0


def test_the_model_filter_matches_provider_and_model_names_only(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    shown = "Array.from(document.querySelectorAll('#matrix tbody tr:not(.off) .model'), (n) => n.textContent)"
    search = (
        "(() => {{ const box = document.getElementById('model-filter'); box.value = {!r};"
        " box.dispatchEvent(new Event('input')); }})()"
    )
    first = matrix["rows"][0]
    browser.eval(search.format(f"{first['provider']} {first['model']}"))
    assert browser.eval(shown) == [
        r["model"] for r in matrix["rows"] if r["provider"] == first["provider"] and first["model"] in r["model"]
    ]
    browser.eval(search.format("first byte"))
    assert browser.eval(shown) == [], "the latency line in the row header is not searched"


def test_a_50_by_60_matrix_loads_and_filters_quickly(browser: Browser, tmp_path: Path) -> None:
    """A smoke check with generous bounds, not a benchmark."""
    statuses = list(KNOWN)
    cells = [
        _cell(f"f{p // 10}.probe_{p}", statuses[(m + p) % len(statuses)], model=f"org/model-{m}")
        for m in range(50)
        for p in range(60)
    ]
    page = tmp_path / "big.html"
    page.write_text(render_html(_matrix(cells)), encoding="utf-8")
    started = time.monotonic()
    browser.open(page.as_uri())
    loaded = time.monotonic() - started
    assert browser.eval("document.querySelectorAll('#matrix td.c[data-i]').length") == 3000
    started = time.monotonic()
    browser.click(".legend .lg[data-status='FAIL']")
    dimmed = browser.eval("document.querySelectorAll('#matrix td.c.dim').length")
    filtered = time.monotonic() - started
    assert dimmed == 3000 - sum(1 for c in cells if c["status"] == "FAIL")
    assert loaded < 10 and filtered < 5, (loaded, filtered)


def _assert_png(path: Path, width: int, height: int) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and struct.unpack(">II", data[16:24]) == (width, height)
