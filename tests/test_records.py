"""The written formats are typed records: schemas generated from them, evidence read back whole, and the
report fed by the pipeline's own keys (each test here failed before its fix)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conformance import records
from conformance.cli import main
from conformance.evidence import Exchange, SSEEvent, Status
from conformance.matrix import build_matrix
from conformance.paths import MANIFEST
from conformance.probes import PROBES
from conformance.report import load_schema, render_html
from conformance.runner import Target, build_request
from conformance.session import annotate, not_run
from conformance.transports.cassette import load_cassette


def test_the_shipped_schemas_are_generated_from_the_records() -> None:
    """Regenerate with `python -m conformance.records` after changing a record."""
    for name in records.SCHEMAS:
        assert load_schema(name) == records.json_schema(name), f"{name}.schema.json is stale"
    assert records.main(["--check"]) == 0


def test_an_exchange_read_back_keeps_everything_the_checks_read() -> None:
    exchange = Exchange(
        "POST",
        "http://h/v1/responses",
        {"accept": "text/event-stream"},
        "{}",
        status=200,
        headers={"content-type": "text/event-stream"},
        events=(SSEEvent(data="{}", event="response.created", id="7", retry=10, offset_ms=1.5),),
        elapsed_ms=12.25,
        first_byte_ms=1.5,
        invalid_utf8=True,
        attempts=({"status": 429, "wait_s": 1.0, "basis": "retry-after"},),
    )
    again = Exchange.from_json(json.loads(json.dumps(exchange.to_json())))
    assert again == exchange


def _record(probe: str, title: str, **extra: Any) -> records.ResultLine:
    fields = {"provider": "p", "model": "m", "feature": probe.split(".")[0], "probe": probe, "title": title}
    return records.ResultLine.model_validate({**fields, "status": "PASS", "findings": [], "exchanges": [], **extra})


def test_a_rerendered_old_run_keeps_its_own_probe_titles() -> None:
    probe = PROBES[0]
    matrix = build_matrix([_record(probe.id, "the wording of an older suite")])
    assert matrix.probes[0].title == "the wording of an older suite" != probe.title


def test_a_deprecation_redirect_reaches_the_report() -> None:
    """From the provider's x-warning header through the result and the matrix to the page."""
    probe = PROBES[0]
    redirected = Exchange(
        "POST", "http://h/v1/responses", {}, "{}", status=200, headers={"x-warning": "m is retired, served by m2"}
    )
    result = not_run(Target("p", "http://h/v1"), "m", probe, "fixture")
    result = annotate(replace(result, exchanges=(redirected,)), None)
    matrix = build_matrix([result.record()])
    page = render_html(matrix)
    assert 'title="m is retired, served by m2">DEPRECATED' in page


def test_the_over_cap_probe_follows_the_profile_cap() -> None:
    probe = next(p for p in PROBES if p.id == "errors.body_over_cap")
    for cap in (1_000_000, 8 * 1024 * 1024):
        spec = next(probe.script("m"))
        size = len(build_request(Target("p", "http://h/v1", body_cap_bytes=cap), spec).content)
        assert cap < size < cap * 1.5, (cap, size)


def test_a_cell_record_is_checked_as_it_is_written() -> None:
    result = annotate(not_run(Target("p", "http://h/v1"), "m", PROBES[0], "fixture"), None)
    line = result.record().written()
    assert line["status"] == Status.NOT_RUN.value and line["claim"] == {"claim": "unknown", "source": ""}


def test_every_shipped_cassette_reads_back_to_the_same_file(repo_root: Path) -> None:
    """Interactions load as Exchanges and are written back byte for byte: shipped cassettes need no change."""
    paths = sorted((repo_root / "matrices" / "cassettes").glob("*/*/*.json"))
    assert len(paths) > 100
    for path in paths:
        written = json.loads(path.read_text(encoding="utf-8"))
        again = load_cassette(path).to_json()
        assert {**again, "suite": written["suite"]} == written, path


def test_a_broken_manifest_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest without its base_url used to stop the replay with a KeyError traceback."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / MANIFEST).write_text(json.dumps({"provider": "p", "models": ["m"]}), encoding="utf-8")
    assert main(["replay", "--cassettes", str(tmp_path), "--out", str(tmp_path / "out"), "-q"]) == 3  # bad input
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "provider.json: not a provider manifest" in error and "base_url" in error


def test_every_shipped_profile_and_cassette_fits_its_generated_schema() -> None:
    """The models are the formats: what the repository ships validates against the schemas made from them."""
    import tomllib

    import jsonschema

    from conformance.paths import cassettes_dir, matrices_dir

    profile, cassette = load_schema("profile"), load_schema("cassette")
    profiles = sorted(matrices_dir().glob("*.toml"))
    cassettes = [p for p in sorted(cassettes_dir().glob("*/*/*.json")) if p.name != MANIFEST]
    assert profiles and cassettes
    for path in profiles:
        jsonschema.validate(tomllib.loads(path.read_text(encoding="utf-8")), profile)
    for path in cassettes:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), cassette)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"provider": {"name": "p", "base_url": "u", "rate_limit": 4}}, profile)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"version": 1, "provider": "p", "model": "m", "probe": "x", "interactions": "abc"}, cassette
        )


def test_a_cassette_written_and_read_back_is_the_same_file(tmp_path: Path) -> None:
    from conformance.paths import cassettes_dir

    source = next(p for p in sorted(cassettes_dir().glob("*/*/streaming.*.json")))
    original = json.loads(source.read_text(encoding="utf-8"))
    copy = tmp_path / "c.json"
    copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    again = load_cassette(copy).to_json()
    assert {**again, "suite": ""} == {**original, "suite": ""}
