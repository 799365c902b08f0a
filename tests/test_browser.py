"""The report in a real browser: headless Chromium opens matrix.html from a file, as someone would.

Used as a person would: the first screen of models x feature groups, a group opened in place to its
probes, a cell's evidence loaded from its sidecar file, a filter by model or by capability, a sort, and
forty models on a 1440 px screen without horizontal scrolling, with the widest group open too. Skipped
when Chromium is absent, except where CONFORMANCE_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.probes import FEATURES, PROBES
from conformance.report import render_html
from conformance.report.html import cell_anchor, model_page, probe_page, slug
from conformance.report.view import CAPABILITIES, KNOWN, number
from tests.browser import REQUIRE_ENV, Browser, find_chromium
from tests.replayed import replayed_run
from tests.test_report import _cell, _exchange, _matrix, _site

WIDTH, HEIGHT = 1440, 900


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


GROUPS = (*FEATURES, "sdk")  # every feature group the suite probes, and the derived sdk column


def _visible(browser: Browser, selector: str) -> int:
    return int(
        browser.eval(
            f"Array.from(document.querySelectorAll({selector!r})).filter((n) => getComputedStyle(n).display !== 'none')"
            ".length"
        )
    )


def _wait_for_evidence(browser: Browser) -> None:
    deadline = time.monotonic() + 10
    while browser.eval("document.getElementById('panel').dataset.loaded") != "true":
        assert time.monotonic() < deadline, browser.eval("document.getElementById('panel-body').innerText")
        time.sleep(0.02)


def test_the_first_screen_shows_one_verdict_per_model_and_group(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    rows, groups = len(matrix["rows"]), len(dict.fromkeys(p["feature"] for p in matrix["probes"]))
    assert _visible(browser, "#matrix tbody td.gc") == rows * groups
    assert _visible(browser, "#matrix td.pc") == 0, "probes stay folded until a group is opened"
    assert browser.eval("document.querySelectorAll('#matrix td.pc[data-p]').length") == len(matrix["cells"])
    legend = browser.eval("Array.from(document.querySelectorAll('.legend .lg'), (b) => b.dataset.cap)")
    assert legend == list(CAPABILITIES)
    statuses = browser.eval("Array.from(document.querySelectorAll('.statuses li'), (li) => li.dataset.status)")
    assert statuses == list(KNOWN) == matrix["statuses"]
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
    assert browser.eval("document.getElementById('shown').textContent") == f"{rows} models"


def test_a_group_expands_in_place_to_its_probes_and_folds_back(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    feature = "tools"
    index = browser.eval("Array.from(document.querySelectorAll('.exp'), (b) => b.textContent)").index(feature)
    probes = [p["id"] for p in matrix["probes"] if p["feature"] == feature]
    browser.click(f".exp[data-g='{index}']")
    assert browser.eval(f"document.querySelector(\".exp[data-g='{index}']\").getAttribute('aria-expanded')") == "true"
    assert _visible(browser, f"#matrix td.pc[data-g='{index}']") == len(matrix["rows"]) * len(probes)
    assert _visible(browser, "#matrix td.pc") == len(matrix["rows"]) * len(probes), "only that group opened"
    headers = browser.eval(
        f"Array.from(document.querySelectorAll(\"th.ph[data-g='{index}'] a\"), (a) => a.title.split(':')[0])"
    )
    assert headers == probes
    order = browser.eval(
        "Array.from(document.querySelector('#matrix thead tr').children)"
        ".filter((th) => getComputedStyle(th).display !== 'none').map((th) => th.className.split(' ')[0])"
    )
    at = order.index("gh", 1 + index)
    assert order[at + 1 : at + 1 + len(probes)] == ["pc"] * len(probes), "the probes open right beside their group"
    browser.click(f"#matrix tbody tr:first-child td.gc[data-g='{index}']")
    assert _visible(browser, "#matrix td.pc") == 0, "clicking the group's cell folds it again"


def test_opening_a_cell_loads_its_evidence_from_its_sidecar(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    assert browser.eval("document.getElementById('panel').hidden") is True
    assert browser.eval("document.querySelectorAll('script[src]').length") == 0, "no evidence until a cell opens"
    cell = next(c for c in matrix["cells"] if c["status"] in ("FAIL", "IGNORED") and c["findings"])
    row = matrix["rows"].index({"provider": cell["provider"], "model": cell["model"]})
    probe = json.dumps(cell["probe"])
    group = browser.eval(
        f"document.querySelectorAll('#matrix tbody tr')[{row}].querySelector('td.pc[data-p={probe}]').dataset.g"
    )
    browser.click(f".exp[data-g='{group}']")
    selector = f"#matrix tbody tr:nth-child({row + 1}) td.pc[data-p='{cell['probe']}']"
    browser.click(selector)
    assert browser.eval("getComputedStyle(document.getElementById('panel')).display") != "none"
    _wait_for_evidence(browser)
    panel = browser.eval("document.getElementById('panel-body').innerText")
    assert panel.splitlines()[0] == cell["probe"]
    assert f"{cell['provider']} · {cell['model']}" in panel
    assert cell["findings"][0]["message"].splitlines()[0][:80] in panel
    assert "Exchange 1 of " in panel and "Request body" in panel
    assert browser.eval("document.querySelectorAll('script[src]').length") == 1
    assert browser.eval(f"document.querySelector({selector!r}).classList.contains('sel')") is True
    assert browser.eval("location.hash") == cell_anchor(cell["provider"], cell["model"], cell["probe"])
    browser.click("#panel-close")
    assert browser.eval("document.getElementById('panel').hidden") is True


def test_a_cell_anchor_opens_that_cells_evidence_on_load(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    """The link the pytest-html report and the per-model and per-probe pages give each cell."""
    page, matrix = replayed
    cell = matrix["cells"][-1]
    browser.open(page.as_uri() + cell_anchor(cell["provider"], cell["model"], cell["probe"]))
    _wait_for_evidence(browser)
    assert browser.eval("document.querySelector('#panel-body h2').textContent") == cell["probe"]
    assert browser.eval("document.querySelector('#panel-body .who').textContent").startswith(
        f"{cell['provider']} · {cell['model']} · "
    )


def test_the_model_filter_matches_provider_and_model_names_only(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    shown = "Array.from(document.querySelectorAll('#matrix tbody tr:not(.off) .model'), (n) => n.textContent)"
    first = matrix["rows"][0]
    browser.click("#model-filter")
    browser.call("Input.insertText", {"text": f"{first['provider']} {first['model']}"})
    assert browser.eval(shown) == [
        r["model"] for r in matrix["rows"] if r["provider"] == first["provider"] and first["model"] in r["model"]
    ]
    assert browser.eval("document.getElementById('shown').textContent") == f"1 of {len(matrix['rows'])} models"
    browser.eval("document.getElementById('model-filter').value = 'first byte'")
    browser.eval("document.getElementById('model-filter').dispatchEvent(new Event('input'))")
    assert browser.eval(shown) == [], "the latency line in the row header is not searched"


def test_a_capability_filter_dims_other_groups_and_hides_rows_without_one(
    browser: Browser, replayed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, _ = replayed
    browser.open(page.as_uri())
    caps = browser.eval("Array.from(document.querySelectorAll('td.gc'), (td) => td.dataset.cap)")
    wanted = next(c for c in ("broken", "partly", "works") if c in caps)
    browser.click(f".legend .lg[data-cap='{wanted}']")
    state = browser.eval(
        "Array.from(document.querySelectorAll('#matrix tbody tr'), (tr) => ({"
        " shown: getComputedStyle(tr).display !== 'none',"
        " cells: Array.from(tr.querySelectorAll('td.gc'),"
        "   (td) => [td.dataset.cap, Number(getComputedStyle(td).opacity)]) }))"
    )
    shown = [row for row in state if row["shown"]]
    assert shown and len(shown) == sum(1 for row in state if any(c == wanted for c, _ in row["cells"]))
    for row in shown:
        for cap, opacity in row["cells"]:
            assert (opacity == 1) if cap == wanted else (opacity < 0.5), (cap, opacity)
    shot = browser.screenshot(tmp_path / "filtered.png")
    _assert_png(shot, WIDTH, HEIGHT)
    browser.click("#reset")
    assert browser.eval("document.querySelectorAll('#matrix td.dim, #matrix tr.off').length") == 0


def test_sorting_by_a_group_puts_the_best_verdicts_first_and_again_reverses(browser: Browser, tmp_path: Path) -> None:
    cells = [
        _cell("tools.a", status, model=model)
        for model, status in (("m-broken", "FAIL"), ("m-works", "PASS"), ("m-partly", "PASS"), ("m-partly", "FAIL"))
    ]
    cells[2]["probe"], cells[3]["probe"] = "tools.a", "tools.b"
    cells.append(_cell("tools.b", "PASS", model="m-works"))
    cells.append(_cell("tools.b", "FAIL", model="m-broken"))
    page = tmp_path / "matrix.html"
    page.write_text(render_html(_matrix(cells)), encoding="utf-8")
    browser.open(page.as_uri())
    order = "Array.from(document.querySelectorAll('#matrix tbody .model'), (n) => n.textContent)"
    assert browser.eval(order) == ["m-broken", "m-works", "m-partly"], "as the matrix lists them"
    browser.click(".sort[data-sort='0']")
    assert browser.eval(order) == ["m-works", "m-partly", "m-broken"]
    assert browser.eval("document.querySelector('th.gh').getAttribute('aria-sort')") == "descending"
    browser.click(".sort[data-sort='0']")
    assert browser.eval(order) == ["m-broken", "m-partly", "m-works"]
    browser.click(".sort[data-sort='model']")
    assert browser.eval(order) == ["m-broken", "m-partly", "m-works"]
    assert browser.eval("document.querySelector('th.corner').getAttribute('aria-sort')") == "ascending"


def test_forty_models_fit_a_1440_px_screen_without_horizontal_scrolling(browser: Browser, tmp_path: Path) -> None:
    statuses = list(KNOWN)
    cells = [
        _cell(
            f"{GROUPS[p % len(GROUPS)]}.probe_{p}",
            statuses[(m + p) % len(statuses)],
            model=f"Meta-Llama-3_3-70B-Instruct-{m:02d}",
        )
        for m in range(40)
        for p in range(82)
    ]
    page = tmp_path / "forty.html"
    page.write_text(render_html(_matrix(cells)), encoding="utf-8")
    started = time.monotonic()
    browser.open(page.as_uri())
    loaded = time.monotonic() - started
    assert browser.eval("window.innerWidth") == WIDTH
    assert browser.eval("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")
    assert _visible(browser, "td.gc") == 40 * len(GROUPS)
    assert loaded < 10, "a smoke check with a generous bound, not a benchmark"


def test_one_open_group_of_sixteen_probes_fits_a_1440_px_screen_beside_forty_models(
    browser: Browser, tmp_path: Path
) -> None:
    """The widest group opened: its probes narrow, the other groups fold to a strip, nothing scrolls sideways."""
    widest = max(FEATURES, key=lambda feature: sum(1 for p in PROBES if p.feature == feature))
    probes = [p.id for p in PROBES if p.feature == widest]
    assert len(probes) >= 16
    statuses = list(KNOWN)
    cells = [
        _cell(
            probe,
            statuses[(m + p) % len(statuses)],  # every column has every status, the longest names with them
            model=f"Meta-Llama-3_3-70B-Instruct-{m:02d}",
            **({"claim": {"claim": "yes", "source": "catalog"}, "drift": True} if (m + p) % 5 == 0 else {}),
        )
        for m in range(40)
        for p, probe in enumerate([*probes, *(f"{g}.probe_{i}" for g in GROUPS if g != widest for i in range(3))])
    ]
    page = tmp_path / "widest.html"
    page.write_text(render_html(_matrix(cells)), encoding="utf-8")
    browser.open(page.as_uri())
    index = browser.eval("Array.from(document.querySelectorAll('.exp'), (b) => b.textContent)").index(widest)
    browser.click(f".exp[data-g='{index}']")
    assert _visible(browser, "td.pc") == 40 * len(probes) and _visible(browser, "td.gc") == 40 * len(GROUPS)
    main = "document.querySelector('main')"
    assert browser.eval(f"{main}.scrollWidth <= {main}.clientWidth"), browser.eval(f"{main}.scrollWidth")
    labels = browser.eval(f"Array.from(document.querySelectorAll(\"th.ph[data-g='{index}'] a\"), (a) => a.ariaLabel)")
    assert labels == probes, "a narrow header still names its probe in full"
    browser.click("#collapse-all")
    assert browser.eval("document.querySelectorAll('#matrix.opened, #matrix .open').length") == 0


def _assert_png(path: Path, width: int, height: int) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and struct.unpack(">II", data[16:24]) == (width, height)


def test_the_replayed_report_of_every_group_fits_a_1440_px_screen(
    browser: Browser, replayed: tuple[Path, dict[str, Any]]
) -> None:
    """Every feature group the suite has, with real reasons and claims, and no horizontal scrolling."""
    page, matrix = replayed
    browser.open(page.as_uri())
    assert browser.eval("document.querySelectorAll('thead th.gh').length") == len(
        {c["feature"] for c in matrix["cells"]}
    )
    assert browser.eval("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")


def test_evidence_lays_json_out_keeping_every_token_as_sent(browser: Browser, tmp_path: Path) -> None:
    """Laid out when shown: a re-serialisation would turn 1.0e2 into 100 and merge the duplicate key."""
    sent = '{"n": 1.0e2, "a": 1, "a": [], "s": "x,:{}", "o": {"k": [true, null]}}'
    cells = [_cell("core.a", "FAIL", exchanges=[_exchange(body=sent)]), _cell("core.b", "FAIL")]
    cells[1]["exchanges"][0]["request"]["body"] = '{"cut": "short'
    _site(_matrix(cells), tmp_path)
    shown = []
    for probe in ("core.a", "core.b"):
        browser.open((tmp_path / "matrix.html").as_uri())
        browser.click(".exp[data-g='0']")
        browser.click(f"#matrix tbody tr:nth-child(1) td.pc[data-p='{probe}']")
        _wait_for_evidence(browser)
        shown.append(browser.eval("Array.from(document.querySelectorAll('#panel-body pre'), (n) => n.textContent)"))
    request, response = shown[0]
    assert request == '{\n  "model": "m",\n  "input": "Say hello."\n}'
    laid = ["{", '  "n": 1.0e2,', '  "a": 1,', '  "a": [],', '  "s": "x,:{}",', '  "o": {', '    "k": [']
    assert response.splitlines() == [*laid, "      true,", "      null", "    ]", "  }", "}"]
    assert shown[1][0] == '{"cut": "short', "text that is not JSON is shown as it is"


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("packed", "This model's evidence file is damaged: `conformance report` on the run's folder writes it again."),
        ("missing", "Cannot load evidence/"),
    ],
)
def test_a_damaged_or_missing_evidence_file_is_said_as_it_is(
    damage: str, said: str, browser: Browser, tmp_path: Path
) -> None:
    """Hand-made: a sidecar whose packed cells are not gzipped JSON in base64 said it could not be loaded and that
    the files sit beside the page, which sent the reader looking for a file that was there."""
    _site(_matrix([_cell("core.a", "FAIL")]), tmp_path)
    (sidecar,) = (tmp_path / "evidence").iterdir()
    if damage == "packed":
        text = sidecar.read_text(encoding="utf-8")
        packed = json.loads(text[text.index("(") + 1 : text.rindex(")")])["cells"]
        sidecar.write_text(text.replace(packed, "A" * 40), encoding="utf-8")
    else:
        sidecar.unlink()
    browser.open((tmp_path / "matrix.html").as_uri())
    browser.click(".exp[data-g='0']")
    browser.click("#matrix tbody tr:nth-child(1) td.pc[data-p='core.a']")
    deadline = time.monotonic() + 10
    while not browser.eval("document.querySelector('#panel-body .err')?.textContent ?? ''"):
        assert time.monotonic() < deadline, browser.eval("document.getElementById('panel-body').innerText")
        time.sleep(0.02)
    assert browser.eval("document.querySelector('#panel-body .err').textContent").startswith(said)


def _press(browser: Browser, key: str, code: int) -> None:
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code})


def test_the_keyboard_opens_a_group_and_a_cells_evidence_and_escape_comes_back(
    browser: Browser, tmp_path: Path
) -> None:
    """Focus follows the evidence into its panel, so Tab reads it next, and returns to the cell on Escape."""
    _site(_matrix([_cell("core.a", "FAIL"), _cell("core.b", "PASS")]), tmp_path)
    browser.open((tmp_path / "matrix.html").as_uri())
    browser.eval("document.querySelector('td.gc').focus()")
    _press(browser, "Enter", 13)
    assert browser.eval("document.querySelector('.exp').getAttribute('aria-expanded')") == "true"
    browser.eval("document.querySelector(\"td.pc[data-p='core.a']\").focus()")
    _press(browser, "Enter", 13)
    _wait_for_evidence(browser)
    assert browser.eval("document.activeElement.id") == "panel"
    _press(browser, "Escape", 27)
    assert browser.eval("document.getElementById('panel').hidden") is True
    assert browser.eval("document.activeElement.dataset.p") == "core.a"


def test_a_regressed_cell_in_the_baseline_list_opens_its_evidence(browser: Browser, tmp_path: Path) -> None:
    baseline = _matrix([_cell("core.a", "PASS"), _cell("tools.b", "PASS")])
    _site(_matrix([_cell("core.a", "PASS"), _cell("tools.b", "FAIL")]), tmp_path, baseline=baseline)
    browser.open((tmp_path / "matrix.html").as_uri())
    browser.click(".diff summary")
    browser.click(".diff .changes a")
    _wait_for_evidence(browser)
    assert browser.eval("document.querySelector('#panel-body h2').textContent") == "tools.b"
    assert browser.eval("document.querySelector('td.pc.sel').dataset.p") == "tools.b"
    assert _visible(browser, "#matrix td.pc") == 1, "its group opened"


def test_the_legend_says_what_each_verdict_means_without_hovering_above_the_first_rows(
    browser: Browser, replayed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, matrix = replayed
    browser.open(page.as_uri())
    shown = browser.eval(
        "Array.from(document.querySelectorAll('.legend .lg'), (b) => { const m = b.querySelector('.meaning');"
        " const r = m ? m.getBoundingClientRect() : null; return [b.dataset.cap, m ? m.textContent : null,"
        " !!r && r.width > 0 && r.top >= 0 && r.bottom <= innerHeight"
        " && getComputedStyle(m).visibility === 'visible']; })"
    )
    assert shown == [[c.name, c.meaning, True] for c in CAPABILITIES.values()]
    rows = min(4, len(matrix["rows"]))
    bottoms = browser.eval(
        "Array.from(document.querySelectorAll('#matrix tbody tr'), (tr) => tr.getBoundingClientRect().bottom)"
        f".slice(0, {rows})"
    )
    assert len(bottoms) == rows and max(bottoms) <= HEIGHT, "the first models stay on the first screen"
    _assert_png(browser.screenshot(tmp_path / "first.png"), WIDTH, HEIGHT)


def test_a_findings_backticks_show_as_code_in_the_tip_and_the_panel_and_its_markup_as_text(
    browser: Browser, tmp_path: Path
) -> None:
    message = (
        "<script>document.title='owned'</script> expected only calls to `get_time`, not `<img src=x onerror=alert(1)>`"
    )
    plain = message.replace("`", "")
    findings = [{"rule": "tools.calls", "level": "MUST", "message": message}]
    _site(_matrix([_cell("core.a", "FAIL", findings=findings), _cell("core.b", "PASS")]), tmp_path)
    browser.open((tmp_path / "matrix.html").as_uri())
    assert browser.eval("document.querySelector(\"td.pc[data-p='core.a']\").title") == plain, "a title is plain text"
    codes = ["<code>get_time</code>", "<code>&lt;img src=x onerror=alert(1)&gt;</code>"]
    browser.eval("document.querySelector('td.gc').focus()")
    tip = "document.getElementById('tip')"
    assert browser.eval(f"Array.from({tip}.children, (n) => n.outerHTML)") == codes
    assert browser.eval(f"{tip}.textContent").endswith(f"core.a: FAIL: {plain}")
    browser.click(".exp[data-g='0']")
    browser.click("td.pc[data-p='core.a']")
    _wait_for_evidence(browser)
    for where in ("#panel-body .reason", "#panel-body .findings td:nth-child(3)"):
        assert browser.eval(f"document.querySelector({where!r}).textContent") == plain, where
        assert browser.eval(f"Array.from(document.querySelector({where!r}).children, (n) => n.outerHTML)") == codes
    assert browser.eval("document.title") != "owned" and browser.eval("document.querySelectorAll('img').length") == 0


def test_a_probe_pages_title_is_as_large_as_a_model_pages(browser: Browser, tmp_path: Path) -> None:
    _site(_matrix([_cell("core.a", "FAIL")]), tmp_path)
    title = "document.querySelector('.pagetitle code') ?? document.querySelector('.pagetitle')"
    size = f"getComputedStyle({title}).fontSize"
    browser.open((tmp_path / probe_page("core.a")).as_uri())
    probe = browser.eval(size)
    browser.open((tmp_path / model_page(slug("prov", "model-a"))).as_uri())
    assert probe == browser.eval(size) == "18px"


def test_the_evidence_panel_shows_a_titles_backticks_as_code_and_its_markup_as_text(
    browser: Browser, tmp_path: Path
) -> None:
    matrix = _matrix([_cell("core.a", "FAIL")])
    matrix["probes"][0]["title"] = "<script>document.title='owned'</script> sends `tool_choice`"
    _site(matrix, tmp_path)
    browser.open((tmp_path / "matrix.html").as_uri())
    browser.click(".exp[data-g='0']")
    browser.click("td.pc[data-p='core.a']")
    _wait_for_evidence(browser)
    title = "document.querySelector('#panel-body h2').nextElementSibling"
    assert browser.eval(f"{title}.textContent") == "<script>document.title='owned'</script> sends tool_choice"
    assert browser.eval(f"Array.from({title}.children, (n) => n.outerHTML)") == ["<code>tool_choice</code>"]
    assert browser.eval("document.title") != "owned"


def test_the_evidence_panel_shows_a_clean_cells_finding_as_a_note(browser: Browser, tmp_path: Path) -> None:
    note = [{"rule": "sampling.echo", "level": "INFO", "message": "temperature 0.3 was sent and the Response has none"}]
    _site(_matrix([_cell("core.a", "ACCEPTED", findings=note), _cell("core.b", "FAIL")]), tmp_path)
    shown = {}
    for probe in ("core.a", "core.b"):
        browser.open((tmp_path / "matrix.html").as_uri())
        browser.click(".exp[data-g='0']")
        browser.click(f"td.pc[data-p='{probe}']")
        _wait_for_evidence(browser)
        line = "document.querySelector('#panel-body .statusline').nextElementSibling"
        shown[probe] = browser.eval(f"[{line}.className, {line}.textContent]")
    assert shown == {
        "core.a": ["note", "note: temperature 0.3 was sent and the Response has none"],
        "core.b": ["reason", "finding for core.b"],
    }


def test_the_evidence_panel_links_to_the_models_page_and_the_probes_page(browser: Browser, tmp_path: Path) -> None:
    _site(_matrix([_cell("core.a", "FAIL"), _cell("core.a", "PASS", model="model-b")]), tmp_path)
    browser.open((tmp_path / "matrix.html").as_uri())
    browser.click(".exp[data-g='0']")
    browser.click("#matrix tbody tr:nth-child(2) td.pc[data-p='core.a']")
    _wait_for_evidence(browser)
    links = browser.eval("Array.from(document.querySelectorAll('#panel-body .pages a'), (a) => [a.text, a.href])")
    assert links == [
        ["model-b: every probe", (tmp_path / model_page(slug("prov", "model-b"))).as_uri()],
        ["core.a: every model", (tmp_path / probe_page("core.a")).as_uri()],
    ]
    browser.open(links[0][1])
    assert browser.eval("document.querySelector('.pagetitle').textContent") == "model-b", "it opens from file://"


def _description(browser: Browser, selector: str) -> str:
    """What a screen reader announces for the element beside its name: its accessible description."""
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    (ax, *_) = browser.call("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})["nodes"]
    return str(ax.get("description", {}).get("value", ""))


def test_a_group_cells_reason_shows_on_keyboard_focus_and_its_deciding_probe_is_marked(
    browser: Browser, tmp_path: Path
) -> None:
    """Reachable without a mouse: focus (a tap focuses too) shows it beside the cell; it is the description too."""
    cells = [_cell(f"{g}.a", "PASS") for g in GROUPS] + [_cell("core.b", "FAIL"), _cell("sdk.b", "IGNORED")]
    _site(_matrix(cells), tmp_path)
    browser.open((tmp_path / "matrix.html").as_uri())
    tip = "document.getElementById('tip')"
    assert browser.eval(f"{tip}.hidden") is True
    reason = "core: partly, 1/2 work (✓ PASS 1 · ✗ FAIL 1). core.b: FAIL: finding for core.b"
    assert _description(browser, "td.gc[data-g='0']") == reason
    for _ in range(60):
        _press(browser, "Tab", 9)
        if browser.eval("document.activeElement.matches('td.gc')"):
            break
    assert browser.eval("document.activeElement.dataset.g") == "0"
    assert browser.eval(f"[{tip}.hidden, {tip}.textContent]") == [False, reason]
    box = browser.eval(f"(({{left, right, top, bottom}}) => [left, right, top, bottom])({tip}.getBoundingClientRect())")
    assert 0 <= box[0] < box[1] <= WIDTH and 0 <= box[2] < box[3] <= HEIGHT, "beside the cell, on screen"
    _press(browser, "Enter", 13)
    assert _visible(browser, "td.pc.dec") == 1
    assert browser.eval("document.querySelector('td.pc.dec').dataset.p") == "core.b"
    assert "decides" in browser.eval("document.querySelector('td.pc.dec').textContent")
    browser.eval("document.querySelector('td.pc.dec').click()")
    _wait_for_evidence(browser)
    statusline = "Array.from(document.querySelector('#panel-body .statusline').children, (n) => n.textContent)"
    assert browser.eval(statusline) == ["✗FAIL", "decides the core verdict"]
    browser.click("#panel-close")
    browser.eval("document.querySelector(\"td.gc[data-g='0']\").focus()")
    _press(browser, "Enter", 13)
    last = len(GROUPS) - 1
    browser.eval(f"document.querySelector(\"td.gc[data-g='{last}']\").focus()")
    assert browser.eval(f"{tip}.textContent").startswith("sdk: partly, 1/2 work")
    assert browser.eval(f"{tip}.getBoundingClientRect().right") <= WIDTH, "kept on screen at the right edge"
    assert browser.eval("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")
    _press(browser, "Escape", 27)
    assert browser.eval(f"{tip}.hidden") is True, "dismissed without moving focus"
