"""pytest plugin: the same cells as `conformance run`, as pytest items (one per model x probe).

It stays silent unless a `--conformance-*` option is given, so it never changes another project's
test run. Cells run through conformance.runner exactly as the CLI's do; under pytest-xdist each
worker appends its cells to the shared results.jsonl and the controller renders the matrix once.
Outcomes: PASS, ACCEPTED and NON-STRICT pass; UNSUPPORTED and IGNORED are xfail (a known gap, not a
suite failure); NOT RUN skips; FAIL and ERROR fail, with the findings as the failure text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import Status
from conformance.paths import cassettes_dir
from conformance.probes import Probe
from conformance.profiles import profile_for
from conformance.results import RESULTS_FILE, ResultsWriter
from conformance.runner import CellResult, run_cell
from conformance.session import Plan, annotate, live_plan, render_dir, replay_plans, select_probes, transports_for
from conformance.transports import RecordMode


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Responses API conformance cells")
    group.addoption("--conformance-provider", help="provider profile name in matrices/")
    group.addoption("--conformance-base-url", help="endpoint base URL")
    group.addoption("--conformance-api-key-env", help="environment variable holding the API key")
    group.addoption("--conformance-model", action="append", default=[], help="model glob (repeatable)")
    group.addoption("--conformance-probe", action="append", default=[], help="probe id glob (repeatable)")
    group.addoption("--conformance-feature", action="append", default=[], help="feature group (repeatable)")
    group.addoption("--conformance-record-mode", type=RecordMode.parse, default=None, help="none|once|new_episodes|all")
    group.addoption("--conformance-replay", action="store_true", help="replay the recorded cassettes offline")
    group.addoption("--conformance-cassettes", type=Path, default=None, help="cassette directory")
    group.addoption("--conformance-out", type=Path, default=Path("reports/pytest"), help="results directory")
    group.addoption("--conformance-timeout", type=float, default=60.0, help="seconds per probe")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--conformance-replay") or config.getoption("--conformance-base-url")
                or config.getoption("--conformance-provider"))


def _plans(config: pytest.Config) -> list[Plan]:
    opt = config.getoption
    probes = select_probes(opt("--conformance-probe"), opt("--conformance-feature"))
    cassettes = opt("--conformance-cassettes") or cassettes_dir()
    if opt("--conformance-replay"):
        return replay_plans(cassettes, probes=probes)
    profile = profile_for(opt("--conformance-provider"), opt("--conformance-base-url"))
    assert profile is not None  # _active() saw one of the two options
    key_env = opt("--conformance-api-key-env") or profile.api_key_env
    api_key = os.environ.get(key_env) if key_env else None
    live = live_plan(profile, api_key, probes, opt("--conformance-record-mode"), cassettes,
                     opt("--conformance-model"), timeout_s=opt("--conformance-timeout"))
    return [live.plan]


class CellItem(pytest.Item):
    def __init__(self, *, plan: Plan, model: str, probe: Probe, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.model, self.probe = plan, model, probe
        self.add_marker(pytest.mark.xdist_group(f"{plan.target.provider}:{model}"))

    def runtest(self) -> None:
        result = annotate(run_cell(self.probe, self.model, self.plan.target, transports_for(self.plan)), self.plan.catalog)
        ResultsWriter(self.config.getoption("--conformance-out")).append(result.to_json())
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
    reason = "; ".join(f"[{f.level.value}] {f.rule}: {f.message}" for f in result.findings)
    if result.status in (Status.FAIL, Status.ERROR):
        raise CellFailed(f"{result.status.value}: {reason}")
    if result.status in (Status.UNSUPPORTED, Status.IGNORED):
        pytest.xfail(f"{result.status.value}: {reason}")
    if result.status is Status.NOT_RUN:
        pytest.skip(f"NOT RUN: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    if _active(config) and not hasattr(config, "workerinput"):
        (Path(config.getoption("--conformance-out")) / RESULTS_FILE).unlink(missing_ok=True)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _active(config):
        return
    for plan in _plans(config):
        for model, probe in plan.cells():
            name = f"{plan.target.provider}::{model}::{probe.id}"
            items.append(CellItem.from_parent(session, name=name, plan=plan, model=model, probe=probe))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    out = Path(config.getoption("--conformance-out"))
    if _active(config) and not hasattr(config, "workerinput") and (out / RESULTS_FILE).exists():
        render_dir(out, {"mode": "pytest"})
