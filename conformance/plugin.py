"""pytest plugin: the same cells as `conformance run`, as pytest items (one per model x probe).

It stays silent unless a `--conformance-*` option is given, so it never changes another project's
test run. Cells run through conformance.runner exactly as the CLI's do; under pytest-xdist each
worker appends its cells to the shared results.jsonl and the controller renders the matrix once.
Outcomes follow the status table (conformance.evidence.STATUSES): PASS, ACCEPTED and NON-STRICT pass;
UNSUPPORTED and IGNORED are xfail (a known gap, not a suite failure); NOT RUN skips; FAIL and ERROR
fail, with the findings as the failure text.
With pytest-html writing a report (`--html`), its summary gets the matrix's status counts and a link
to matrix.html, and each cell's row its status, findings and a link to its evidence in the matrix.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from conformance import safejson
from conformance.evidence import Outcome
from conformance.paths import cassettes_dir
from conformance.plan import (
    DEFAULT_SEMANTIC_TRIES,
    DEFAULT_TIMEOUT_S,
    Plan,
    api_key_for,
    live_plan,
    replay_plans,
    requests_per_minute,
    select_probes,
    timeout_seconds,
    transports_for,
)
from conformance.probes import Probe
from conformance.profiles import ProfileError, profile_for
from conformance.records import MatrixHead
from conformance.report import view
from conformance.report.data import MatrixSource, read_matrix
from conformance.report.html import cell_anchor
from conformance.results import RESULTS_FILE, ResultsWriter
from conformance.runner import CellResult
from conformance.schedule import Deadline, over_budget
from conformance.session import Session, annotate, run_planned
from conformance.terminal import one_line
from conformance.transports import CassetteError, RecordMode

_BUDGET = pytest.StashKey[Deadline]()  # the run's time budget, started when pytest is configured


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Responses API conformance cells")
    group.addoption("--conformance-provider", help="provider profile name in matrices/")
    group.addoption("--conformance-base-url", help="endpoint base URL")
    group.addoption("--conformance-api-key-env", help="environment variable holding the API key")
    group.addoption("--conformance-model", action="append", default=[], help="model glob (repeatable)")
    group.addoption("--conformance-probe", action="append", default=[], help="probe id glob (repeatable)")
    group.addoption("--conformance-feature", action="append", default=[], help="feature group (repeatable)")
    group.addoption(
        "--conformance-record-mode", type=RecordMode.parse, default=None, help="none|once|new_episodes|all|rewrite"
    )
    group.addoption("--conformance-replay", action="store_true", help="replay the recorded cassettes offline")
    group.addoption("--conformance-cassettes", type=Path, default=None, help="cassette directory")
    group.addoption("--conformance-out", type=Path, default=Path("reports/pytest"), help="results directory")
    group.addoption("--conformance-exclude-model", action="append", default=[], help="model glob to skip (repeatable)")
    group.addoption(
        "--conformance-include-unavailable", action="store_true", help="also probe models the catalog marks unavailable"
    )
    group.addoption("--conformance-timeout", type=timeout_seconds, default=DEFAULT_TIMEOUT_S, help="seconds per probe")
    group.addoption(
        "--conformance-semantic-tries",
        type=int,
        default=DEFAULT_SEMANTIC_TRIES,
        help=f"attempts for a cell failed only by semantic checks (default: {DEFAULT_SEMANTIC_TRIES})",
    )
    group.addoption(
        "--conformance-rate-limit",
        type=requests_per_minute,
        default=None,
        help="requests/min per model (default: the catalog's or the profile's; 0: unpaced)",
    )
    group.addoption(
        "--conformance-budget",
        type=float,
        default=None,
        help="run time budget in seconds; cells not started by then are ERROR (harness.budget)",
    )


def _active(config: pytest.Config) -> bool:
    return bool(
        config.getoption("--conformance-replay")
        or config.getoption("--conformance-base-url")
        or config.getoption("--conformance-provider")
    )


def _plans(config: pytest.Config) -> list[Plan]:
    opt = config.getoption
    probes = select_probes(opt("--conformance-probe"), opt("--conformance-feature"))
    cassettes = opt("--conformance-cassettes") or cassettes_dir()
    if opt("--conformance-replay"):
        return replay_plans(cassettes, probes=probes)
    profile = profile_for(opt("--conformance-provider"), opt("--conformance-base-url"))
    assert profile is not None  # _active() saw one of the two options
    live = live_plan(
        profile,
        api_key_for(profile, opt("--conformance-api-key-env")),
        probes,
        opt("--conformance-record-mode"),
        cassettes,
        opt("--conformance-model"),
        opt("--conformance-exclude-model"),
        opt("--conformance-include-unavailable"),
        timeout_s=opt("--conformance-timeout"),
        semantic_tries=opt("--conformance-semantic-tries"),
        rate_limit=opt("--conformance-rate-limit"),
    )
    return [live.plan]


def _session(config: pytest.Config) -> Session:
    """The CLI's Session over the plugin's output directory: one manifest, snapshot and render for both."""
    return Session(Path(config.getoption("--conformance-out")), MatrixHead(mode="pytest"))


class CellItem(pytest.Item):
    def __init__(self, *, plan: Plan, model: str, probe: Probe, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.model, self.probe = plan, model, probe
        self.result: CellResult | None = None
        self.add_marker(pytest.mark.xdist_group(_group(plan.target.provider, model)))

    def runtest(self) -> None:
        budget = self.config.stash[_BUDGET]
        if budget.spent():
            result = annotate(over_budget(self.plan.target, self.model, self.probe, budget), self.plan.catalog)
        else:
            result = run_planned(self.plan, self.model, self.probe, transports_for(self.plan))
        self.result = result
        ResultsWriter(self.config.getoption("--conformance-out")).append(result.record())
        self.user_properties.append(("status", result.status.value))
        _outcome(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CellFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path(self.plan.cassettes), 0, f"{self.plan.target.provider} {self.model} {self.probe.id}"


class CellFailed(Exception):
    """The cell's status is FAIL or ERROR; the message lists the findings."""


