"""The pytest plugin and the CLI share one run path: the same options, defaults, manifest and snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance import plugin
from conformance.catalog.model import PROFILE_SOURCE, Catalog, ModelEntry
from conformance.cli import build_parser
from conformance.paths import MANIFEST
from conformance.plan import DEFAULT_SEMANTIC_TRIES


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "paced.toml"
    path.write_text(
        '[provider]\nname = "paced"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "PACED_TEST_KEY"\n'
        "rate_limit_per_min = 400\nrate_limit_anonymous_per_min = 2\n",
        encoding="utf-8",
    )
    return path


def _config(**options: Any) -> SimpleNamespace:
    """A pytest config as the plugin reads it: each option at its declared default unless given."""
    defaults: dict[str, Any] = {}
    group = SimpleNamespace(addoption=lambda name, **kw: defaults.__setitem__(name, kw.get("default")))
    plugin.pytest_addoption(SimpleNamespace(getgroup=lambda *args: group))  # type: ignore[arg-type]
    values = {**defaults, **options}
    return SimpleNamespace(getoption=lambda name, default=None: values.get(name, default))


@pytest.fixture
def offline_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's catalog without a network: one model, as a profile would list it."""

    def fetch(profile: Any, transport: Any, api_key: str | None = None, **_: Any) -> Catalog:
        return Catalog(profile.name, (ModelEntry("m", sources=(PROFILE_SOURCE,)),))

    monkeypatch.setattr("conformance.plan.fetch_catalog", fetch)


@pytest.mark.usefixtures("offline_catalog")
def test_the_plugin_takes_the_cli_defaults(tmp_path: Path) -> None:
    (plan,) = plugin._plans(_config(**{"--conformance-provider": str(_profile(tmp_path))}))  # type: ignore[arg-type]
    cli = build_parser().parse_args(["run"])
    assert plan.target.semantic_tries == cli.semantic_tries == DEFAULT_SEMANTIC_TRIES
    assert plan.target.timeout_s == cli.timeout


@pytest.mark.usefixtures("offline_catalog")
def test_an_empty_key_variable_is_paced_as_anonymous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACED_TEST_KEY", "")
    (plan,) = plugin._plans(_config(**{"--conformance-provider": str(_profile(tmp_path))}))  # type: ignore[arg-type]
    assert plan.target.api_key is None
    assert plan.pacing.rates == {"m": 2.0}


def test_a_plugin_recording_writes_the_manifest_a_replay_needs(repo_root: Path, tmp_path: Path) -> None:
    cassettes = tmp_path / "cassettes"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "--conformance-provider",
            str(_profile(tmp_path)),
            "--conformance-model",
            "m",
            "--conformance-record-mode",
            "all",
            "--conformance-cassettes",
            str(cassettes),
            "--conformance-out",
            str(tmp_path / "out"),
            str(tmp_path),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "paced::m::core.text_input" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    manifest = json.loads((cassettes / "paced" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["models"] == ["m"] and manifest["semantic_tries"] == DEFAULT_SEMANTIC_TRIES
    assert (tmp_path / "out" / "catalogs" / "paced.json").exists()