def _outcome(result: CellResult) -> None:
    """The status table says what each status is to pytest."""
    reason = one_line("; ".join(f"[{f.level.value}] {f.rule}: {f.message}" for f in result.findings))
    outcome = result.status.info.outcome
    if outcome in (Outcome.FAILED, Outcome.ERROR):
        raise CellFailed(f"{result.status.value}: {reason}")
    if outcome is Outcome.XFAILED:
        pytest.xfail(f"{result.status.value}: {reason}")
    if outcome is Outcome.SKIPPED:
        pytest.skip(f"{result.status.value}: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_BUDGET] = Deadline(config.getoption("--conformance-budget"))
    if _active(config):
        _one_worker_per_model(config)
    if _active(config) and not hasattr(config, "workerinput"):
        (Path(config.getoption("--conformance-out")) / RESULTS_FILE).unlink(missing_ok=True)
    if _active(config) and config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        config.pluginmanager.register(HtmlReport(config), "conformance-html")


def _one_worker_per_model(config: pytest.Config) -> None:
    """A model's cells share one pacer, so under xdist they share one worker, whatever --dist says.

    The controller schedules by load group; each worker (which parses the command line afresh) names
    its cells with their model's group after an "@", as xdist's scheduler reads it. The plugin names
    them itself: xdist's own renaming of marked items (`xdist_group`) no longer reaches the node id
    under pytest 9, which keeps the id elsewhere.
    """
    if hasattr(config, "workerinput"):
        config.option.loadgroup = True
    elif getattr(config.option, "dist", "no") not in ("no", "loadgroup"):
        config.option.dist = "loadgroup"


class HtmlReport:
    """pytest-html hooks, registered only when pytest-html writes a report, so the plugin never needs it."""

    def __init__(self, config: pytest.Config) -> None:
        page = Path.cwd() / Path(os.path.expandvars(config.getoption("htmlpath"))).expanduser()
        self.out = Path.cwd() / Path(config.getoption("--conformance-out"))
        self.matrix_link = quote(Path(os.path.relpath(self.out / "matrix.html", page.parent)).as_posix())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.when == "call" and isinstance(item, CellItem) and item.result is not None:
            from pytest_html import extras  # here: this class is only registered when pytest-html is active

            report.extras = [
                *getattr(report, "extras", []),
                extras.html(_cell_html(item.result)),
                extras.url(html.escape(self._evidence_link(item.result)), name="Evidence"),
            ]
        return report

    def _evidence_link(self, result: CellResult) -> str:
        return self.matrix_link + cell_anchor(result.provider, result.model, result.probe)

    def pytest_html_results_summary(self, prefix: list[str]) -> None:
        path = self.out / "matrix.json"
        if path.exists():
            prefix.append(_summary_html(safejson.loads(path.read_text(encoding="utf-8")), self.matrix_link))

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """pytest-html puts the test id into the page as HTML; ours carry model ids from a provider's catalog."""
        test_id = report.nodeid if report.when == "call" else f"{report.nodeid}::{report.when}"
        for i, cell in enumerate(cells):
            if cell.startswith('<td class="col-testId">'):
                cells[i] = f'<td class="col-testId">{html.escape(test_id)}</td>'


def _chip(status: str) -> str:
    style = view.style(status)
    return f"<b>{html.escape(style.glyph)} {html.escape(style.name)}</b>"


def _cell_html(result: CellResult) -> str:
    findings = "".join(
        f"<li>[{html.escape(f.level.value)}] <code>{html.escape(f.rule)}</code>: {html.escape(f.message)}</li>"
        for f in result.findings
    )
    return (
        f"<p>Conformance: {_chip(result.status.value)}: {html.escape(view.style(result.status.value).meaning)}</p>"
        + (f"<ul>{findings}</ul>" if findings else "<p>No findings.</p>")
    )


def _summary_html(matrix: MatrixSource, link: str) -> str:
    report = read_matrix(matrix)
    tally = view.counts(report.cells.values())
    rows = "".join(
        f"<tr><td>{_chip(s.name)}</td><td>{tally[s.name]}</td><td>{html.escape(s.meaning)}</td></tr>"
        for s in view.vocabulary(report)
        if tally.get(s.name)
    )
    return (
        f"<h2>Conformance matrix</h2><p>{len(report.cells)} cells: "
        f'<a href="{html.escape(link)}">matrix.html</a> has each one\'s evidence.</p>'
        f'<table class="conformance-summary"><tr><th>Status</th><th>Cells</th><th>Meaning</th></tr>{rows}</table>'
    )


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _active(config):
        return
    run = _session(config)
    grouped = bool(config.getvalue("loadgroup")) if hasattr(config, "workerinput") else False
    try:
        plans = _plans(config)
    except (ProfileError, CassetteError, ValueError, OSError) as exc:  # what the CLI answers in one line, too
        raise pytest.UsageError(f"conformance: {one_line(str(exc))}") from None
    for plan in plans:
        run.prepare(plan)
        for model, probe in plan.cells():
            name = f"{plan.target.provider}::{model}::{probe.id}"
            if grouped:  # xdist's load-group scheduler reads the group after the id's last "@"
                name += "@" + _group(plan.target.provider, model)
            items.append(CellItem.from_parent(session, name=name, plan=plan, model=model, probe=probe))


def _group(provider: str, model: str) -> str:
    return f"{provider}:{model}".replace("@", "_")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    out = Path(config.getoption("--conformance-out"))
    if _active(config) and not hasattr(config, "workerinput") and (out / RESULTS_FILE).exists():
        run = _session(config)
        run.render(run.meta)
